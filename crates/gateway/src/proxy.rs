//! Forwarding one request to a service and its answer back, streaming both bodies.
//!
//! Per request this clones the incoming path-and-query (a refcount, not a copy), edits the
//! header map in place, and boxes nothing but the response body; the shared pooled client
//! keeps upstream connections warm, so the usual cost is one write and one read per side.

use axum::body::{Body, HttpBody as _};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::uri::{self, Authority, PathAndQuery, Scheme};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kit::Problem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Largest request body forwarded (10 MiB); more is answered with 413.
pub const BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The one client every route shares, so all of them draw on the same connection pool.
pub type HttpClient = Client<HttpConnector, Body>;

/// Headers that describe one connection rather than the message (RFC 9110 §7.6.1), plus the
/// non-standard `proxy-connection`; a proxy must not pass them on.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Builds the shared client: keep-alive pool sized for many concurrent connections per
/// service, Nagle off (small request/response pairs would otherwise wait on ACKs).
pub fn client(connect_timeout: Duration) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// Why a request could not be forwarded. The `Display` text is exactly the client-facing
/// `detail`; the underlying cause is only logged.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No connection to the service could be made (refused, unresolvable, connect timeout).
    #[error("Service unavailable: {0}")]
    Unavailable(&'static str),
    /// The service did not send response headers within the upstream timeout.
    #[error("Service timeout: {0}")]
    Timeout(&'static str),
    /// The client stopped sending its request body.
    #[error("The request body was not received in time")]
    ClientTimeout,
    /// The client's request body broke off (it went away).
    #[error("The request body could not be read")]
    ClientAborted,
    /// The request body is larger than [`BODY_LIMIT`].
    #[error("Request body exceeds the limit of {BODY_LIMIT} bytes")]
    TooLarge,
    /// Anything else that went wrong between us and the service.
    #[error("Gateway error")]
    Gateway,
}

impl ProxyError {
    fn status(&self) -> StatusCode {
        match self {
            ProxyError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::ClientTimeout => StatusCode::REQUEST_TIMEOUT,
            ProxyError::ClientAborted => StatusCode::BAD_REQUEST,
            ProxyError::Gateway => StatusCode::BAD_GATEWAY,
        }
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        Problem::new(self.status(), self.to_string()).into_response()
    }
}

/// A base URL that is not `http://host[:port][/path]`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an http://host:port URL")]
pub struct InvalidUpstream(String);

/// Where a service lives: its authority and an optional path prefix from the base URL.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    authority: Authority,
    prefix: Option<Box<str>>,
}

impl Target {
    pub(crate) fn parse(base: &str) -> Result<Target, InvalidUpstream> {
        let invalid = || InvalidUpstream(base.to_owned());
        let parsed: Uri = base.parse().map_err(|_| invalid())?;
        if parsed.scheme() != Some(&Scheme::HTTP) || parsed.query().is_some() {
            return Err(invalid());
        }
        let authority = parsed.authority().cloned().ok_or_else(invalid)?;
        let path = parsed.path().trim_end_matches('/');
        let prefix = (!path.is_empty()).then(|| path.into());
        Ok(Target { authority, prefix })
    }

    /// The upstream path and raw query for an incoming URI: the base URL's path, then the
    /// incoming one.
    fn path_and_query_for(&self, incoming: &Uri) -> Result<PathAndQuery, ProxyError> {
        let path_and_query = incoming.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        match &self.prefix {
            None => Ok(path_and_query),
            Some(prefix) => {
                PathAndQuery::try_from(format!("{prefix}{path_and_query}")).map_err(|_| ProxyError::Gateway)
            }
        }
    }

    /// The upstream URI for an incoming one: same path and raw query, service's authority.
    #[cfg(test)]
    fn uri_for(&self, incoming: &Uri) -> Result<Uri, ProxyError> {
        let mut parts = uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(self.path_and_query_for(incoming)?);
        Uri::from_parts(parts).map_err(|_| ProxyError::Gateway)
    }
}

/// One service behind the gateway.
#[derive(Debug)]
pub struct Upstream {
    service: &'static str,
    /// `None` when the base URL was unusable: every request then gets a 503 (logged), rather
    /// than the whole router failing to build.
    target: Option<Target>,
    client: HttpClient,
    timeout: Duration,
}

impl Upstream {
    /// The service named `service` (used in error details) at `base_url`, reached through
    /// `client`, which must answer with headers within `timeout`.
    pub fn new(service: &'static str, base_url: &str, client: HttpClient, timeout: Duration) -> Upstream {
        let target =
            Target::parse(base_url).inspect_err(|error| tracing::error!(service, %error, "unusable upstream URL")).ok();
        Upstream { service, target, client, timeout }
    }

