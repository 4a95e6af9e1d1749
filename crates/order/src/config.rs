//! The order service's settings.

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
}

impl Config {
    /// From `ORDER_HOST`, `ORDER_PORT`, `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`,
    /// `PRODUCT_SERVICE_URL`, `INVENTORY_SERVICE_URL`, `PEER_TIMEOUT_MS`.
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            host: config::optional("ORDER_HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: config::parse_or("ORDER_PORT", 8002)?,
            database: DbOptions {
                url: config::required("DATABASE_URL")?,
                schema: "orders".into(),
                max_connections: config::parse_or("DATABASE_MAX_CONNECTIONS", 16)?,
            },
            product_service_url: config::url_or("PRODUCT_SERVICE_URL", "http://127.0.0.1:8001")?,
            inventory_service_url: config::url_or("INVENTORY_SERVICE_URL", "http://127.0.0.1:8003")?,
            peer_timeout: config::millis_or("PEER_TIMEOUT_MS", Duration::from_secs(5))?,
        })
    }
}
