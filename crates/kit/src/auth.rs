//! Who is calling: OIDC bearer tokens validated by every service itself, roles and the
//! caller's identity as extractors, and the service's own credential for calls to its peers.
//!
//! - [`AuthSettings`]: `AUTH_MODE`, `OIDC_ISSUER_URL`, `OIDC_AUDIENCE`, `OIDC_CLIENT_ID`,
//!   `OIDC_CLIENT_SECRET`.
//! - [`Authenticator`]: discovery, a JWKS cache refreshed on an unknown `kid` and when older
//!   than [`JwksPolicy::max_age`] (`OIDC_JWKS_MAX_AGE_SECS`), so a key the issuer removed
//!   stops being accepted (downloads at most once per [`JWKS_REFRESH_INTERVAL`]), RS256 and
//!   ES256 only, issuer, audience, `exp`/`nbf` with a small leeway; verified tokens cached by
//!   hash until they expire or the issuer's key set changes.
//! - [`Caller`] / [`MaybeCaller`]: axum extractors giving the [`Principal`]: 401 with
//!   `WWW-Authenticate: Bearer error="…"` for a missing, expired or invalid token.
//! - [`ServiceToken`]: a token obtained by client credentials, cached until shortly before
//!   it expires, renewed on a 401.
//!
//! `AUTH_MODE=off` reproduces the original's open behaviour: every request acts as an
//! administrator (with a warning at start-up and in `/health`).

use crate::Problem;
use crate::config::{self, ConfigError};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The least time between two JWKS downloads: an attacker sending tokens with random `kid`s
/// must not make every service hammer the issuer.
pub const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// How long downloaded keys are trusted before they are downloaded again, when
/// `OIDC_JWKS_MAX_AGE_SECS` is unset: a key the issuer removed is refused after at most this.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;
/// Verified tokens remembered (by hash) so a token is checked once, not per request.
const VERIFIED_CACHE_SIZE: usize = 10_000;

/// A role in Keycloak's realm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A shopper: own orders and notifications.
    User,
    /// Staff: catalog and inventory writes, all orders, status changes.
    Admin,
    /// Another service of the platform: internal endpoints (reservations, voids).
    Service,
}

impl Role {
    fn parse(name: &str) -> Option<Role> {
        match name {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            "service" => Some(Role::Service),
            _ => None,
        }
    }

    /// The role's name in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// `sub`.
    pub subject: String,
    /// `email`, lower-cased.
    pub email: Option<String>,
    /// `preferred_username`.
    pub username: Option<String>,
    /// Realm roles and the audience client's roles that this platform knows.
    pub roles: Vec<Role>,
}

impl Principal {
    /// The caller in `AUTH_MODE=off`: allowed everything, as in the original.
    pub fn open() -> Principal {
        Principal {
            subject: "anonymous".into(),
            email: None,
            username: None,
            roles: vec![Role::User, Role::Admin, Role::Service],
        }
    }

    /// Whether the caller has `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller is staff.
    pub fn is_admin(&self) -> bool {
        self.has(Role::Admin)
    }

    /// `Ok` when the caller has one of `roles`, else 403.
    pub fn require(&self, roles: &[Role]) -> Result<(), AuthError> {
        if roles.iter().any(|r| self.has(*r)) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(AuthError::Forbidden(format!("This needs the role {}", names.join(" or "))))
        }
    }

    /// Whether the caller may act for the customer `email`: it is their own address (as the
    /// token says), or they are staff.
    pub fn may_act_for(&self, email: &str) -> bool {
        self.is_admin() || self.email.as_deref().is_some_and(|own| own.eq_ignore_ascii_case(email.trim()))
    }
}

