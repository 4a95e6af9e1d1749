//! Tokens for tests: one development identity provider per test process, on a thread of its
//! own (so it outlives every test's runtime), and tokens minted by it for any identity.

use kit::auth::{AuthMode, AuthSettings, ClientCredentials};
use std::sync::{Arc, OnceLock};

/// The test process's identity provider.
pub struct TestIssuer {
    /// Its issuer URL (`http://127.0.0.1:<port>/realms/microservices`).
    pub url: String,
    issuer: Arc<identity::Issuer>,
}

static ISSUER: OnceLock<TestIssuer> = OnceLock::new();

/// The identity provider every test of this process shares (started on first use).
pub fn issuer() -> &'static TestIssuer {
    ISSUER.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("test-identity-provider".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the issuer");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the issuer");
                    let key = identity::SigningKey::ephemeral().expect("a signing key");
                    let app = identity::App::with_key(listener, "127.0.0.1", key, kit::auth::DEFAULT_AUDIENCE);
                    let _ = sender.send(app.issuer());
                    let _ = app.run_until_stopped(tokio_util::sync::CancellationToken::new()).await;
                });
            })
            .expect("starting the issuer thread");
        let issuer = receiver.recv().expect("the issuer started");
        TestIssuer { url: issuer.url.clone(), issuer }
    })
}

impl TestIssuer {
    /// Settings that validate this issuer's tokens, presenting `client`'s credentials.
    pub fn settings(&self, client: Option<&str>) -> AuthSettings {
        AuthSettings {
            mode: AuthMode::On,
            issuer: self.url.clone(),
            audience: kit::auth::DEFAULT_AUDIENCE.into(),
            client: client.and_then(identity::issuer::client_credentials),
        }
    }

    /// A token for a person with `email` and `roles`.
    pub fn token(&self, email: &str, roles: &[&str]) -> String {
        self.issuer.mint(&identity::Subject::person(email, roles, "tests"), 600).expect("minting a token")
    }

    /// A token of staff.
    pub fn admin(&self) -> String {
        self.token("admin@example.com", &["admin", "user"])
    }

    /// A token of a service account.
    pub fn service(&self) -> String {
        self.issuer.mint(&identity::Subject::service("tests"), 600).expect("minting a token")
    }

    /// The credentials of one of the platform's service clients.
    pub fn client(&self, id: &str) -> Option<ClientCredentials> {
        identity::issuer::client_credentials(id)
    }
}
