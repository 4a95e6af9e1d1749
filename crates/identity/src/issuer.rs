//! Who can sign in and what their tokens say: the demo users and the platform's clients,
//! and access tokens in Keycloak's claim layout (`realm_access.roles`,
//! `resource_access.<client>.roles`, `email`, `preferred_username`, `azp`).

use crate::keys::{KeyError, SigningKey};
use std::time::{SystemTime, UNIX_EPOCH};

/// The realm, as in the Keycloak realm export.
pub const REALM: &str = "microservices";
/// How long an access token lives (Keycloak's realm export uses the same).
pub const TOKEN_LIFETIME_SECS: u64 = 300;

/// A demo user (also in `deploy/keycloak/realm-microservices.json` and the README).
#[derive(Debug, Clone, Copy)]
pub struct User {
    /// Sign-in name and address.
    pub email: &'static str,
    /// Password (development only).
    pub password: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Realm roles.
    pub roles: &'static [&'static str],
}

/// The demo users.
pub const USERS: [User; 3] = [
    User { email: "alice@example.com", password: "alice", name: "Alice Example", roles: &["user"] },
    User { email: "bob@example.com", password: "bob", name: "Bob Example", roles: &["user"] },
    User { email: "admin@example.com", password: "admin", name: "Ada Admin", roles: &["admin", "user"] },
];

/// A client of the issuer.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// `client_id`.
    pub id: &'static str,
    /// `None` for a public client (the storefront, PKCE).
    pub secret: Option<&'static str>,
}

/// The platform's clients: the storefront's public one and one confidential client per
/// service, each of whose service account has the realm role `service`.
pub const CLIENTS: [Client; 7] = [
    Client { id: "api-gateway", secret: None },
    Client { id: "gateway", secret: Some("gateway-secret") },
    Client { id: "product-service", secret: Some("product-service-secret") },
    Client { id: "order-service", secret: Some("order-service-secret") },
    Client { id: "inventory-service", secret: Some("inventory-service-secret") },
    Client { id: "notification-service", secret: Some("notification-service-secret") },
    Client { id: "ai-service", secret: Some("ai-service-secret") },
];

/// The credentials of `client_id` (a service's dev client), for `shop up`.
pub fn client_credentials(client_id: &str) -> Option<kit::auth::ClientCredentials> {
    CLIENTS
        .iter()
        .find(|c| c.id == client_id)
        .and_then(|c| c.secret.map(|secret| kit::auth::ClientCredentials { id: c.id.into(), secret: secret.into() }))
}

/// Whom a token is for.
#[derive(Debug, Clone)]
pub struct Subject {
    /// `sub`.
    pub id: String,
    /// `email` (people only).
    pub email: Option<String>,
    /// `preferred_username`.
    pub username: String,
    /// `name`.
    pub name: Option<String>,
    /// Realm roles.
    pub roles: Vec<String>,
    /// `azp`: the client the token was issued to.
    pub client: String,
}

impl Subject {
    /// A person with `email` and `roles` (the user's id is derived from the address, so it is
    /// the same in every token).
    pub fn person(email: &str, roles: &[&str], client: &str) -> Subject {
        let email = email.trim().to_ascii_lowercase();
        let known = USERS.iter().find(|u| u.email == email);
        Subject {
            id: stable_id(&email),
            username: email.split('@').next().unwrap_or(&email).to_owned(),
            name: known.map(|u| u.name.to_owned()),
            email: Some(email),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            client: client.to_owned(),
        }
    }

    /// A service account (client credentials).
    pub fn service(client: &str) -> Subject {
        Subject {
            id: stable_id(&format!("service-account-{client}")),
            email: None,
            username: format!("service-account-{client}"),
            name: None,
            roles: vec!["service".into()],
            client: client.to_owned(),
        }
    }
}

/// The same id for the same name in every token and after every restart.
fn stable_id(name: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// Mints tokens for one issuer URL.
#[derive(Debug)]
pub struct Issuer {
    /// `iss`: `http://host:port/realms/microservices`.
    pub url: String,
    /// The audience every token carries.
    pub audience: String,
    key: SigningKey,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Issuer {
    /// An issuer at `url` signing with `key`.
    pub fn new(url: impl Into<String>, audience: impl Into<String>, key: SigningKey) -> Issuer {
        Issuer { url: url.into().trim_end_matches('/').to_owned(), audience: audience.into(), key }
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// An access token for `subject`, valid for `lifetime_secs`.
    pub fn mint(&self, subject: &Subject, lifetime_secs: u64) -> Result<String, KeyError> {
        let now = now_secs();
        let mut claims = serde_json::json!({
            "iss": self.url,
            "sub": subject.id,
            "aud": [self.audience, "account"],
            "azp": subject.client,
            "typ": "Bearer",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_secs,
            "jti": uuid::Uuid::new_v4().to_string(),
            "scope": "openid profile email",
            "preferred_username": subject.username,
            "realm_access": {"roles": subject.roles},
            "resource_access": {self.audience.as_str(): {"roles": subject.roles}},
        });
        if let Some(email) = &subject.email {
            claims["email"] = email.as_str().into();
            claims["email_verified"] = true.into();
        }
        if let Some(name) = &subject.name {
            claims["name"] = name.as_str().into();
        }
        self.key.sign(&claims)
    }
}

/// The issuer URL of an identity provider listening on `host:port`.
pub fn issuer_url(host: &str, port: u16) -> String {
    let host = if host == "0.0.0.0" || host.is_empty() { "127.0.0.1" } else { host };
    format!("http://{host}:{port}/realms/{REALM}")
}
