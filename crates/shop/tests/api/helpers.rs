//! Starting the platform for a test, and a small HTTP client.

use http::StatusCode;
use serde_json::Value;
use shop::platform::{self, Overrides, Platform, PlatformConfig, Ports, Stores};
use std::time::Duration;
pub use testkit::Backend;
use tokio_util::sync::CancellationToken;

/// The variables that place each listener of `shop up` (a test running the binary sets them
/// all, so nothing collides with a platform already on the default ports).
pub const PORT_VARS: [&str; 7] =
    ["GATEWAY_PORT", "PRODUCT_PORT", "ORDER_PORT", "INVENTORY_PORT", "NOTIFICATION_PORT", "AI_PORT", "IDENTITY_PORT"];

pub struct TestPlatform {
    pub platform: Option<Platform>,
    pub shutdown: CancellationToken,
    /// Where `.eml` files land.
    pub mail_dir: std::path::PathBuf,
    /// The Kafka namespace (topic prefix) when Kafka carries events.
    pub kafka: Option<kit::bus::kafka::KafkaConfig>,
    client: testkit::Client,
    _stores: testkit::Stores,
}

impl std::ops::Deref for TestPlatform {
    type Target = testkit::Client;
    fn deref(&self) -> &testkit::Client {
        &self.client
    }
}

pub struct Options {
    pub reservation_ttl: Duration,
    pub seed_demo: bool,
    /// Carry events on Kafka (`KAFKA_BROKERS`, or these brokers) in a fresh namespace.
    pub kafka: Option<Option<String>>,
    /// SQLite files and mail here instead of the test's temporary directory.
    pub data_dir: Option<std::path::PathBuf>,
    /// Requests per client and minute at the gateway: API, AI (0: no limit).
    pub rate_limits: (u32, u32),
    /// `AUTH_MODE` (default on).
    pub auth_mode: Option<kit::auth::AuthMode>,
    /// The AI service's follow-up email after each order (off by default: most tests count
    /// the order emails).
    pub ai_follow_up_emails: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reservation_ttl: Duration::from_secs(600),
            seed_demo: false,
            kafka: None,
            data_dir: None,
            rate_limits: (0, 0),
            auth_mode: None,
            ai_follow_up_emails: false,
        }
    }
}

/// Starts every service on free ports; `None` when the backend's server is missing (the
/// test is skipped, or fails under SHOP_REQUIRE_TEST_SERVERS=1).
pub async fn spawn(backend: Backend, options: Options) -> Option<TestPlatform> {
    let kafka = match options.kafka {
        None => None,
        Some(brokers) => Some(testkit::kafka_config(brokers)?),
    };
    let test_stores = testkit::Stores::new(backend).await?;
    let data_dir = options.data_dir.unwrap_or_else(|| test_stores.dir().to_owned());
    let stores = match test_stores.postgres_url() {
        None => Stores::Sqlite(data_dir.clone()),
        Some(url) => Stores::Postgres(url.to_owned()),
    };
    let mail_dir = data_dir.join("mail");
    let shutdown = CancellationToken::new();
    let config = PlatformConfig {
        host: "127.0.0.1".into(),
        ports: Ports::ANY,
        stores,
        pool_size: 8,
        seed_demo: options.seed_demo,
        kafka: kafka.clone(),
        mail: Some(notification::Transport::Files(mail_dir.clone())),
        overrides: Overrides {
            reservation_ttl: Some(options.reservation_ttl),
            admin_email: Some("admin@example.com".into()),
            email_retry_schedule: Some(vec![Duration::from_millis(200), Duration::from_millis(400)]),
            rate_limits: Some(options.rate_limits),
            auth_mode: options.auth_mode,
            ai_follow_up_emails: Some(options.ai_follow_up_emails),
        },
    };
    let platform = platform::start(config, shutdown.clone()).await.expect("platform starts");
    Some(TestPlatform {
        client: testkit::Client::new(platform.gateway_url()).with_token(
            &platform
                .issuer
                .mint(&identity::Subject::person("admin@example.com", &["admin", "user"], "tests"), 3600)
                .expect("a token"),
        ),
        platform: Some(platform),
        shutdown,
        mail_dir,
        kafka,
        _stores: test_stores,
    })
}

/// The platform with `AUTH_MODE=off`.
pub async fn spawn_open(backend: Backend) -> Option<TestPlatform> {
    spawn(backend, Options { auth_mode: Some(kit::auth::AuthMode::Off), ..Options::default() }).await
}

impl TestPlatform {
    /// Where the platform keeps its data.
    pub fn stores(&self) -> &testkit::Stores {
        &self._stores
    }

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

    /// The services' ports.
    pub fn ports(&self) -> shop::platform::Ports {
        self.platform.as_ref().expect("running").ports
    }

    pub fn inventory_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.platform.as_ref().expect("running").ports.inventory)
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
