//! Starting the platform for a test, and a small HTTP client.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use shop::platform::{self, Platform, PlatformConfig, Ports, Stores};

use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestPlatform {
    pub base: String,
    pub platform: Option<Platform>,
    pub shutdown: CancellationToken,
    /// Where `.eml` files land.
    pub mail_dir: std::path::PathBuf,
    /// The Kafka namespace (topic prefix) when Kafka carries events.
    pub kafka: Option<kit::bus::kafka::KafkaConfig>,
    client: Client<HttpConnector, Full<Bytes>>,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or_default()
    }
}

pub struct Options {
    pub reservation_ttl: Duration,
    pub seed_demo: bool,
    /// Carry events on Kafka (`KAFKA_BROKERS`, or these brokers) in a fresh namespace.
    pub kafka: Option<Option<String>>,
}

impl Default for Options {
    fn default() -> Self {
        Options { reservation_ttl: Duration::from_secs(600), seed_demo: false, kafka: None }
    }
}

/// Kafka settings in a namespace of their own, or `None` (skip/fail) without brokers.
pub fn kafka_config(brokers: Option<String>) -> Option<kit::bus::kafka::KafkaConfig> {
    let brokers = match brokers.or_else(|| std::env::var("KAFKA_BROKERS").ok()) {
        Some(b) => b,
        None => return kit::testing::missing_server("Kafka (KAFKA_BROKERS)"),
    };
    Some(kit::bus::kafka::KafkaConfig {
        brokers,
        partitions: 2,
        replication: 1,
        delivery_timeout: Duration::from_secs(2),
        namespace: format!("t{}.", uuid::Uuid::now_v7().simple()),
    })
}

/// Starts every service on free ports; `None` when the backend's server is missing (the
/// test is skipped, or fails under SHOP_REQUIRE_TEST_SERVERS=1).
pub async fn spawn(backend: Backend, options: Options) -> Option<TestPlatform> {
    if std::env::var("TEST_LOG").is_ok() {
        kit::telemetry::init(kit::telemetry::LogFormat::Pretty);
    }
    let kafka = match options.kafka {
        None => None,
        Some(brokers) => Some(kafka_config(brokers)?),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let stores = match backend {
        Backend::Sqlite => Stores::Sqlite(dir.path().to_owned()),
        Backend::Postgres => Stores::Postgres(kit::testing::fresh_postgres().await?),
    };
    let mail_dir = dir.path().join("mail");
    let shutdown = CancellationToken::new();
    let config = PlatformConfig {
        host: "127.0.0.1".into(),
        ports: Ports::ANY,
        stores,
        pool_size: 8,
        reservation_ttl: options.reservation_ttl,
        seed_demo: options.seed_demo,
        kafka: kafka.clone(),
        mail: Some(notification::Transport::Files(mail_dir.clone())),
        admin_email: "admin@example.com".into(),
    };
    let platform = platform::start(config, shutdown.clone()).await.expect("platform starts");
    Some(TestPlatform {
        base: platform.gateway_url(),
        platform: Some(platform),
        shutdown,
        mail_dir,
        kafka,
        client: Client::builder(TokioExecutor::new()).build_http(),
        _dir: dir,
    })
}

impl TestPlatform {
    pub fn events(&self) -> &kit::bus::log::EventLog {
        &self.platform.as_ref().expect("running").events
    }

    /// The `.eml` files written so far, as text.
    pub fn emails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.mail_dir) else { return Vec::new() };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }

    /// Emails whose raw text contains every one of `needles`.
    pub fn emails_with(&self, needles: &[&str]) -> Vec<String> {
        self.emails().into_iter().filter(|e| needles.iter().all(|n| e.contains(n))).collect()
    }

    pub fn inventory_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.platform.as_ref().expect("running").ports.inventory)
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{}", self.base, path) };
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        let response = self.client.request(request.body(Full::new(body)).expect("request")).await.expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: Option<Value>) -> Reply {
        self.call(Method::PATCH, path, body, &[]).await
    }

    /// Creates a product and its stock.
    pub async fn stock_product(&self, id: &str, price: f64, quantity: i64) {
        let created = self
            .post(
                "/api/products",
                serde_json::json!({
                    "id": id, "name": format!("Product {id}"), "description": "test product",
                    "price": price, "category": "Test"
                }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let stocked = self
            .post(
                "/api/inventory",
                serde_json::json!({"product_id": id, "product_name": format!("Product {id}"), "quantity": quantity}),
            )
            .await;
        assert_eq!(stocked.status, StatusCode::CREATED, "{:?}", stocked.body);
    }

    pub async fn stock(&self, product_id: &str) -> (i64, i64, i64) {
        let item = self.get(&format!("/api/inventory/{product_id}")).await;
        assert_eq!(item.status, StatusCode::OK, "{:?}", item.body);
        let n = |k: &str| item.body[k].as_i64().unwrap_or(-1);
        (n("quantity"), n("reserved_qty"), n("available_qty"))
    }

    /// Polls `check` until it holds or `timeout` passes; returns whether it held.
    pub async fn eventually<F, Fut>(&self, timeout: Duration, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if check().await {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn order_body(email: &str, lines: &[(&str, i64)]) -> Value {
    serde_json::json!({
        "customer_name": "Test Customer",
        "customer_email": email,
        "items": lines.iter().map(|(id, q)| serde_json::json!({"product_id": id, "quantity": q})).collect::<Vec<_>>(),
    })
}