/// Why a request is not allowed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// No bearer token.
    #[error("A bearer token is required")]
    Missing,
    /// The token has expired.
    #[error("The token has expired")]
    Expired,
    /// The token is not one of ours (signature, issuer, audience, algorithm, shape).
    #[error("The token is not valid: {0}")]
    Invalid(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The issuer's keys cannot be fetched right now.
    #[error("The identity provider cannot be reached; please retry")]
    Unavailable(String),
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let challenge = |error: &str| {
            format!("Bearer realm=\"shop\", error=\"{error}\", error_description=\"{}\"", detail.replace('"', "'"))
        };
        match self {
            AuthError::Missing => Problem::new(StatusCode::UNAUTHORIZED, detail.clone())
                .with_header(header::WWW_AUTHENTICATE, &challenge("invalid_request"))
                .into_response(),
            AuthError::Expired | AuthError::Invalid(_) => Problem::new(StatusCode::UNAUTHORIZED, detail.clone())
                .with_header(header::WWW_AUTHENTICATE, &challenge("invalid_token"))
                .into_response(),
            AuthError::Forbidden(_) => Problem::new(StatusCode::FORBIDDEN, detail).into_response(),
            AuthError::Unavailable(cause) => {
                tracing::warn!(%cause, "token validation unavailable");
                Problem::unavailable(detail, 2).into_response()
            }
        }
    }
}

/// Whether tokens are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every request needs the token its endpoint asks for.
    On,
    /// The original's open platform: no checks, everything allowed.
    Off,
}

/// A confidential client's credentials (`OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`).
#[derive(Clone)]
pub struct ClientCredentials {
    /// Client id.
    pub id: String,
    /// Client secret (never printed).
    pub secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials").field("id", &self.id).field("secret", &"…").finish()
    }
}

/// How a service checks callers and identifies itself.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// On or off.
    pub mode: AuthMode,
    /// The issuer, e.g. `http://keycloak:8080/realms/microservices`.
    pub issuer: String,
    /// The audience tokens must carry.
    pub audience: String,
    /// This service's own credentials for calls to its peers.
    pub client: Option<ClientCredentials>,
}

/// When the issuer's keys are downloaded again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksPolicy {
    /// Keys fetched longer ago than this are fetched again before the next token is accepted
    /// (or served from the cache), so a key the issuer removed stops being accepted.
    pub max_age: Duration,
    /// The least time between two downloads, whatever triggers them (an unknown `kid`, age).
    pub min_interval: Duration,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        JwksPolicy { max_age: JWKS_MAX_AGE, min_interval: JWKS_REFRESH_INTERVAL }
    }
}

impl JwksPolicy {
    /// The default policy with `OIDC_JWKS_MAX_AGE_SECS` (seconds, default 300) as the maximum age.
    pub fn from_env() -> Result<JwksPolicy, ConfigError> {
        Ok(JwksPolicy { max_age: config::seconds_or("OIDC_JWKS_MAX_AGE_SECS", JWKS_MAX_AGE)?, ..JwksPolicy::default() })
    }
}

/// The audience when `OIDC_AUDIENCE` is unset.
pub const DEFAULT_AUDIENCE: &str = "shop-api";

