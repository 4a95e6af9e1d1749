//! The development identity provider inside `shop up`: Keycloak's paths and claim layout
//! (realm `microservices`), so the services validate its tokens exactly as they validate
//! Keycloak's in production.
//!
//! - [`keys`]: the RSA signing key, generated on first start and kept in the data directory.
//! - [`issuer`]: demo users, the platform's clients, and tokens in Keycloak's layout.
//! - [`routes`]: discovery, JWKS, the token endpoint (password, client credentials,
//!   authorization code with PKCE) and the sign-in page.
//! - [`App`]: binding and serving.
#![warn(missing_docs)]

pub mod issuer;
pub mod keys;
pub mod routes;

pub use issuer::{Issuer, Subject, issuer_url};
pub use keys::SigningKey;

use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A bound, not yet running identity provider.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    issuer: Arc<Issuer>,
}

impl App {
    /// An identity provider on `listener`, its key in `key_file` (created when missing), its
    /// issuer URL derived from `public_host` and the bound port.
    pub fn with_listener(
        listener: TcpListener,
        public_host: &str,
        key_file: &Path,
        audience: &str,
    ) -> Result<App, keys::KeyError> {
        let key = SigningKey::load_or_create(key_file)?;
        Ok(App::with_key(listener, public_host, key, audience))
    }

    /// Like [`App::with_listener`] with a key at hand.
    pub fn with_key(listener: TcpListener, public_host: &str, key: SigningKey, audience: &str) -> App {
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let issuer = Arc::new(Issuer::new(issuer_url(public_host, port), audience, key));
        let router = kit::server::service_router(
            "identity",
            routes::router(routes::AppState::new(issuer.clone())),
            kit::server::Readiness::new().build(),
            kit::auth::Authenticator::off(),
        );
        App { listener, router, issuer }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The issuer (to mint tokens in process).
    pub fn issuer(&self) -> Arc<Issuer> {
        self.issuer.clone()
    }

    /// Serves until `shutdown`.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        kit::server::serve(self.listener, self.router, shutdown).await
    }
}
