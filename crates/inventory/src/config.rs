//! The inventory service's settings.

use kit::auth::AuthSettings;
use kit::config::{self, ConfigError};
use kit::db::DbOptions;
use std::time::Duration;

/// Settings of one inventory service instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub host: String,
    /// Listen port (0 picks one).
    pub port: u16,
    /// Stock store.
    pub database: DbOptions,
    /// How long a reservation waits for its order before it may be released.
    pub reservation_ttl: Duration,
    /// The order service, asked before an expired reservation is released.
    pub order_service_url: Option<String>,
    /// Who may call it, and its own credential.
    pub auth: AuthSettings,
}

impl Config {
    /// From `INVENTORY_HOST`, `INVENTORY_PORT`, `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`,
    /// `ORDER_SERVICE_URL` and the tunables of [`Config::embedded`].
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::embedded(
            config::optional("INVENTORY_HOST").unwrap_or_else(|| "0.0.0.0".into()),
            config::parse_or("INVENTORY_PORT", 8003)?,
            DbOptions {
                url: config::required("DATABASE_URL")?,
                schema: "inventory".into(),
                max_connections: config::parse_or("DATABASE_MAX_CONNECTIONS", 16)?,
            },
            Some(config::url_or("ORDER_SERVICE_URL", "http://127.0.0.1:8002")?),
            AuthSettings::from_env(None)?,
        )
    }

    /// A service at `host:port` on `database` asking `order_service_url` before releasing
    /// an expired hold (what `shop up` decides for the whole platform); every tunable comes
    /// from the environment with the same readers and checks as [`Config::from_env`]:
    /// `RESERVATION_TTL_SECS` (> 0).
    pub fn embedded(
        host: String,
        port: u16,
        database: DbOptions,
        order_service_url: Option<String>,
        auth: AuthSettings,
    ) -> Result<Config, ConfigError> {
        let reservation_ttl = config::seconds_or("RESERVATION_TTL_SECS", Duration::from_secs(900))?;
        if reservation_ttl.is_zero() {
            return Err(ConfigError::new("RESERVATION_TTL_SECS", "must be greater than 0"));
        }
        Ok(Config { host, port, database, reservation_ttl, order_service_url, auth })
    }

    /// Time between expiry sweeps: a fraction of the TTL, between 50 ms and 30 s.
    pub fn sweep_interval(&self) -> Duration {
        (self.reservation_ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(30))
    }
}
