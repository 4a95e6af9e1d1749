//! The order service's settings.

use kit::auth::AuthSettings;
use kit::config::{self, ConfigError};
use kit::db::DbOptions;
use std::time::Duration;

/// Settings of one order service instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub host: String,
    /// Listen port (0 picks one).
    pub port: u16,
    /// Order store.
    pub database: DbOptions,
    /// The product service.
    pub product_service_url: String,
    /// The inventory service.
    pub inventory_service_url: String,
    /// Deadline of each call to a peer.
    pub peer_timeout: Duration,
    /// Who may call it, and its own credential.
    pub auth: AuthSettings,
}

impl Config {
    /// From `ORDER_HOST`, `ORDER_PORT`, `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`,
    /// `PRODUCT_SERVICE_URL`, `INVENTORY_SERVICE_URL` and the tunables of [`Config::embedded`].
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::embedded(
            config::optional("ORDER_HOST").unwrap_or_else(|| "0.0.0.0".into()),
            config::parse_or("ORDER_PORT", 8002)?,
            DbOptions {
                url: config::required("DATABASE_URL")?,
                schema: "orders".into(),
                max_connections: config::parse_or("DATABASE_MAX_CONNECTIONS", 16)?,
            },
            config::url_or("PRODUCT_SERVICE_URL", "http://127.0.0.1:8001")?,
            config::url_or("INVENTORY_SERVICE_URL", "http://127.0.0.1:8003")?,
            AuthSettings::from_env(None)?,
        )
    }

    /// A service at `host:port` on `database` with these peers (what `shop up` decides for
    /// the whole platform); every tunable comes from the environment with the same readers
    /// and checks as [`Config::from_env`]: `PEER_TIMEOUT_MS` (> 0).
    pub fn embedded(
        host: String,
        port: u16,
        database: DbOptions,
        product_service_url: String,
        inventory_service_url: String,
        auth: AuthSettings,
    ) -> Result<Config, ConfigError> {
        let peer_timeout = config::millis_or("PEER_TIMEOUT_MS", Duration::from_secs(5))?;
        if peer_timeout.is_zero() {
            return Err(ConfigError::new("PEER_TIMEOUT_MS", "must be greater than 0"));
        }
        Ok(Config { host, port, database, product_service_url, inventory_service_url, peer_timeout, auth })
    }

    /// How long a request waits for another holding its Idempotency-Key: long enough for
    /// that one to reserve and write (two peer calls).
    pub fn key_wait(&self) -> Duration {
        self.peer_timeout * 2 + Duration::from_secs(1)
    }

    /// When a claimed Idempotency-Key whose order never appeared counts as abandoned: well
    /// past anything its request could still be doing.
    pub fn key_stale(&self) -> Duration {
        self.peer_timeout * 4 + Duration::from_secs(5)
    }
}
