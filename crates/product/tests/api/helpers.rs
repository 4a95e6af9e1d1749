//! Starting a product service on a fresh database, talking HTTP to it, and reading what it
//! published on the event log.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use kit::bus::log::EventLog;
use kit::db::DbOptions;
use product::domain::Product;
use product::{App, Config};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// The topic every product change is published on.
pub const PRODUCT_UPDATED: &str = "product-updated";

/// How long to wait for the outbox relay to publish an event.
const EVENT_WAIT: Duration = Duration::from_secs(5);

/// Which store the service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Files in a temporary directory.
    Sqlite,
    /// A fresh database on the `TEST_DATABASE_URL` server.
    Postgres,
}

/// A running service and what the tests need to observe it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The bus the service publishes to.
    pub events: EventLog,
    /// Cancelled on drop, which stops the server and the relay.
    pub shutdown: CancellationToken,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Keeps the SQLite files alive as long as the service.
    _dir: Option<TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A request body.
pub enum Body {
    /// No body.
    Empty,
    /// A JSON value, sent as `application/json`.
    Json(Value),
    /// Raw text, sent as `application/json` (for malformed documents).
    Raw(&'static str),
}

/// An answer: status, headers and the body as JSON (`Null` if empty, a JSON string holding
/// the text if it is not JSON).
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Response {
    /// The `Content-Type` header.
    pub fn content_type(&self) -> &str {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Asserts a problem+json answer with `status`; returns its `detail`.
    #[track_caller]
    pub fn assert_problem(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        assert_eq!(self.content_type(), "application/problem+json", "body: {}", self.body);
        assert_eq!(self.body["status"], status.as_u16(), "problem status field: {}", self.body);
        assert!(self.body["title"].is_string(), "problem title: {}", self.body);
        self.body["detail"].as_str().unwrap_or_else(|| panic!("problem without detail: {}", self.body)).to_owned()
    }

    /// Asserts a 422 problem; returns the fields it names in `errors[].field`.
    #[track_caller]
    pub fn assert_invalid(&self) -> Vec<String> {
        self.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        self.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("422 without errors[]: {}", self.body))
            .iter()
            .map(|e| e["field"].as_str().unwrap_or_else(|| panic!("error without field: {e}")).to_owned())
            .collect()
    }

    /// Asserts a 200/201 JSON answer with `status`; returns the body.
    #[track_caller]
    pub fn assert_json(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        assert!(self.content_type().starts_with("application/json"), "content type {}", self.content_type());
        self.body
    }
}

/// One `product-updated` message, as read back from the log.
#[derive(Debug, Clone)]
pub struct Event {
    /// The message key.
    pub key: String,
    /// The topic it was read from.
    pub topic: String,
    /// The decoded JSON value.
    pub payload: Value,
}

/// Starts a service on a fresh store, or `None` when the backend's server is missing (a
/// skipped test, per `kit::testing`).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_seeded(backend, &[]).await
}

/// Like [`spawn_app`], with `seed` loaded through `App::seed_if_empty` before serving (for documents
/// the API cannot produce, such as chosen timestamps).
pub async fn spawn_app_seeded(backend: Backend, seed: &[Product]) -> Option<TestApp> {
    let (dir, database, event_db) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("creating a temp dir");
            let path = dir.path().display().to_string();
            let database = options(format!("sqlite://{path}/product.db"), "product");
            let event_db = options(format!("sqlite://{path}/events.db"), "eventlog");
            (Some(dir), database, event_db)
        }
        Backend::Postgres => {
            let url = kit::testing::fresh_postgres().await?;
            (None, options(url.clone(), "product"), options(url, "eventlog"))
        }
    };
    let event_pool = kit::db::connect(&event_db, &kit::bus::log::MIGRATIONS).await.expect("opening the event log");
    let events = EventLog::new(event_pool);
    let config = Config { host: "127.0.0.1".into(), port: 0, database };
    let app = App::build(config, Arc::new(events.clone())).await.expect("building the product service");
    if !seed.is_empty() {
        let seeded = app.seed_if_empty(seed).await.expect("seeding products");
        assert_eq!(seeded, seed.len() as u64, "every seed product was loaded");
    }
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    Some(TestApp { base, events, shutdown, client, _dir: dir })
}

