//! The outbound client for service-to-service calls: pooled keep-alive connections, a
//! deadline on every call, and retries only where they are safe (the connection was never
//! made, so the request never left).

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde::{Serialize, de::DeserializeOwned};
use std::time::Duration;

/// A call to another service that did not give the expected answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made.
    #[error("{service} unavailable: {reason}")]
    Unavailable {
        /// The peer.
        service: &'static str,
        /// Why.
        reason: String,
    },
    /// No answer within the deadline.
    #[error("{service} timed out")]
    Timeout {
        /// The peer.
        service: &'static str,
    },
    /// The peer answered with an error status.
    #[error("{service} answered {status}: {detail}")]
    Status {
        /// The peer.
        service: &'static str,
        /// Its status.
        status: StatusCode,
        /// Its `detail`, or the body.
        detail: String,
    },
    /// The peer's body was not what we expected.
    #[error("{service} sent an unreadable body: {reason}")]
    Decode {
        /// The peer.
        service: &'static str,
        /// Why.
        reason: String,
    },
}

/// A client for one peer service.
#[derive(Clone, Debug)]
pub struct ServiceClient {
    service: &'static str,
    base: String,
    /// `host:port` of `base`, to find the peer when it runs in this process.
    authority: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
    /// This service's credential, presented on every call.
    token: Option<std::sync::Arc<crate::auth::ServiceToken>>,
}

/// Connection attempts for one call (the first plus retries).
const CONNECT_ATTEMPTS: u32 = 3;

impl ServiceClient {
    /// A client for `service` at `base` (`http://host:port`).
    pub fn new(service: &'static str, base: impl Into<String>, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(3)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        let base = base.into();
        let authority = base.parse::<http::Uri>().ok().and_then(|uri| uri.authority().map(|a| a.as_str().to_owned()));
        ServiceClient { service, base, authority, client, timeout, token: None }
    }

    /// The same client presenting `token` (this service's credential) on every call, renewed
    /// once when a peer answers 401.
    pub fn with_token(mut self, token: Option<std::sync::Arc<crate::auth::ServiceToken>>) -> Self {
        self.token = token;
        self
    }

    /// `GET` and decode JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let bytes = self.call(Method::GET, path, None).await?;
        self.decode(&bytes)
    }

    /// Sends `body` as JSON and decodes the JSON answer.
    pub async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| ClientError::Decode { service: self.service, reason: e.to_string() })?;
        let bytes = self.call(method, path, Some(Bytes::from(body))).await?;
        self.decode(&bytes)
    }

    /// A call whose answer body is ignored.
    pub async fn send(&self, method: Method, path: &str) -> Result<(), ClientError> {
        self.call(method, path, None).await.map(|_| ())
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(bytes).map_err(|e| ClientError::Decode { service: self.service, reason: e.to_string() })
    }

    async fn call(&self, method: Method, path: &str, body: Option<Bytes>) -> Result<Bytes, ClientError> {
        let uri = format!("{}{}", self.base, path);
        let mut attempt = 0;
        let mut renewed = false;
        let mut backoff = crate::retry::Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
        loop {
            attempt += 1;
            let mut request =
                Request::builder().method(method.clone()).uri(&uri).header(header::ACCEPT, "application/json");
            if body.is_some() {
                request = request.header(header::CONTENT_TYPE, "application/json");
            }
            if let Some(id) = crate::problem::current_request_id() {
                request = request.header("x-request-id", id);
            }
            if let Some(token) = &self.token {
                let bearer = token.bearer().await.map_err(|e| ClientError::Unavailable {
                    service: self.service,
                    reason: format!("no service credential: {e}"),
                })?;
                request = request.header(header::AUTHORIZATION, format!("Bearer {bearer}"));
            }
            if let Some(headers) = request.headers_mut() {
                crate::trace::inject_current(headers);
            }
            let request = request
                .body(Full::new(body.clone().unwrap_or_default()))
                .map_err(|e| ClientError::Unavailable { service: self.service, reason: e.to_string() })?;
            let in_process = self.authority.as_deref().and_then(crate::in_process::service_at);
            let response = match in_process {
                Some(router) => {
                    let call = crate::in_process::call(router, request.map(axum::body::Body::new));
                    tokio::time::timeout(self.timeout, call)
                        .await
                        .map_err(|_| ClientError::Timeout { service: self.service })?
                }
                None => match tokio::time::timeout(self.timeout, self.client.request(request)).await {
                    Err(_) => return Err(ClientError::Timeout { service: self.service }),
                    Ok(Err(err)) if err.is_connect() && attempt < CONNECT_ATTEMPTS => {
                        backoff.sleep().await;
                        continue;
                    }
                    Ok(Err(err)) => {
                        return Err(ClientError::Unavailable { service: self.service, reason: error_chain(&err) });
                    }
                    Ok(Ok(response)) => response.map(axum::body::Body::new),
                },
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED
                && !renewed
                && let Some(token) = &self.token
            {
                // Revoked, or the issuer's keys rotated: one fresh token, one more try.
                token.invalidate().await;
                renewed = true;
                continue;
            }
            let collected = tokio::time::timeout(self.timeout, response.into_body().collect())
                .await
                .map_err(|_| ClientError::Timeout { service: self.service })?
                .map_err(|e| ClientError::Unavailable { service: self.service, reason: e.to_string() })?;
            let bytes = collected.to_bytes();
            if status.is_success() {
                return Ok(bytes);
            }
            let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ClientError::Status { service: self.service, status, detail });
        }
    }
}

/// An error and all its causes on one line (`outer: cause: root`), for logs.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
