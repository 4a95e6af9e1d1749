//! The gateway's router, and binding and serving it.

use crate::access::Access;
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

/// The full router: the proxied prefixes behind the access checks (client identity, rate
/// limits), the aggregated `/openapi.json` and `/docs`, plus kit's shared routes and layers
/// (`/health`, `/ready`, problem 404/405, request ids), CORS and security headers.
pub fn router(config: &Config) -> Router {
    let auth = kit::auth::Authenticator::new(config.auth.clone());
    router_with(config, access(config, &auth), auth)
}

fn access(config: &Config, auth: &Arc<kit::auth::Authenticator>) -> Arc<Access> {
    Access::new(
        auth.clone(),
        config.trusted_proxies.clone(),
        config.rate_limit_per_minute,
        config.ai_rate_limit_per_minute,
    )
}

fn router_with(config: &Config, access: Arc<Access>, auth: Arc<kit::auth::Authenticator>) -> Router {
    let client = proxy::client(config.connect_timeout);
    let timeout = config.upstream_timeout;
    let api = Router::new()
        .merge(upstream_routes("products", &config.product_url, &client, timeout))
        .merge(upstream_routes("orders", &config.order_url, &client, timeout))
        .merge(upstream_routes("inventory", &config.inventory_url, &client, timeout))
        .merge(upstream_routes("notifications", &config.notification_url, &client, timeout))
        .merge(upstream_routes("ai", &config.ai_url, &client, timeout))
        .route_layer(axum::middleware::from_fn_with_state(access, crate::access::check))
        .merge(kit::openapi::routes(&crate::openapi::document(&crate::openapi::services())))
        .merge(storefront::router(storefront::Config {
            product_url: config.product_url.clone(),
            order_url: config.order_url.clone(),
            inventory_url: config.inventory_url.clone(),
            notification_url: config.notification_url.clone(),
            ai_url: config.ai_url.clone(),
            auth: auth.clone(),
            client_id: config.storefront_client_id.clone(),
            public_url: config.public_url.clone(),
            timeout: config.upstream_timeout,
        }));
    // The gateway holds no state of its own: if it answers, it is ready. Upstream health is
    // reported per request as 503s.
    let ready: ReadinessCheck = Arc::new(|| -> BoxFuture<'static, Result<(), String>> { Box::pin(async { Ok(()) }) });
    kit::server::service_router(SERVICE_NAME, api, ready, auth)
        .layer(axum::middleware::from_fn(security_headers))
        .layer(cors(&config.cors_origins))
}

/// Headers every answer of the public entry point carries: no MIME sniffing, no framing,
/// no referrer leaking paths to other sites.
async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The web UI sets `same-origin` (browsers then send its form posts' real `Origin`).
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

/// Browsers may call the API from `origins` (none by default: same-origin only).
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("idempotency-key")])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-total-count"),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600))
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
pub struct App {
    listener: TcpListener,
    port: u16,
    router: Router,
    access: Arc<Access>,
}

impl App {
    /// Validates `config` and binds its address (port 0 picks a free one).
    pub async fn build(config: Config) -> std::io::Result<App> {
        config.validate().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = kit::server::bind(&config.host, config.port).await?;
        let port = listener.local_addr()?.port();
        let auth = kit::auth::Authenticator::new(config.auth.clone());
        let access = access(&config, &auth);
        Ok(App { listener, port, router: router_with(&config, access.clone(), auth), access })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let access = self.access.clone();
        let stop = shutdown.clone();
        let forgetting = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(crate::access::FORGET_EVERY) => access.forget_idle_clients(),
                }
            }
        });
        let served = kit::server::serve(self.listener, self.router, shutdown).await;
        forgetting.abort();
        served
    }
}
