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

/// Checks that a service's stores and bus are reachable.
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

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
                if ready().await {
                    (StatusCode::OK, axum::Json(serde_json::json!({"status": "READY", "service": service})))
                        .into_response()
                } else {
                    Problem::unavailable(format!("{service} is not ready"), 5).into_response()
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

/// Ready when the database answers.
pub fn database_ready(db: crate::db::Db) -> ReadinessCheck {
    Arc::new(move || {
        let db = db.clone();
        Box::pin(async move { db.ping().await })
    })
}

/// Serves `router` until `shutdown` is cancelled, then drains in-flight requests.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await
}