impl AuthSettings {
    /// From `AUTH_MODE` (`on`, default, or `off`), `OIDC_ISSUER_URL` (required when on,
    /// unless `default_issuer` is given), `OIDC_AUDIENCE` (default `shop-api`),
    /// `OIDC_CLIENT_ID` and `OIDC_CLIENT_SECRET` (both or neither).
    pub fn from_env(default_issuer: Option<&str>) -> Result<AuthSettings, ConfigError> {
        let mode = match config::optional("AUTH_MODE").map(|m| m.trim().to_ascii_lowercase()).as_deref() {
            None | Some("on") => AuthMode::On,
            Some("off") => AuthMode::Off,
            Some(other) => return Err(ConfigError::new("AUTH_MODE", format!("expected on or off, got {other:?}"))),
        };
        let issuer = match (config::optional("OIDC_ISSUER_URL"), default_issuer, mode) {
            (Some(url), _, _) => url.trim().trim_end_matches('/').to_owned(),
            (None, Some(default), _) => default.to_owned(),
            (None, None, AuthMode::Off) => String::new(),
            (None, None, AuthMode::On) => {
                return Err(ConfigError::new("OIDC_ISSUER_URL", "is required unless AUTH_MODE=off"));
            }
        };
        if mode == AuthMode::On && !(issuer.starts_with("http://") || issuer.starts_with("https://")) {
            return Err(ConfigError::new("OIDC_ISSUER_URL", format!("{issuer:?} is not an http(s) URL")));
        }
        let client = match (config::optional("OIDC_CLIENT_ID"), config::optional("OIDC_CLIENT_SECRET")) {
            (Some(id), Some(secret)) => Some(ClientCredentials { id, secret }),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::new("OIDC_CLIENT_SECRET", "is required with OIDC_CLIENT_ID")),
            (None, Some(_)) => return Err(ConfigError::new("OIDC_CLIENT_ID", "is required with OIDC_CLIENT_SECRET")),
        };
        Ok(AuthSettings {
            mode,
            issuer,
            audience: config::optional("OIDC_AUDIENCE").unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
            client,
        })
    }

    /// Settings with authentication off (tests of behaviour that is not about access).
    pub fn off() -> AuthSettings {
        AuthSettings { mode: AuthMode::Off, issuer: String::new(), audience: DEFAULT_AUDIENCE.into(), client: None }
    }
}

/// Claims this platform reads, in Keycloak's layout.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    email: Option<String>,
    preferred_username: Option<String>,
    #[serde(default)]
    realm_access: Option<RoleList>,
    #[serde(default)]
    resource_access: Option<HashMap<String, RoleList>>,
}

#[derive(Debug, Deserialize)]
struct RoleList {
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Discovery {
    jwks_uri: String,
    token_endpoint: Option<String>,
    issuer: Option<String>,
}

/// Keys by `kid`, and when they were last fetched.
#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    /// Each key's JWK as served, to tell whether a download changed the set.
    fingerprints: HashMap<String, String>,
    /// Bumped whenever the key set changes; a verified token is trusted from the cache only
    /// under the generation that verified it.
    generation: u64,
    /// The last download attempt, successful or not (rate limit).
    fetched: Option<Instant>,
    /// The last successful download (maximum age).
    loaded: Option<Instant>,
    jwks_uri: Option<String>,
    token_endpoint: Option<String>,
}

