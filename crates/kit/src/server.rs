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
use std::time::Duration;
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

/// Wraps a service's API routes with the shared routes and layers: `/health` (the original's
/// shape plus `auth_enabled`), `/ready`, problem+json fallbacks, the body limit, request ids,
/// and `auth` for the [`crate::auth::Caller`] extractors.
pub fn service_router(
    service: &'static str,
    api: Router,
    ready: ReadinessCheck,
    auth: Arc<crate::auth::Authenticator>,
) -> Router {
    let auth_enabled = auth.enabled();
    if !auth_enabled {
        tracing::warn!(service, "AUTH_MODE=off: every request is allowed everything, as in the original");
    }
    api.route(
        "/health",
        get(move || async move {
            let mut body = serde_json::json!({"status": "UP", "service": service, "auth_enabled": auth_enabled});
            if !auth_enabled {
                body["warning"] = "authentication is off (AUTH_MODE=off): every caller may do everything".into();
            }
            axum::Json(body)
        }),
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
    .route("/metrics", get(move || crate::metrics::render(service)))
    .fallback(not_found_or_redirect)
    .method_not_allowed_fallback(|| async {
        Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed on this route")
    })
    .layer(DefaultBodyLimit::max(BODY_LIMIT))
    .layer(middleware::from_fn(move |request: Request, next: Next| crate::metrics::track(service, request, next)))
    .layer(middleware::from_fn(move |request: Request, next: Next| crate::trace::request_span(service, request, next)))
    .layer(axum::Extension(auth))
    .layer(middleware::from_fn(request_context))
}

/// No route matched: a path with a trailing slash is redirected (307, method and body kept)
/// to the same path without it, as the original did; anything else is a 404 problem.
async fn not_found_or_redirect(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let target = match uri.query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(location) = HeaderValue::from_str(&target) {
            return (StatusCode::TEMPORARY_REDIRECT, [(axum::http::header::LOCATION, location)]).into_response();
        }
    }
    Problem::not_found("No such route").into_response()
}

/// Gives each request an id (the caller's `x-request-id`, else a fresh UUIDv7), makes it
/// available to error responses and outbound calls, echoes it back, and logs the request.
pub async fn request_context(request: Request, next: Next) -> Response {
    // Only a short token of safe characters is taken from the client: the id is echoed in
    // a header and in error bodies, and written to logs.
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_request_id(v))
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

/// Whether a client's `X-Request-Id` is usable: 1 to 64 of `A-Z a-z 0-9 . _ : -`.
pub fn is_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
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

/// Longest a client may take to send a request's head; then the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest pause allowed between two pieces of a request body; then the request fails with
/// 408 (a client that stops sending is the client's fault, not an upstream's).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a stopping server waits for in-flight requests before it closes their connections.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves `router` until `shutdown` is cancelled, then drains in-flight requests (up to
/// [`DRAIN_TIMEOUT`]). Each connection has a head read timeout and each request body an idle
/// timeout, so a slow or stalled client cannot hold a connection forever; each request
/// carries the peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Callers in this process reach the router directly while it accepts connections.
    let listed = crate::in_process::register(listener.local_addr()?, &router);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: axum::http::Request<hyper::body::Incoming>| {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(axum::extract::ConnectInfo(peer));
            let body = if hyper::body::Body::is_end_stream(&body) {
                axum::body::Body::new(body)
            } else {
                axum::body::Body::new(IdleTimeoutBody::new(body, BODY_READ_TIMEOUT))
            };
            router.clone().oneshot(axum::http::Request::from_parts(parts, body))
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(ProblemOnParseError::new(stream)), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listed);
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; closing their connections");
    }
    Ok(())
}

/// A connection whose bare error answers are made problem+json. hyper answers a request it
/// cannot parse (a 100,000-character path: 414; a head over its limit: 431; garbage: 400)
/// by itself, before any service sees it, with an empty body. Every answer this platform
/// writes has a `Content-Type`; a 4xx head without one and with `content-length: 0` is
/// therefore hyper's, and gets a problem body instead.
pub struct ProblemOnParseError<T> {
    inner: T,
    /// Bytes of a rewritten answer not written yet, and how many of them are.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> ProblemOnParseError<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        ProblemOnParseError { inner, pending: None }
    }
}

/// hyper's automatic error head, rewritten with a problem body; `None` for any other write.
fn problem_for_bare_error(head: &[u8]) -> Option<Vec<u8>> {
    if !head.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&head[..end]).ok()?.to_ascii_lowercase();
    if text.contains("content-type:") || !text.contains("content-length: 0") || end + 4 != head.len() {
        return None;
    }
    let status = text.get(9..12).and_then(|s| s.parse::<u16>().ok()).and_then(|s| StatusCode::from_u16(s).ok())?;
    let detail = match status {
        StatusCode::URI_TOO_LONG => "The request's path and query are too long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "The request's headers are too large",
        _ => "The request could not be parsed as HTTP",
    };
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Bad Request"),
        "status": status.as_u16(),
        "detail": detail,
    })
    .to_string();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    Some([head.into_bytes(), body.into_bytes()].concat())
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for ProblemOnParseError<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> ProblemOnParseError<T> {
    /// Writes what is left of a rewritten answer; `Ready(Ok)` once all of it is out.
    fn poll_pending(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while let Some((bytes, written)) = &mut self.pending {
            match std::pin::Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    *written += n;
                    if *written == bytes.len() {
                        self.pending = None;
                    }
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for ProblemOnParseError<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        match self.poll_pending(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            Poll::Pending => return Poll::Pending,
        }
        if let Some(rewritten) = problem_for_bare_error(buf) {
            self.pending = Some((rewritten, 0));
            return match self.poll_pending(cx) {
                Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
                // Taken over: hyper counts its bytes as written.
                _ => Poll::Ready(Ok(buf.len())),
            };
        }
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let first = bufs.iter().find(|b| !b.is_empty());
        if self.pending.is_some() || first.is_some_and(|b| b.starts_with(b"HTTP/1.1 4")) {
            let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            return self.poll_write(cx, &joined);
        }
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        match self.poll_pending(cx) {
            Poll::Ready(Ok(())) => std::pin::Pin::new(&mut self.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        match self.poll_pending(cx) {
            Poll::Ready(Ok(())) => std::pin::Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

/// A request body that fails with [`BodyTimeout`] when its next piece does not arrive
/// within `idle`, and otherwise passes everything through (end of stream and size hints
/// included, so a proxy still sees the body's length).
pub struct IdleTimeoutBody<B> {
    inner: B,
    idle: Duration,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<B> IdleTimeoutBody<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, idle: Duration) -> Self {
        IdleTimeoutBody { inner, idle, sleep: None }
    }
}

/// A request body stopped arriving.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
pub struct BodyTimeout;

impl<B> hyper::body::Body for IdleTimeoutBody<B>
where
    B: hyper::body::Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future;
        use std::task::Poll;
        if let Poll::Ready(frame) = std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            self.sleep = None;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let idle = self.idle;
        let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `err` (or a cause of it) is a request body that stopped arriving in time.
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<BodyTimeout>() {
            return true;
        }
        cause = err.source();
    }
    false
}
