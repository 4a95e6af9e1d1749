//! A product service on fresh stores (through `testkit`), and the catalog-specific calls
//! and event reads the behaviours share.

use http::StatusCode;
use kit::bus::log::EventLog;
use product::domain::Product;
use product::{App, Config};
use serde_json::Value;
use std::sync::Arc;
pub use testkit::{Backend, Body, encode};
use testkit::{Client, EVENTUALLY, Running, Stores};

/// The topic every product change is published on.
pub const PRODUCT_UPDATED: &str = "product-updated";

/// A running service and what the tests need to observe it.
pub struct TestApp {
    /// The bus the service publishes to.
    pub events: EventLog,
    client: Client,
    _running: Running,
    stores: Stores,
}

impl std::ops::Deref for TestApp {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
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

/// Starts a service on fresh stores, or `None` when the backend's server is missing.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_seeded(backend, &[]).await
}

/// Like [`spawn_app`], with `seed` loaded through `App::seed_if_empty` before serving (for
/// documents the API cannot produce, such as chosen timestamps).
pub async fn spawn_app_seeded(backend: Backend, seed: &[Product]) -> Option<TestApp> {
    let stores = Stores::new(backend).await?;
    Some(start(stores, seed, None).await)
}

/// A service on `stores`, its store reached through `url` instead of the stores' own (a
/// proxy, say) when given.
pub async fn spawn_app_with(stores: Stores, url: Option<String>) -> TestApp {
    start(stores, &[], url).await
}

async fn start(stores: Stores, seed: &[Product], url: Option<String>) -> TestApp {
    let events = stores.event_log().await;
    let mut database = stores.options("product");
    if let Some(url) = url {
        database.url = url;
    }
    let config = Config {
        host: "127.0.0.1".into(),
        port: 0,
        database,
        inventory_service_url: None,
        auth: testkit::tokens::issuer().settings(None),
    };
    let app = App::build(config, Arc::new(events.clone())).await.expect("building the product service");
    if !seed.is_empty() {
        let seeded = app.seed_if_empty(seed).await.expect("seeding products");
        assert_eq!(seeded, seed.len() as u64, "every seed product was loaded");
    }
    let running = Running::spawn(app.port(), |stop| app.run_until_stopped(stop));
    TestApp {
        events,
        client: Client::new(running.base.clone()).with_token(&testkit::tokens::issuer().admin()),
        _running: running,
        stores,
    }
}

impl TestApp {
    /// Where its data lives.
    pub fn stores(&self) -> &Stores {
        &self.stores
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
        let matching = || async {
            let all = self.all_events().await;
            all.into_iter().filter(|e| e.payload["product_id"] == product_id).collect::<Vec<_>>()
        };
        let arrived = testkit::eventually(EVENTUALLY, || async { matching().await.len() >= count }).await;
        let events = matching().await;
        assert!(arrived, "expected {count} events for {product_id} within {EVENTUALLY:?}, got {events:#?}");
        events
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