/// Validates tokens for one service.
pub struct Authenticator {
    settings: AuthSettings,
    policy: JwksPolicy,
    http: reqwest::Client,
    keys: RwLock<KeyCache>,
    /// Serialises refreshes, so a burst of unknown `kid`s makes one download.
    refreshing: tokio::sync::Mutex<()>,
    /// Verified tokens by hash: the principal, `exp`, and the key generation that verified it.
    verified: Mutex<HashMap<[u8; 32], (Principal, u64, u64)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("settings", &self.settings).field("policy", &self.policy).finish()
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Authenticator {
    /// An authenticator for `settings`, with the [`JwksPolicy`] from the environment
    /// (`OIDC_JWKS_MAX_AGE_SECS`; an unusable value is reported and the default used);
    /// nothing is fetched until the first token arrives.
    pub fn new(settings: AuthSettings) -> Arc<Authenticator> {
        let policy = JwksPolicy::from_env().unwrap_or_else(|err| {
            tracing::warn!(error = %err, "using the default JWKS maximum age");
            JwksPolicy::default()
        });
        Authenticator::with_policy(settings, policy)
    }

    /// An authenticator for `settings` that refreshes the issuer's keys per `policy`.
    pub fn with_policy(settings: AuthSettings, policy: JwksPolicy) -> Arc<Authenticator> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        Arc::new(Authenticator {
            settings,
            policy,
            http,
            keys: RwLock::new(KeyCache::default()),
            refreshing: tokio::sync::Mutex::new(()),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// An authenticator that lets everything through (`AUTH_MODE=off`).
    pub fn off() -> Arc<Authenticator> {
        Authenticator::new(AuthSettings::off())
    }

    /// The settings.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Whether tokens are checked.
    pub fn enabled(&self) -> bool {
        self.settings.mode == AuthMode::On
    }

    /// The principal an `Authorization` header value proves, or why not.
    pub async fn authenticate(&self, authorization: Option<&HeaderValue>) -> Result<Principal, AuthError> {
        if !self.enabled() {
            return Ok(Principal::open());
        }
        let value = authorization.ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Invalid("the Authorization header is not text".into()))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => token.trim(),
            _ => return Err(AuthError::Invalid("expected Authorization: Bearer <token>".into())),
        };
        self.verify(token).await
    }

    /// Verifies a bearer token.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let now = now_secs();
        self.refresh_if_stale().await;
        if let Some((principal, exp, generation)) = self.lookup(&digest)
            && now <= exp + LEEWAY_SECS
            && generation == self.generation()
        {
            return Ok(principal);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let (key, alg, generation) = self.key(header.kid.as_deref()).await?;
        if alg != header.alg {
            return Err(AuthError::Invalid("the token's algorithm does not match its key".into()));
        }
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                kind => AuthError::Invalid(format!("{kind:?}")),
            })?
            .claims;
        let principal = self.principal(&claims);
        self.remember(digest, principal.clone(), claims.exp, generation);
        Ok(principal)
    }

    fn principal(&self, claims: &Claims) -> Principal {
        let mut roles: Vec<Role> = Vec::new();
        let realm = claims.realm_access.iter().flat_map(|r| r.roles.iter());
        let client = claims
            .resource_access
            .iter()
            .filter_map(|access| access.get(&self.settings.audience))
            .flat_map(|r| r.roles.iter());
        for name in realm.chain(client) {
            if let Some(role) = Role::parse(name)
                && !roles.contains(&role)
            {
                roles.push(role);
            }
        }
        Principal {
            subject: claims.sub.clone(),
            email: claims.email.as_ref().map(|e| e.trim().to_ascii_lowercase()),
            username: claims.preferred_username.clone(),
            roles,
        }
    }

    fn lookup(&self, digest: &[u8; 32]) -> Option<(Principal, u64, u64)> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner()).get(digest).cloned()
    }

    fn remember(&self, digest: [u8; 32], principal: Principal, exp: u64, generation: u64) {
        // Read before taking `verified`: a refresh holds the keys' lock while it clears `verified`.
        let current = self.generation();
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_CACHE_SIZE {
            let now = now_secs();
            verified.retain(|_, (_, exp, generation)| *exp + LEEWAY_SECS >= now && *generation == current);
            if verified.len() >= VERIFIED_CACHE_SIZE {
                verified.clear();
            }
        }
        verified.insert(digest, (principal, exp, generation));
    }

    fn generation(&self) -> u64 {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).generation
    }

    /// Whether a download now would respect the rate limit.
    fn may_fetch(&self, cache: &KeyCache) -> bool {
        cache.fetched.is_none_or(|at| at.elapsed() >= self.policy.min_interval)
    }

    /// Keys loaded longer ago than the maximum age (and a download allowed by the rate limit).
    fn stale(&self) -> bool {
        let cache = self.keys.read().unwrap_or_else(|p| p.into_inner());
        cache.loaded.is_some_and(|at| at.elapsed() >= self.policy.max_age) && self.may_fetch(&cache)
    }

    /// Downloads the keys again when they are older than the maximum age. If the issuer cannot
    /// be reached, the keys already known keep serving (retried after the rate limit).
    async fn refresh_if_stale(&self) {
        if !self.stale() {
            return;
        }
        let _refreshing = self.refreshing.lock().await;
        if !self.stale() {
            return;
        }
        if let Err(err) = self.refresh().await {
            tracing::warn!(error = %err, "could not refresh the issuer's signing keys; keeping the known ones");
        }
    }

    /// The key `kid` names and the key generation it belongs to; an unknown one triggers one
    /// (rate-limited) JWKS refresh.
    async fn key(&self, kid: Option<&str>) -> Result<(DecodingKey, Algorithm, u64), AuthError> {
        if let Some(found) = self.cached_key(kid) {
            return Ok(found);
        }
        let _refreshing = self.refreshing.lock().await;
        // Another request may have refreshed while this one waited.
        if let Some(found) = self.cached_key(kid) {
            return Ok(found);
        }
        let allowed = self.may_fetch(&self.keys.read().unwrap_or_else(|p| p.into_inner()));
        if allowed {
            self.refresh().await?;
        }
        self.cached_key(kid).ok_or_else(|| AuthError::Invalid("the token is signed by an unknown key".into()))
    }

    fn cached_key(&self, kid: Option<&str>) -> Option<(DecodingKey, Algorithm, u64)> {
        let cache = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let (key, alg) = match kid {
            Some(kid) => cache.keys.get(kid).cloned(),
            // No kid: acceptable only when the issuer has exactly one key.
            None if cache.keys.len() == 1 => cache.keys.values().next().cloned(),
            None => None,
        }?;
        Some((key, alg, cache.generation))
    }

    async fn discover(&self) -> Result<(String, Option<String>), AuthError> {
        let url = format!("{}/.well-known/openid-configuration", self.settings.issuer);
        let discovery: Discovery = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))?
            .json()
            .await
            .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))?;
        if let Some(issuer) = &discovery.issuer
            && issuer.trim_end_matches('/') != self.settings.issuer
        {
            tracing::warn!(configured = %self.settings.issuer, announced = %issuer, "the issuer announces another name");
        }
        Ok((discovery.jwks_uri, discovery.token_endpoint))
    }

    /// Downloads the issuer's keys (discovering where they are on first use).
    async fn refresh(&self) -> Result<(), AuthError> {
        let known = self.keys.read().unwrap_or_else(|p| p.into_inner()).jwks_uri.clone();
        let (jwks_uri, token_endpoint) = match known {
            Some(uri) => (uri, None),
            None => {
                let (uri, token) = self.discover().await?;
                (uri, token)
            }
        };
        let fetched = self.http.get(&jwks_uri).send().await.and_then(|r| r.error_for_status());
        // Whatever happens, do not try again before the interval.
        type Loaded = (HashMap<String, (DecodingKey, Algorithm)>, HashMap<String, String>);
        let stamp = |loaded: Option<Loaded>| {
            let mut cache = self.keys.write().unwrap_or_else(|p| p.into_inner());
            cache.fetched = Some(Instant::now());
            cache.jwks_uri = Some(jwks_uri.clone());
            if token_endpoint.is_some() {
                cache.token_endpoint = token_endpoint.clone();
            }
            if let Some((keys, fingerprints)) = loaded {
                cache.loaded = cache.fetched;
                if fingerprints != cache.fingerprints {
                    // A removed or replaced key: tokens it verified must be checked again.
                    cache.generation += 1;
                    cache.fingerprints = fingerprints;
                    self.verified.lock().unwrap_or_else(|p| p.into_inner()).clear();
                }
                cache.keys = keys;
            }
        };
        let set: JwkSet = match fetched {
            Ok(response) => match response.json().await {
                Ok(set) => set,
                Err(err) => {
                    stamp(None);
                    return Err(AuthError::Unavailable(format!("{jwks_uri}: {err}")));
                }
            },
            Err(err) => {
                stamp(None);
                return Err(AuthError::Unavailable(format!("{jwks_uri}: {err}")));
            }
        };
        let mut keys = HashMap::new();
        let mut fingerprints = HashMap::new();
        for jwk in &set.keys {
            let alg = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => continue,
            };
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    fingerprints.insert(kid.clone(), serde_json::to_string(jwk).unwrap_or_default());
                    keys.insert(kid, (key, alg));
                }
                Err(err) => tracing::warn!(%kid, error = %err, "ignoring an unusable key of the issuer"),
            }
        }
        tracing::info!(keys = keys.len(), "fetched the issuer's signing keys");
        stamp(Some((keys, fingerprints)));
        Ok(())
    }

    /// The issuer's token endpoint (discovered).
    pub async fn token_endpoint(&self) -> Result<String, AuthError> {
        if let Some(endpoint) = self.keys.read().unwrap_or_else(|p| p.into_inner()).token_endpoint.clone() {
            return Ok(endpoint);
        }
        let (jwks_uri, token) = self.discover().await?;
        let mut cache = self.keys.write().unwrap_or_else(|p| p.into_inner());
        cache.jwks_uri.get_or_insert(jwks_uri);
        cache.token_endpoint = token.clone();
        token.ok_or_else(|| AuthError::Unavailable("the issuer announces no token endpoint".into()))
    }

    /// The HTTP client used to reach the issuer.
    fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// The authenticated caller; 401 without a valid token.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// The caller if a token was sent (an invalid one is still a 401); `None` if none was.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Principal>);

