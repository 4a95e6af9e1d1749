//! The product service's settings.

use kit::config::{self, ConfigError};
use kit::db::DbOptions;

/// Settings of one product service instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub host: String,
    /// Listen port (0 picks one).
    pub port: u16,
    /// Product store.
    pub database: DbOptions,
    /// The inventory service, whose available units a product's `stock_quantity` shows
    /// (`None`: the stored figure is shown).
    pub inventory_service_url: Option<String>,
}

impl Config {
    /// From `PRODUCT_HOST`, `PRODUCT_PORT`, `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`,
    /// `INVENTORY_SERVICE_URL`.
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            host: config::optional("PRODUCT_HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: config::parse_or("PRODUCT_PORT", 8001)?,
            database: DbOptions {
                url: config::required("DATABASE_URL")?,
                schema: "product".into(),
                max_connections: config::parse_or("DATABASE_MAX_CONNECTIONS", 16)?,
            },
            inventory_service_url: Some(config::url_or("INVENTORY_SERVICE_URL", "http://127.0.0.1:8003")?),
        })
    }
}
