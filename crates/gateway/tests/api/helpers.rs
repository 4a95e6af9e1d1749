//! Echo upstreams, a running gateway, and a client.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use gateway::{App, Config};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long the slow endpoint sleeps before answering.
pub const SLOW: Duration = Duration::from_secs(2);

/// Starts an upstream that answers every path by echoing the request as JSON, tagged with
/// `name`; a few paths behave specially (see `respond`).
pub async fn spawn_upstream(name: &'static str) -> Result<String, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = Router::new().fallback(move |request: Request| respond(name, request)).layer(DefaultBodyLimit::disable());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn respond(name: &'static str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if path.ends_with("/ping") {
        return "pong".into_response();
    }
    if path.ends_with("/slow") {
        tokio::time::sleep(SLOW).await;
        return "late".into_response();
    }
    if path.ends_with("/teapot") {
        let mut response = (StatusCode::IM_A_TEAPOT, "short and stout").into_response();
        let headers = response.headers_mut();
        headers.insert("x-upstream", HeaderValue::from_static("yes"));
        headers.insert("connection", HeaderValue::from_static("x-internal"));
        headers.insert("x-internal", HeaderValue::from_static("secret"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        return response;
    }
    if path.ends_with("/first-chunk") {
        // Answers with the first piece of the body without waiting for the rest.
        let first = body.into_data_stream().next().await;
        return match first {
            Some(Ok(chunk)) => chunk.into_response(),
            _ => StatusCode::BAD_REQUEST.into_response(),
        };
    }
    if path.ends_with("/stream") {
        // "first" now, "second" only after SLOW: a buffering proxy would hold "first" back.
        let chunks = futures_util::stream::unfold(0u8, |step| async move {
            match step {
                0 => Some((Ok::<_, std::convert::Infallible>(Bytes::from_static(b"first")), 1)),
                1 => {
                    tokio::time::sleep(SLOW).await;
                    Some((Ok(Bytes::from_static(b"second")), 2))
                }
                _ => None,
            }
        });
        return Body::from_stream(chunks).into_response();
    }
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into()))
        .collect();
    axum::Json(serde_json::json!({
        "upstream": name,
        "method": parts.method.as_str(),
        "path": path,
        "query": parts.uri.query(),
        "headers": headers,
        "header_count": parts.headers.len(),
        "body_len": body.len(),
        "body": if body.len() <= 1024 { String::from_utf8_lossy(&body).into_owned() } else { String::new() },
    }))
    .into_response()
}

/// A port nothing listens on: bound, read, released.
pub async fn closed_port_url() -> Result<String, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    drop(listener);
    Ok(url)
}

/// Config for a gateway on a free port with the given upstreams.
pub fn config(product: &str, order: &str, inventory: &str, upstream_timeout: Duration) -> Config {
    Config {
        host: "127.0.0.1".to_owned(),
        port: 0,
        product_url: product.to_owned(),
        order_url: order.to_owned(),
        inventory_url: inventory.to_owned(),
        notification_url: inventory.to_owned(),
        ai_url: inventory.to_owned(),
        auth: kit::auth::AuthSettings::off(),
        rate_limit_per_minute: 0,
        ai_rate_limit_per_minute: 0,
        trusted_proxies: Vec::new(),
        cors_origins: Vec::new(),
        storefront_client_id: "api-gateway".to_owned(),
        public_url: None,
        connect_timeout: Duration::from_secs(3),
        upstream_timeout,
        // Two event loops, as `shop serve gateway` runs on two cores.
        workers: 2,
    }
}

/// A running gateway (its client derefs to `testkit::Client`), stopped when dropped.
pub struct Gateway {
    pub base: String,
    client: testkit::Client,
    _running: testkit::Running,
}

impl std::ops::Deref for Gateway {
    type Target = testkit::Client;
    fn deref(&self) -> &testkit::Client {
        &self.client
    }
}

/// Starts the gateway for `config`.
pub async fn spawn_gateway(config: Config) -> Result<Gateway, Error> {
    let app = App::build(config).await?;
    let running = testkit::Running::spawn(app.port(), |stop| app.run_until_stopped(stop));
    Ok(Gateway { base: running.base.clone(), client: testkit::Client::new(running.base.clone()), _running: running })
}

/// Three distinct echo upstreams behind one gateway.
pub async fn echo_gateway() -> Result<Gateway, Error> {
    let config = config(
        &spawn_upstream("product").await?,
        &spawn_upstream("order").await?,
        &spawn_upstream("inventory").await?,
        Duration::from_secs(5),
    );
    spawn_gateway(config).await
}

/// A client that can stream request bodies (for the tests of streaming and chunked bodies;
/// everything else goes through `testkit::Client`).
pub fn client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Sends `request` with a streaming body and reads the whole answer, within a deadline so a
/// hang fails the test instead of stalling it.
pub async fn send(request: axum::http::Request<Body>) -> Result<testkit::Reply, Error> {
    let response = tokio::time::timeout(Duration::from_secs(10), client().request(request)).await??;
    let (parts, body) = response.into_parts();
    let bytes = tokio::time::timeout(Duration::from_secs(10), body.collect()).await??.to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| serde_json::Value::String(text.clone()));
    Ok(testkit::Reply { status: parts.status, headers: parts.headers, body, text })
}