    /// Forwards `request` and returns the service's response, body still streaming.
    pub async fn forward(&self, request: Request) -> Result<Response, ProxyError> {
        let target = self.target.as_ref().ok_or(ProxyError::Unavailable(self.service))?;
        let (parts, body) = request.into_parts();
        let declared = declared_length(&parts.headers);
        if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
            return Err(ProxyError::TooLarge);
        }
        let headers = forwarded_headers(parts.headers, &parts.extensions);
        let path_and_query = target.path_and_query_for(&parts.uri)?;
        let response = match kit::in_process::service_at(target.authority.as_str()) {
            Some(router) => self.call_in_process(router, parts.method, path_and_query, headers, body).await?,
            None => {
                let mut uri = uri::Parts::default();
                uri.scheme = Some(Scheme::HTTP);
                uri.authority = Some(target.authority.clone());
                uri.path_and_query = Some(path_and_query);
                let uri = Uri::from_parts(uri).map_err(|_| ProxyError::Gateway)?;
                self.call_over_tcp(parts.method, uri, headers, body, declared.is_some()).await?
            }
        };
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, body))
    }

    /// Over a pooled connection, streaming the request body as it arrives.
    async fn call_over_tcp(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Body,
        length_declared: bool,
    ) -> Result<Response, ProxyError> {
        let body = match length_declared {
            // hyper already holds a body with a declared length to exactly that many bytes.
            true => body,
            false if body.is_end_stream() => body,
            // Chunked: count as it streams; the overflow surfaces as a client error below.
            false => Body::new(Limited::new(body, BODY_LIMIT)),
        };
        // Whether the client has sent its whole body: a request still waiting on it when
        // the upstream timeout strikes is late by the client's fault, not the service's.
        let (body, body_sent) = if body.is_end_stream() {
            (body, None)
        } else {
            let sent = Arc::new(AtomicBool::new(false));
            (Body::new(Watched { inner: body, sent: sent.clone() }), Some(sent))
        };
        let mut outbound = Request::new(body);
        *outbound.method_mut() = method;
        *outbound.uri_mut() = uri;
        // Always HTTP/1.1 upstream so connections stay pooled whatever the caller spoke.
        *outbound.version_mut() = Version::HTTP_11;
        *outbound.headers_mut() = headers;

        match tokio::time::timeout(self.timeout, self.client.request(outbound)).await {
            Ok(Ok(response)) => Ok(response.map(Body::new)),
            Ok(Err(error)) => Err(self.classify(&error)),
            Err(_) if body_sent.is_some_and(|sent| !sent.load(Ordering::Acquire)) => {
                tracing::info!(service = self.service, "client still sending its request body at the upstream timeout");
                Err(ProxyError::ClientTimeout)
            }
            Err(_) => Err(self.timed_out()),
        }
    }

    /// To the service's router in this process (`shop up`). The request body is read whole
    /// first, under the same limits and deadline as over TCP, so a slow, broken or oversized
    /// upload fails here with the same answer (408, 400, 413) rather than inside the service.
    async fn call_in_process(
        &self,
        router: axum::Router,
        method: Method,
        path_and_query: PathAndQuery,
        headers: HeaderMap,
        body: Body,
    ) -> Result<Response, ProxyError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let body = if body.is_end_stream() {
            body
        } else {
            let collected = tokio::time::timeout_at(deadline, Limited::new(body, BODY_LIMIT).collect())
                .await
                .map_err(|_| ProxyError::ClientTimeout)?;
            match collected {
                Ok(collected) => Body::from(collected.to_bytes()),
                Err(error) if error.is::<LengthLimitError>() => return Err(ProxyError::TooLarge),
                Err(error) if kit::server::is_body_timeout(&*error) => {
                    tracing::info!(service = self.service, "client stopped sending its request body");
                    return Err(ProxyError::ClientTimeout);
                }
                Err(error) => {
                    tracing::debug!(service = self.service, error = %kit::http::error_chain(&*error), "client aborted its request");
                    return Err(ProxyError::ClientAborted);
                }
            }
        };
        let mut inbound = Request::new(body);
        *inbound.method_mut() = method;
        *inbound.uri_mut() = Uri::from(path_and_query);
        *inbound.version_mut() = Version::HTTP_11;
        *inbound.headers_mut() = headers;
        tokio::time::timeout_at(deadline, kit::in_process::call(router, inbound)).await.map_err(|_| self.timed_out())
    }

    fn timed_out(&self) -> ProxyError {
        tracing::warn!(service = self.service, timeout_ms = self.timeout.as_millis() as u64, "upstream timed out");
        ProxyError::Timeout(self.service)
    }

    fn classify(&self, error: &hyper_util::client::legacy::Error) -> ProxyError {
        if caused_by::<LengthLimitError>(error) {
            return ProxyError::TooLarge;
        }
        // The client's side of the exchange failed, not the service's: its body stalled or
        // it went away while sending.
        if kit::server::is_body_timeout(error) {
            tracing::info!(service = self.service, "client stopped sending its request body");
            return ProxyError::ClientTimeout;
        }
        if sent_body_failed(error) {
            tracing::debug!(service = self.service, error = %kit::http::error_chain(error), "client aborted its request");
            return ProxyError::ClientAborted;
        }
        tracing::warn!(service = self.service, error = %kit::http::error_chain(error), "upstream request failed");
        if error.is_connect() { ProxyError::Unavailable(self.service) } else { ProxyError::Gateway }
    }
}