fn options(url: String, schema: &str) -> DbOptions {
    DbOptions { url, schema: schema.into(), max_connections: 4 }
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl TestApp {
    /// Sends a request to `path` (relative to the service) and reads the whole answer.
    pub async fn request(&self, method: Method, path: &str, body: Body) -> Response {
        let mut request = Request::builder().method(method.clone()).uri(format!("{}{}", self.base, path));
        let bytes = match body {
            Body::Empty => Bytes::new(),
            Body::Json(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(&value).expect("serialising a request body"))
            }
            Body::Raw(text) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from_static(text.as_bytes())
            }
        };
        let request = request.body(Full::new(bytes)).expect("building a request");
        let response = tokio::time::timeout(Duration::from_secs(10), self.client.request(request))
            .await
            .unwrap_or_else(|_| panic!("{method} {path} timed out"))
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("reading a response body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Response { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, Body::Empty).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path, Body::Json(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.request(Method::PUT, path, Body::Json(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, Body::Json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path, Body::Empty).await
    }

    /// Creates a product, asserting 201; returns the stored document.
    pub async fn create(&self, body: Value) -> Value {
        self.post("/api/products", body).await.assert_json(StatusCode::CREATED)
    }

    /// `GET /api/products?<query>`, asserting 200.
    pub async fn list(&self, query: &str) -> Value {
        self.get(&format!("/api/products?{query}")).await.assert_json(StatusCode::OK)
    }

    /// The ids of a list page, in order.
    pub async fn list_ids(&self, query: &str) -> Vec<String> {
        ids(&self.list(query).await["products"])
    }

    /// The `total` of an unfiltered list.
    pub async fn total(&self) -> i64 {
        self.list("").await["total"].as_i64().expect("total is an integer")
    }

    /// `GET /api/products/search?q=<q>` (encoded), asserting 200; the ids found, in order.
    pub async fn search_ids(&self, q: &str) -> Vec<String> {
        let body = self.get(&format!("/api/products/search?q={}", encode(q))).await.assert_json(StatusCode::OK);
        assert!(body.is_array(), "search answers a bare array: {body}");
        ids(&body)
    }

    /// Every `product-updated` event published so far.
    pub async fn all_events(&self) -> Vec<Event> {
        self.events
            .read_all(PRODUCT_UPDATED)
            .await
            .expect("reading the event log")
            .into_iter()
            .map(|m| Event {
                key: m.key,
                topic: m.topic,
                payload: serde_json::from_slice(&m.payload).expect("event payloads are JSON"),
            })
            .collect()
    }

    /// The events about `product_id`, once at least `count` have been published (the relay
    /// publishes asynchronously); fails after a few seconds.
    pub async fn events_for(&self, product_id: &str, count: usize) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + EVENT_WAIT;
        loop {
            let events: Vec<Event> =
                self.all_events().await.into_iter().filter(|e| e.payload["product_id"] == product_id).collect();
            if events.len() >= count {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} events for {product_id} within {EVENT_WAIT:?}, got {events:#?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The `id`s of an array of products.
pub fn ids(products: &Value) -> Vec<String> {
    products
        .as_array()
        .unwrap_or_else(|| panic!("expected an array of products: {products}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap_or_else(|| panic!("product without id: {p}")).to_owned())
        .collect()
}

/// A valid create body for `id`, with `overrides` merged over the defaults.
pub fn product(id: &str, overrides: Value) -> Value {
    let mut body = serde_json::json!({
        "id": id,
        "name": format!("Product {id}"),
        "description": "A fine product",
        "price": 10.0,
        "category": "General",
        "stock_quantity": 3,
    });
    if let (Some(body), Some(overrides)) = (body.as_object_mut(), overrides.as_object()) {
        for (k, v) in overrides {
            body.insert(k.clone(), v.clone());
        }
    }
    body
}
