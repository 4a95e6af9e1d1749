//! The product service's settings.

use crate::store::mongo;
use kit::auth::AuthSettings;
use kit::config::{self, ConfigError};
use kit::db::DbOptions;

/// Settings of one product service instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub host: String,
    /// Listen port (0 picks one).
    pub port: u16,
    /// Product store: a SQL database (`postgres://…`, `sqlite:…`; `schema` is the PostgreSQL
    /// schema) or MongoDB (`mongodb://…`, `mongodb+srv://…`; `schema` is the database name).
    /// One field for both so that every way of building a `Config` picks MongoDB by URL alone.
    pub database: DbOptions,
    /// The inventory service, whose available units a product's `stock_quantity` shows
    /// (`None`: the stored figure is shown).
    pub inventory_service_url: Option<String>,
    /// Who may call it, and its own credential (for the inventory service).
    pub auth: AuthSettings,
}

/// Which kind of store a [`Config`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// SQLite or PostgreSQL.
    Sql,
    /// MongoDB.
    Mongo,
}

impl Config {
    /// From `PRODUCT_HOST`, `PRODUCT_PORT`, `INVENTORY_SERVICE_URL`, `DATABASE_MAX_CONNECTIONS`
    /// and the store: MongoDB when `MONGODB_URL` is set (database `MONGODB_DATABASE`, default
    /// `product_db`; `DATABASE_URL` is then not needed by this service), else `DATABASE_URL`.
    pub fn from_env() -> Result<Config, ConfigError> {
        let max_connections = config::parse_or("DATABASE_MAX_CONNECTIONS", 16)?;
        let database = match config::optional("MONGODB_URL") {
            Some(url) => DbOptions {
                url: mongodb_url("MONGODB_URL", url.trim())?,
                schema: mongodb_database(
                    "MONGODB_DATABASE",
                    config::optional("MONGODB_DATABASE").as_deref().unwrap_or(mongo::DEFAULT_DATABASE),
                )?,
                max_connections,
            },
            None => DbOptions { url: config::required("DATABASE_URL")?, schema: "product".into(), max_connections },
        };
        Ok(Config {
            host: config::optional("PRODUCT_HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: config::parse_or("PRODUCT_PORT", 8001)?,
            database,
            inventory_service_url: Some(config::url_or("INVENTORY_SERVICE_URL", "http://127.0.0.1:8003")?),
            auth: AuthSettings::from_env(None)?,
        })
    }

    /// The kind of store [`Config::database`] names.
    pub fn store_kind(&self) -> StoreKind {
        if mongo::is_mongodb_url(&self.database.url) { StoreKind::Mongo } else { StoreKind::Sql }
    }
}

/// A MongoDB connection string: the scheme and a host are checked here; the driver parses the
/// rest at start-up (an SRV name needs DNS), with errors naming the same variable.
fn mongodb_url(var: &str, url: &str) -> Result<String, ConfigError> {
    if !mongo::is_mongodb_url(url) {
        return Err(ConfigError::new(
            var,
            format!("{:?} is not a MongoDB URL (mongodb://host[:port][,…]/… or mongodb+srv://…)", mongo::redact(url)),
        ));
    }
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    let hosts = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts = hosts.rsplit_once('@').map_or(hosts, |(_, hosts)| hosts);
    if hosts.split(',').any(|h| h.trim().is_empty()) {
        return Err(ConfigError::new(var, format!("{:?} names no host", mongo::redact(url))));
    }
    Ok(url.to_owned())
}

/// A MongoDB database name: 1–63 bytes, none of `/\. "$*<>:|?` or NUL (MongoDB's rules).
fn mongodb_database(var: &str, name: &str) -> Result<String, ConfigError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 63 {
        return Err(ConfigError::new(var, "must be 1 to 63 bytes"));
    }
    if let Some(bad) = name.chars().find(|c| "/\\. \"$*<>:|?\0".contains(*c)) {
        return Err(ConfigError::new(
            var,
            format!("{name:?} contains {bad:?}, which MongoDB does not allow in a database name"),
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mongodb_urls_are_checked_and_named() {
        assert!(mongodb_url("MONGODB_URL", "mongodb://db:27017/?replicaSet=rs0").is_ok());
        assert!(mongodb_url("MONGODB_URL", "mongodb+srv://user:pw@cluster.example.com/").is_ok());
        assert!(mongodb_url("MONGODB_URL", "mongodb://a:1,b:2").is_ok());
        let err = mongodb_url("MONGODB_URL", "postgres://user:secret@db/x").err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.starts_with("MONGODB_URL: "), "{err}");
        assert!(!err.contains("secret"), "passwords stay out of messages: {err}");
        assert!(mongodb_url("MONGODB_URL", "mongodb://").is_err());
        assert!(mongodb_url("MONGODB_URL", "mongodb://a,,b/").is_err());
    }

    #[test]
    fn database_names_follow_mongodbs_rules() {
        assert_eq!(mongodb_database("MONGODB_DATABASE", " product_db ").ok().as_deref(), Some("product_db"));
        for bad in ["", "a.b", "a b", "a/b", "$x", &"x".repeat(64)] {
            let err = mongodb_database("MONGODB_DATABASE", bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.starts_with("MONGODB_DATABASE: "), "{bad:?}: {err}");
        }
    }
}