/// The client's headers as the service gets them: hop-by-hop ones and any claim about the
/// client's identity removed, the gateway's view of the client, the request id and the
/// trace context added.
fn forwarded_headers(mut headers: HeaderMap, extensions: &axum::http::Extensions) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    // Identity of the client as the gateway saw it; never what the client claims.
    headers.remove(header::FORWARDED);
    headers.remove(X_REAL_IP);
    if let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<SocketAddr>>() {
        append_forwarded_for(&mut headers, *peer);
        if let Ok(ip) = HeaderValue::try_from(peer.ip().to_canonical().to_string()) {
            headers.insert(X_REAL_IP, ip);
        }
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    if let Ok(Ok(id)) = kit::problem::REQUEST_ID.try_with(|id| HeaderValue::from_str(id)) {
        headers.insert(X_REQUEST_ID, id);
    }
    // The upstream's span is a child of the gateway's (the client's traceparent, if any,
    // is the gateway span's parent).
    kit::trace::inject_current(&mut headers);
    headers
}

/// The axum handler for every proxied route.
pub async fn forward(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    match upstream.forward(request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// Removes hop-by-hop headers, including any the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|token| {
                !token.is_empty() && !token.eq_ignore_ascii_case("close") && !token.eq_ignore_ascii_case("keep-alive")
            })
            .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Appends the peer to `x-forwarded-for`, folding any earlier values into one list.
fn append_forwarded_for(headers: &mut HeaderMap, peer: SocketAddr) {
    let ip = peer.ip().to_canonical().to_string();
    let mut value = Vec::new();
    for existing in headers.get_all(&X_FORWARDED_FOR) {
        value.extend_from_slice(existing.as_bytes());
        value.extend_from_slice(b", ");
    }
    if value.is_empty() {
        if let Ok(value) = HeaderValue::try_from(ip) {
            headers.insert(X_FORWARDED_FOR, value);
        }
        return;
    }
    value.extend_from_slice(ip.as_bytes());
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(X_FORWARDED_FOR, value);
    }
}

/// A request body that records when it has been read to its end.
struct Watched {
    inner: Body,
    sent: Arc<AtomicBool>,
}

impl axum::body::HttpBody for Watched {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(None) = polled {
            self.sent.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether the request body we were streaming upstream failed (hyper marks errors of the
/// body it sends as user errors).
fn sent_body_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(cause) = current {
        if cause.downcast_ref::<hyper::Error>().is_some_and(|e| e.is_user()) {
            return true;
        }
        current = cause.source();
    }
    false
}

fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(cause) = current {
        if cause.is::<E>() {
            return true;
        }
        current = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, X-Secret, close"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert("x-custom", HeaderValue::from_static("kept"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert_eq!(headers.get("x-custom"), Some(&HeaderValue::from_static("kept")));
    }

    #[test]
    fn forwarded_for_appends_to_existing_list() {
        let peer = SocketAddr::from(([10, 1, 2, 3], 5555));
        let mut headers = HeaderMap::new();
        append_forwarded_for(&mut headers, peer);
        assert_eq!(headers.get(&X_FORWARDED_FOR), Some(&HeaderValue::from_static("10.1.2.3")));
        headers.append(&X_FORWARDED_FOR, HeaderValue::from_static("192.168.0.1"));
        append_forwarded_for(&mut headers, peer);
        let values: Vec<_> = headers.get_all(&X_FORWARDED_FOR).iter().collect();
        assert_eq!(values, [&HeaderValue::from_static("10.1.2.3, 192.168.0.1, 10.1.2.3")]);
    }

    #[test]
    fn target_keeps_path_and_query_and_applies_prefix() -> Result<(), Box<dyn std::error::Error>> {
        let incoming: Uri = "/api/products/1?a=b&c=%20".parse()?;
        let plain = Target::parse("http://127.0.0.1:8001")?;
        assert_eq!(plain.uri_for(&incoming)?, "http://127.0.0.1:8001/api/products/1?a=b&c=%20");
        let prefixed = Target::parse("http://svc:80/base/")?;
        assert_eq!(prefixed.uri_for(&incoming)?, "http://svc:80/base/api/products/1?a=b&c=%20");
        assert!(Target::parse("https://svc").is_err());
        assert!(Target::parse("svc:80").is_err());
        assert!(Target::parse("/relative").is_err());
        Ok(())
    }
}
