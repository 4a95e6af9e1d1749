//! What every service's HTTP side shares: `/health` (the original's shape), `/ready`,
//! problem+json for unknown routes and methods, request ids, a body-size limit, request
//! tracing, and serving until the shutdown token is cancelled.

use crate::problem::{Problem, REQUEST_ID};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest request body accepted by default (1 MiB).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Checks that a service can do its work: `Err` says what is wrong.
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// What `/ready` checks, built per service: its store can write, its consumers run.
#[derive(Default)]
pub struct Readiness {
    checks: Vec<ReadinessCheck>,
}

impl Readiness {
    /// Nothing to check yet.
    pub fn new() -> Self {
        Readiness::default()
    }

    /// The store `db` commits a write.
    pub fn store(mut self, name: &'static str, db: crate::db::Db) -> Self {
        self.checks.push(Arc::new(move || {
            let db = db.clone();
            Box::pin(async move {
                if let Some(ago) = crate::db::recently_unavailable(name) {
                    return Err(format!("{name} store failed a write {}ms ago", ago.as_millis()));
                }
                db.can_write().await.map_err(|e| format!("{name} store cannot write: {e}"))
            })
        }));
        self
    }

    /// The consumer loop reporting to `health` runs and moves.
    pub fn consumer(mut self, health: crate::bus::consumer::ConsumerHealth) -> Self {
        self.checks.push(Arc::new(move || {
            let result = health.check();
            Box::pin(async move { result })
        }));
        self
    }

    /// Any other check.
    pub fn check(mut self, check: ReadinessCheck) -> Self {
        self.checks.push(check);
        self
    }

    /// All checks as one; every failure is reported.
    pub fn build(self) -> ReadinessCheck {
        let checks = Arc::new(self.checks);
        Arc::new(move || {
            let checks = checks.clone();
            Box::pin(async move {
                let mut failures = Vec::new();
                for check in checks.iter() {
                    if let Err(why) = check().await {
                        failures.push(why);
                    }
                }
                if failures.is_empty() { Ok(()) } else { Err(failures.join("; ")) }
            })
        })
    }
}

/// Wraps a service's API routes with the shared routes and layers.
pub fn service_router(service: &'static str, api: Router, ready: ReadinessCheck) -> Router {
    api.route(
        "/health",
        get(move || async move { axum::Json(serde_json::json!({"status": "UP", "service": service})) }),
    )
    .route(
        "/ready",
        get(move || {
            let ready = ready.clone();
            async move {
                match ready().await {
                    Ok(()) => (StatusCode::OK, axum::Json(serde_json::json!({"status": "READY", "service": service})))
                        .into_response(),
                    Err(why) => {
                        tracing::warn!(service, reason = %why, "not ready");
                        Problem::unavailable(format!("{service} is not ready: {why}"), 5).into_response()
                    }
                }
            }
        }),
    )
    .fallback(|| async { Problem::not_found("No such route") })
    .method_not_allowed_fallback(|| async {
        Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed on this route")
    })
    .layer(DefaultBodyLimit::max(BODY_LIMIT))
    .layer(middleware::from_fn(request_context))
}

/// Gives each request an id (the caller's `x-request-id`, else a fresh UUIDv7), makes it
/// available to error responses and outbound calls, echoes it back, and logs the request.
pub async fn request_context(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    let status = response.status();
    if status.is_server_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), request_id = %id, "request failed");
    } else {
        tracing::debug!(%method, %path, status = status.as_u16(), request_id = %id, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Binds `host:port` (port 0 picks a free one).
pub async fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((host, port)).await
}

/// A service that could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its store could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] crate::db::DbError),
    /// Its port could not be bound.
    #[error("binding {0}: {1}")]
    Bind(String, std::io::Error),
    /// Anything else it needs is unusable.
    #[error("{0}")]
    Other(String),
}

/// [`bind`], failing with a [`StartError`] that names the address.
pub async fn bind_service(host: &str, port: u16) -> Result<TcpListener, StartError> {
    bind(host, port).await.map_err(|e| StartError::Bind(format!("{host}:{port}"), e))
}

/// Ready when the service's store commits a write.
pub fn database_ready(db: crate::db::Db) -> ReadinessCheck {
    Readiness::new().store("service", db).build()
}

/// Serves `router` until `shutdown` is cancelled, then drains in-flight requests.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await
}