fn authenticator(parts: &Parts) -> Arc<Authenticator> {
    // A router without the layer (a test building a bare router) is open, like AUTH_MODE=off.
    parts.extensions.get::<Arc<Authenticator>>().cloned().unwrap_or_else(Authenticator::off)
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Caller(principal.clone()));
        }
        let auth = authenticator(parts);
        let principal = auth.authenticate(parts.headers.get(header::AUTHORIZATION)).await?;
        parts.extensions.insert(principal.clone());
        Ok(Caller(principal))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeCaller {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = authenticator(parts);
        if auth.enabled() && !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(MaybeCaller(None));
        }
        Caller::from_request_parts(parts, state).await.map(|c| MaybeCaller(Some(c.0)))
    }
}

/// A service's own bearer token, obtained with its client credentials and kept until shortly
/// before it expires.
pub struct ServiceToken {
    auth: Arc<Authenticator>,
    client: ClientCredentials,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceToken").field("client", &self.client.id).finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl ServiceToken {
    /// The token of `auth`'s configured client, or `None` when there is nothing to present
    /// (authentication off, or no client configured).
    pub fn from_settings(auth: &Arc<Authenticator>) -> Option<Arc<ServiceToken>> {
        let client = auth.settings.client.clone()?;
        if !auth.enabled() {
            return None;
        }
        Some(Arc::new(ServiceToken { auth: auth.clone(), client, cached: tokio::sync::Mutex::new(None) }))
    }

    /// A valid token, from the cache or freshly obtained.
    pub async fn bearer(&self) -> Result<String, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let endpoint = self.auth.token_endpoint().await?;
        let response = self
            .auth
            .http()
            .post(&endpoint)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client.id.as_str()),
                ("client_secret", self.client.secret.as_str()),
            ])
            .send()
            .await
            .map_err(|e| AuthError::Unavailable(format!("{endpoint}: {e}")))?;
        if !response.status().is_success() {
            return Err(AuthError::Unavailable(format!("{endpoint} answered {}", response.status())));
        }
        let token: TokenResponse = response.json().await.map_err(|e| AuthError::Unavailable(e.to_string()))?;
        // Renew at 80 % of the lifetime (at least 5 s before it ends).
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(60));
        let renew = lifetime.mul_f64(0.8).min(lifetime.saturating_sub(Duration::from_secs(5)));
        *cached = Some((token.access_token.clone(), Instant::now() + renew));
        Ok(token.access_token)
    }

    /// Forgets the cached token (a peer answered 401: it was revoked or the keys rotated).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}
