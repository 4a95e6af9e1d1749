//! The gateway's router, and binding and serving it.

use crate::access::AccessLayer;
use crate::config::Config;
use crate::proxy::{self, HttpClient, Upstream};
use axum::Router;
use axum::routing::any;
use futures_util::future::BoxFuture;
use kit::server::ReadinessCheck;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The name `/health` reports, as in the original.
const SERVICE_NAME: &str = "api-gateway";

/// The full router: the three proxied prefixes behind the [`AccessLayer`], plus kit's shared
/// routes and layers (`/health`, `/ready`, problem 404/405, request ids).
pub fn router(config: &Config) -> Router {
    let client = proxy::client(config.connect_timeout);
    let timeout = config.upstream_timeout;
    let api = Router::new()
        .merge(upstream_routes("products", &config.product_url, &client, timeout))
        .merge(upstream_routes("orders", &config.order_url, &client, timeout))
        .merge(upstream_routes("inventory", &config.inventory_url, &client, timeout))
        .merge(upstream_routes("notifications", &config.notification_url, &client, timeout))
        .merge(upstream_routes("ai", &config.ai_url, &client, timeout))
        .route_layer(AccessLayer);
    // The gateway holds no state of its own: if it answers, it is ready. Upstream health is
    // reported per request as 503s.
    let ready: ReadinessCheck = Arc::new(|| -> BoxFuture<'static, Result<(), String>> { Box::pin(async { Ok(()) }) });
    kit::server::service_router(SERVICE_NAME, api, ready)
}

/// `/api/<service>`, `/api/<service>/` and everything below it, any method, to one upstream.
fn upstream_routes(service: &'static str, base_url: &str, client: &HttpClient, timeout: Duration) -> Router {
    let upstream = Arc::new(Upstream::new(service, base_url, client.clone(), timeout));
    let root = format!("/api/{service}");
    Router::new()
        .route(&root, any(proxy::forward))
        // A catch-all needs at least one character, so the bare trailing slash gets its own.
        .route(&format!("{root}/"), any(proxy::forward))
        .route(&format!("{root}/{{*rest}}"), any(proxy::forward))
        .with_state(upstream)
}

/// A bound, not yet running gateway.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    port: u16,
    router: Router,
}

impl App {
    /// Validates `config` and binds its address (port 0 picks a free one).
    pub async fn build(config: Config) -> std::io::Result<App> {
        config.validate().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = kit::server::bind(&config.host, config.port).await?;
        let port = listener.local_addr()?.port();
        Ok(App { listener, port, router: router(&config) })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        kit::server::serve(self.listener, self.router, shutdown).await
    }
}
