//! A real product service and the AI service on fresh stores and one embedded event log
//! (through `testkit`), plus the calls the behaviours share.

use ai::config::{LlmConfig, ProviderKind, Secret};
use ai::retrieval::synonyms::{self, Synonyms};
use contracts::events::{Envelope, Event};
use http::StatusCode;
use kit::bus::EventBus;
use kit::bus::log::EventLog;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
pub use testkit::{Backend, EVENTUALLY};
use testkit::{Client, Running, Stores};

/// The platform slice under test.
pub struct TestApp {
    /// The AI service.
    pub ai: Client,
    /// The product service.
    pub products: Client,
    /// The event log both use.
    pub events: EventLog,
    _ai: Running,
    _product: Running,
    _stores: Stores,
}

impl std::ops::Deref for TestApp {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.ai
    }
}

/// Options of a test platform.
pub struct Options {
    /// The language model.
    pub llm: LlmConfig,
    /// Products created through the product API before the AI service starts.
    pub catalog: Vec<Value>,
    /// A sentence-embedding model.
    pub model_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options { llm: LlmConfig::offline(), catalog: demo_like_catalog(), model_dir: None }
    }
}

/// An LLM configuration pointing at a local mock of `provider`.
pub fn llm(provider: ProviderKind, base_url: &str) -> LlmConfig {
    LlmConfig {
        provider,
        base_url: base_url.to_owned(),
        api_key: Some(Secret::new("test-key-123")),
        model: "test-model".into(),
        timeout: Duration::from_millis(700),
        rate_per_minute: 600,
        breaker_failures: 3,
        breaker_cooldown: Duration::from_millis(800),
        cache_ttl: Duration::ZERO,
        cache_entries: 0,
        max_tokens: 256,
    }
}

/// Starts both services, or `None` when the backend's server is missing.
pub async fn spawn(backend: Backend, options: Options) -> Option<TestApp> {
    let stores = Stores::new(backend).await?;
    let events = stores.event_log().await;
    let bus: Arc<dyn EventBus> = Arc::new(events.clone());
    let product_app = product::App::build(
        product::Config {
            host: "127.0.0.1".into(),
            port: 0,
            database: stores.options("product"),
            inventory_service_url: None,
            auth: testkit::tokens::issuer().settings(None),
        },
        bus.clone(),
    )
    .await
    .expect("building the product service");
    let product_running = Running::spawn(product_app.port(), |stop| product_app.run_until_stopped(stop));
    let products = Client::new(product_running.base.clone()).with_token(&testkit::tokens::issuer().admin());
    for body in &options.catalog {
        products.post("/api/products", body.clone()).await.assert_json(StatusCode::CREATED);
    }
    let config = ai::Config {
        host: "127.0.0.1".into(),
        port: 0,
        database: stores.options("ai"),
        product_service_url: product_running.base.clone(),
        peer_timeout: Duration::from_secs(5),
        data_dir: stores.dir().join("ai"),
        llm: options.llm,
        embedding_model_dir: options.model_dir,
        synonyms: Synonyms::new(synonyms::builtin()),
        follow_up_emails: true,
        auth: testkit::tokens::issuer().settings(Some("ai-service")),
    };
    let ai_app = ai::App::build(config, bus).await.expect("building the AI service");
    let ai_running = Running::spawn(ai_app.port(), |stop| ai_app.run_until_stopped(stop));
    let ai = Client::new(ai_running.base.clone());
    let ready = testkit::eventually(Duration::from_secs(30), || async {
        ai.try_request(http::Method::GET, "/ready", testkit::Body::Empty, &[])
            .await
            .is_ok_and(|r| r.status == StatusCode::OK)
    })
    .await;
    assert!(ready, "the AI service became ready");
    Some(TestApp { ai, products, events, _ai: ai_running, _product: product_running, _stores: stores })
}

/// Starts the platform or returns from the test when its backend is unavailable.
#[macro_export]
macro_rules! app {
    ($backend:expr) => {
        $crate::app!($backend, $crate::helpers::Options::default())
    };
    ($backend:expr, $options:expr) => {
        match $crate::helpers::spawn($backend, $options).await {
            Some(app) => app,
            None => return,
        }
    };
}

impl TestApp {
    /// `POST /api/ai/chat {message}`, asserting 200.
    pub async fn chat(&self, message: &str) -> Value {
        self.post("/api/ai/chat", json!({ "message": message })).await.assert_json(StatusCode::OK)
    }

    /// `POST /api/ai/suggest {query}`, asserting 200.
    pub async fn suggest(&self, query: &str) -> Value {
        self.post("/api/ai/suggest", json!({ "query": query })).await.assert_json(StatusCode::OK)
    }

    /// The ids of the suggest matches.
    pub async fn suggest_ids(&self, query: &str) -> Vec<String> {
        ids(&self.suggest(query).await["matches"])
    }

