//! Gateway settings from the environment.

use kit::config::{ConfigError, millis_or, parse_or, url_or};
use std::time::Duration;

/// More event loops than this is a typo, not a machine.
const MAX_WORKERS: usize = 256;

/// Base URLs of the services behind the gateway.
#[derive(Debug, Clone)]
pub struct Upstreams {
    /// Product service.
    pub product: String,
    /// Order service.
    pub order: String,
    /// Inventory service.
    pub inventory: String,
    /// Notification service.
    pub notification: String,
    /// AI assistant.
    pub ai: String,
}

/// Where the gateway listens, where each service lives, and how long to wait for them.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen host (`GATEWAY_HOST`, default `127.0.0.1`).
    pub host: String,
    /// Listen port (`GATEWAY_PORT`, default 9000; 0 picks a free one).
    pub port: u16,
    /// Product service base URL (`PRODUCT_SERVICE_URL`).
    pub product_url: String,
    /// Order service base URL (`ORDER_SERVICE_URL`).
    pub order_url: String,
    /// Inventory service base URL (`INVENTORY_SERVICE_URL`).
    pub inventory_url: String,
    /// Notification service base URL (`NOTIFICATION_SERVICE_URL`).
    pub notification_url: String,
    /// AI service base URL (`AI_SERVICE_URL`).
    pub ai_url: String,
    /// Limit on opening a TCP connection to a service (`GATEWAY_CONNECT_TIMEOUT_MS`).
    pub connect_timeout: Duration,
    /// Limit on a service's response headers arriving (`GATEWAY_UPSTREAM_TIMEOUT_MS`).
    pub upstream_timeout: Duration,
    /// Token validation (for rate-limit keys; the services enforce access themselves).
    pub auth: kit::auth::AuthSettings,
    /// Requests per client and minute to the catalog, orders, inventory (0: no limit).
    pub rate_limit_per_minute: u32,
    /// Requests per client and minute to the AI assistant (0: no limit).
    pub ai_rate_limit_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`: addresses or CIDRs).
    pub trusted_proxies: Vec<crate::access::Network>,
    /// Origins allowed to call the API from a browser (`CORS_ORIGINS`).
    pub cors_origins: Vec<String>,
    /// The public OIDC client the web UI signs visitors in with (`STOREFRONT_CLIENT_ID`,
    /// default `api-gateway`).
    pub storefront_client_id: String,
    /// The gateway's public base URL (`PUBLIC_URL`, e.g. `https://shop.example`): the web
    /// UI's sign-in redirect; unset, taken from each request's `Host`.
    pub public_url: Option<String>,
    /// Threads serving requests, each with its own event loop, listening socket
    /// (`SO_REUSEPORT`) and upstream connections (`GATEWAY_WORKERS`, default: one per CPU
    /// for `shop serve gateway`). 0 serves on the caller's runtime, as `shop up` does,
    /// where the services share it.
    pub workers: usize,
}

/// A comma-separated list (empty when unset).
fn list(var: &str) -> Result<Vec<String>, ConfigError> {
    Ok(kit::config::optional(var)
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default())
}

impl Config {
    /// Reads the environment, falling back to the original's ports and timeouts.
    pub fn from_env() -> Result<Config, ConfigError> {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let mut config = Config::embedded(
            parse_or("GATEWAY_HOST", "127.0.0.1".to_owned())?,
            parse_or("GATEWAY_PORT", 9000)?,
            Upstreams {
                product: url_or("PRODUCT_SERVICE_URL", "http://127.0.0.1:8001")?,
                order: url_or("ORDER_SERVICE_URL", "http://127.0.0.1:8002")?,
                inventory: url_or("INVENTORY_SERVICE_URL", "http://127.0.0.1:8003")?,
                notification: url_or("NOTIFICATION_SERVICE_URL", "http://127.0.0.1:8004")?,
                ai: url_or("AI_SERVICE_URL", "http://127.0.0.1:8005")?,
            },
            kit::auth::AuthSettings::from_env(None)?,
        )?;
        config.workers = parse_or("GATEWAY_WORKERS", cpus)?;
        config.validate()?;
        Ok(config)
    }

    /// A gateway at `host:port` in front of `upstreams` (what `shop up` decides for the
    /// whole platform); the timeouts come from the environment with the same readers and
    /// checks as [`Config::from_env`].
    pub fn embedded(
        host: String,
        port: u16,
        upstreams: Upstreams,
        auth: kit::auth::AuthSettings,
    ) -> Result<Config, ConfigError> {
        let config = Config {
            host,
            port,
            product_url: upstreams.product,
            order_url: upstreams.order,
            inventory_url: upstreams.inventory,
            notification_url: upstreams.notification,
            ai_url: upstreams.ai,
            connect_timeout: millis_or("GATEWAY_CONNECT_TIMEOUT_MS", Duration::from_millis(3000))?,
            upstream_timeout: millis_or("GATEWAY_UPSTREAM_TIMEOUT_MS", Duration::from_millis(10_000))?,
            auth,
            rate_limit_per_minute: parse_or("RATE_LIMIT_PER_MINUTE", 60)?,
            ai_rate_limit_per_minute: parse_or("AI_RATE_LIMIT_PER_MINUTE", 15)?,
            trusted_proxies: list("TRUSTED_PROXIES")?
                .iter()
                .map(|n| {
                    crate::access::Network::parse(n)
                        .ok_or_else(|| ConfigError::new("TRUSTED_PROXIES", format!("{n:?} is not an address or CIDR")))
                })
                .collect::<Result<_, _>>()?,
            cors_origins: list("CORS_ORIGINS")?,
            storefront_client_id: parse_or("STOREFRONT_CLIENT_ID", "api-gateway".to_owned())?,
            public_url: kit::config::optional("PUBLIC_URL").map(|u| u.trim().trim_end_matches('/').to_owned()),
            workers: 0,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks what [`Config::from_env`] cannot see when a `Config` is built by hand: base
    /// URLs the proxy can use, and non-zero timeouts (zero would fail every request).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (var, url) in [
            ("PRODUCT_SERVICE_URL", &self.product_url),
            ("ORDER_SERVICE_URL", &self.order_url),
            ("INVENTORY_SERVICE_URL", &self.inventory_url),
            ("NOTIFICATION_SERVICE_URL", &self.notification_url),
            ("AI_SERVICE_URL", &self.ai_url),
        ] {
            crate::proxy::Target::parse(url).map_err(|e| ConfigError::new(var, e.to_string()))?;
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::new("PUBLIC_URL", format!("{url:?} is not an http(s) URL")));
        }
        for (var, value) in [
            ("GATEWAY_CONNECT_TIMEOUT_MS", self.connect_timeout),
            ("GATEWAY_UPSTREAM_TIMEOUT_MS", self.upstream_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(var, "must be greater than 0"));
            }
        }
        if self.workers > MAX_WORKERS {
            return Err(ConfigError::new("GATEWAY_WORKERS", format!("{} is more than {MAX_WORKERS}", self.workers)));
        }
        Ok(())
    }
}
