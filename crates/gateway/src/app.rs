//! The gateway's router, and binding and serving it.

use crate::access::Access;
use crate::config::Config;
use crate::proxy::{self, HttpClient, Upstream};
use axum::Router;
use axum::routing::any;
use futures_util::StreamExt as _;
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
    port: u16,
    config: Config,
    access: Arc<Access>,
    auth: Arc<kit::auth::Authenticator>,
    listeners: Listeners,
}

/// Where the gateway accepts connections.
enum Listeners {
    /// One socket served on the caller's runtime (`workers` = 0).
    Shared(TcpListener),
    /// One socket per worker thread, all on the same port (`SO_REUSEPORT`: the kernel
    /// spreads new connections over them).
    PerWorker(Vec<std::net::TcpListener>),
}

impl App {
    /// Validates `config` and binds its address (port 0 picks a free one).
    pub async fn build(config: Config) -> std::io::Result<App> {
        config.validate().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let (listeners, port) = if config.workers == 0 {
            let listener = kit::server::bind(&config.host, config.port).await?;
            let port = listener.local_addr()?.port();
            (Listeners::Shared(listener), port)
        } else {
            let sockets = bind_per_worker(&config.host, config.port, config.workers).await?;
            let port = sockets.first().map(std::net::TcpListener::local_addr).transpose()?.map_or(0, |a| a.port());
            (Listeners::PerWorker(sockets), port)
        };
        let auth = kit::auth::Authenticator::new(config.auth.clone());
        let access = access(&config, &auth);
        Ok(App { port, config, access, auth, listeners })
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
        let served = match self.listeners {
            Listeners::Shared(listener) => {
                let router = router_with(&self.config, self.access.clone(), self.auth.clone());
                kit::server::serve(listener, router, shutdown).await
            }
            Listeners::PerWorker(sockets) => {
                let mut workers = Vec::with_capacity(sockets.len());
                for (index, socket) in sockets.into_iter().enumerate() {
                    // Each worker has its own router, hence its own pool of upstream
                    // connections, driven by the same thread that serves its clients: a
                    // request never waits for another thread to be woken. The rate limits
                    // and the token cache stay shared.
                    let router = router_with(&self.config, self.access.clone(), self.auth.clone());
                    workers.push(spawn_worker(index, socket, router, shutdown.clone())?);
                }
                let mut workers: futures_util::stream::FuturesUnordered<_> = workers.into_iter().collect();
                let mut result = Ok(());
                while let Some(outcome) = workers.next().await {
                    let outcome = outcome.unwrap_or_else(|_| Err(std::io::Error::other("a gateway worker panicked")));
                    if let Err(error) = outcome {
                        tracing::error!(%error, "a gateway worker stopped with an error");
                        // One worker down: stop the others rather than serve at part capacity
                        // unnoticed; whoever runs the gateway sees the error.
                        shutdown.cancel();
                        result = result.and(Err(error));
                    }
                }
                result
            }
        };
        forgetting.abort();
        served
    }
}

/// Binds `workers` listening sockets to one address with `SO_REUSEPORT` (the first picks
/// the port when `port` is 0). They listen at once, so connections queue until served.
async fn bind_per_worker(host: &str, port: u16, workers: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let address = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, format!("{host} has no address")))?;
    // A plain bind first: `SO_REUSEPORT` alone would let this gateway share a port that
    // another one (same user) already serves, silently splitting its traffic, where a
    // taken port must be an error. With port 0 it picks the port the workers then share.
    let probe = std::net::TcpListener::bind(address)?;
    let mut address = probe.local_addr()?;
    drop(probe);
    let mut sockets = Vec::with_capacity(workers);
    for _ in 0..workers {
        let socket =
            if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(address)?;
        let listener = socket.listen(1024)?;
        address = listener.local_addr()?;
        // Handed to its worker's runtime, which registers it with its own event loop.
        sockets.push(listener.into_std()?);
    }
    Ok(sockets)
}

/// Runs one worker: a thread with a single-threaded runtime serving `router` on `socket`.
fn spawn_worker(
    index: usize,
    socket: std::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<tokio::sync::oneshot::Receiver<std::io::Result<()>>> {
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name(format!("gateway-{index}")).spawn(move || {
        let served = tokio::runtime::Builder::new_current_thread().enable_all().build().and_then(|runtime| {
            runtime.block_on(async move {
                let listener = TcpListener::from_std(socket)?;
                kit::server::serve(listener, router, shutdown).await
            })
        });
        let _ = done.send(served);
    })?;
    Ok(finished)
}