    /// Publishes an event on the log.
    pub async fn publish<T: Event>(&self, envelope: &Envelope<T>) {
        self.events.publish(&[kit::outbox::message(envelope)]).await.expect("publishing");
    }

    /// Every value published on `topic`.
    pub async fn topic(&self, topic: &str) -> Vec<Value> {
        self.events
            .read_all(topic)
            .await
            .expect("reading the log")
            .into_iter()
            .map(|m| serde_json::from_slice(&m.payload).expect("JSON payload"))
            .collect()
    }
}

/// The `id`s of an array of products.
pub fn ids(products: &Value) -> Vec<String> {
    products
        .as_array()
        .unwrap_or_else(|| panic!("expected an array: {products}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap_or_else(|| panic!("no id: {p}")).to_owned())
        .collect()
}

fn product(id: &str, name: &str, category: &str, price: f64, tags: &[&str], description: &str) -> Value {
    json!({
        "id": id, "name": name, "category": category, "price": price, "tags": tags,
        "description": description, "stock_quantity": 10,
    })
}

/// A small catalog shaped like the demo one, with cheaper headphones and confusers.
pub fn demo_like_catalog() -> Vec<Value> {
    vec![
        product(
            "prod-001",
            "iPhone 15 Pro",
            "Electronics",
            999.99,
            &["smartphone", "apple"],
            "Apple's titanium flagship phone.",
        ),
        product(
            "prod-002",
            "Samsung Galaxy S24",
            "Electronics",
            799.99,
            &["smartphone", "android"],
            "Android phone with a triple camera.",
        ),
        product(
            "prod-004",
            "MacBook Air 13 M3",
            "Electronics",
            1099.0,
            &["laptop", "apple"],
            "Fanless laptop with all-day battery.",
        ),
        product(
            "prod-006",
            "Sony WH-1000XM5 Headphones",
            "Electronics",
            399.99,
            &["headphones", "wireless", "noise-cancelling"],
            "Over-ear wireless headphones with noise cancelling.",
        ),
        product(
            "prod-007",
            "AirPods Pro (2nd generation)",
            "Electronics",
            249.0,
            &["earbuds", "wireless"],
            "In-ear buds with adaptive audio.",
        ),
        product(
            "prod-050",
            "Anker Soundcore Q30 Headphones",
            "Electronics",
            79.99,
            &["headphones", "wireless", "bluetooth"],
            "Wireless over-ear headphones with 40-hour battery.",
        ),
        product(
            "prod-051",
            "JBL Tune 510BT Headphones",
            "Electronics",
            49.95,
            &["headphones", "wireless"],
            "Lightweight wireless on-ear headphones.",
        ),
        product(
            "prod-052",
            "Sennheiser HD 280 Pro Headphones",
            "Electronics",
            99.0,
            &["headphones", "wired", "studio"],
            "Closed-back wired studio headphones.",
        ),
        product(
            "prod-010",
            "Logitech MX Master 3S",
            "Electronics",
            99.99,
            &["mouse", "wireless"],
            "Ergonomic wireless mouse with quiet clicks.",
        ),
        product(
            "prod-012",
            "Anker 737 Power Bank",
            "Electronics",
            109.99,
            &["charger", "portable"],
            "24,000 mAh power bank.",
        ),
        product(
            "prod-013",
            "Clean Code",
            "Books",
            37.99,
            &["programming"],
            "Robert C. Martin's handbook of agile software craftsmanship.",
        ),
        product(
            "prod-016",
            "The Rust Programming Language",
            "Books",
            39.95,
            &["programming", "rust"],
            "The official book on Rust.",
        ),
        product("prod-020", "Dune", "Books", 10.99, &["fiction", "science-fiction"], "Frank Herbert's desert epic."),
        product(
            "prod-022",
            "Nespresso Vertuo Next",
            "Home & Kitchen",
            159.0,
            &["coffee", "espresso"],
            "Capsule machine brewing coffee and espresso.",
        ),
        product(
            "prod-029",
            "Yeti Rambler 20 oz Tumbler",
            "Sports & Outdoors",
            35.0,
            &["drinkware", "insulated"],
            "Vacuum-insulated tumbler that keeps drinks cold or hot.",
        ),
        product(
            "prod-031",
            "Manduka PRO Yoga Mat",
            "Sports & Outdoors",
            129.0,
            &["yoga", "fitness"],
            "6 mm dense-cushion yoga mat.",
        ),
        product(
            "prod-037",
            "Levi's 501 Original Jeans",
            "Clothing",
            69.5,
            &["jeans", "denim"],
            "The original straight-fit jean.",
        ),
        product(
            "prod-060",
            "Victor Mouse Trap 4-Pack",
            "Home & Kitchen",
            8.99,
            &["pest control"],
            "Snap traps that catch mice.",
        ),
    ]
}
