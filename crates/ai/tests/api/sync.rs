//! The AI service following the platform: catalog changes and placed orders.

use crate::helpers::{Backend, EVENTUALLY, TestApp, ids};
use contracts::Money;
use contracts::events::{Envelope, OrderEvent, OrderEventItem, OrderEventKind, ProductChange, ProductEvent, topics};
use http::StatusCode;
use serde_json::json;
use std::time::Duration;

pub async fn created_updated_and_deleted_products_reach_answers_within_seconds(backend: Backend) {
    let app: TestApp = crate::app!(backend);
    let within = Duration::from_secs(5);
    app.products
        .post(
            "/api/products",
            json!({"id": "prod-900", "name": "Zephyr Kite", "description": "A stunt kite for windy beaches.",
                   "price": 45.0, "category": "Toys", "tags": ["kite"], "stock_quantity": 3}),
        )
        .await
        .assert_json(StatusCode::CREATED);
    let created = testkit::eventually(within, || async { app.suggest_ids("stunt kite").await == ["prod-900"] }).await;
    assert!(created, "a created product is found within {within:?}");

    app.products.patch("/api/products/prod-900", json!({"name": "Boreas Glider", "price": 55.0})).await;
    let updated = testkit::eventually(within, || async {
        let answer = app.chat("boreas glider").await;
        ids(&answer["products"]) == ["prod-900"] && answer["reply"].as_str().unwrap().contains("$55.00")
    })
    .await;
    assert!(updated, "an update (name and price) shows within {within:?}");
    assert!(app.suggest_ids("zephyr").await.is_empty(), "the old name is gone");

    // A replayed older version (a redelivery, a new consumer group reading from the start)
    // never brings the old name back.
    let stale = Envelope::new(ProductEvent {
        change: ProductChange::Updated,
        product_id: "prod-900".into(),
        product: Some(
            json!({"id": "prod-900", "name": "Zephyr Kite", "description": "A stunt kite for windy beaches.",
            "price": 45.0, "category": "Toys", "tags": ["kite"], "image_url": null, "stock_quantity": 3,
            "attributes": {}, "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"}),
        ),
    });
    app.publish(&stale).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(app.suggest_ids("zephyr").await.is_empty(), "an older version does not win");
    assert_eq!(app.suggest_ids("boreas glider").await, ["prod-900"]);

    app.products.delete("/api/products/prod-900").await.assert_json(StatusCode::OK);
    let deleted = testkit::eventually(within, || async { app.suggest_ids("boreas glider").await.is_empty() }).await;
    assert!(deleted, "a deleted product disappears within {within:?}");
    let recs = app.get("/api/ai/recommendations?product_id=prod-001").await.assert_json(StatusCode::OK);
    assert!(!ids(&recs["recommendations"]).contains(&"prod-900".to_owned()));
}

fn order(name: &str, items: &[(&str, &str, i64)]) -> Envelope<OrderEvent> {
    Envelope::new(OrderEvent {
        kind: OrderEventKind::Placed,
        order_id: uuid::Uuid::now_v7(),
        order_number: "ORD-20260221-38F5F24F".into(),
        customer_name: name.into(),
        customer_email: "shopper@example.com".into(),
        total_amount: Money::from_cents(items.iter().map(|(_, _, c)| c).sum()),
        status: "CONFIRMED".into(),
        items: items
            .iter()
            .map(|(id, product_name, cents)| OrderEventItem {
                product_id: (*id).into(),
                product_name: (*product_name).into(),
                quantity: 1,
                price: Money::from_cents(*cents),
            })
            .collect(),
    })
}

pub async fn orders_teach_co_purchases_and_send_one_escaped_follow_up(backend: Backend) {
    let app: TestApp = crate::app!(backend);
    let placed = order(
        "<script>alert('x')</script> Mallory",
        &[("prod-020", "Dune", 1099), ("prod-037", "Levi's 501 Original Jeans", 6950)],
    );
    app.publish(&placed).await;
    // Redelivery of the same event changes nothing.
    app.publish(&placed).await;
    let arrived =
        testkit::eventually(EVENTUALLY, || async { !app.topic(topics::AI_NOTIFICATION_READY).await.is_empty() }).await;
    assert!(arrived, "a follow-up is published");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let follow_ups = app.topic(topics::AI_NOTIFICATION_READY).await;
    assert_eq!(follow_ups.len(), 1, "one email per order, even redelivered: {follow_ups:?}");
    let email = &follow_ups[0];
    assert_eq!(email["event_type"], "AI_NOTIFICATION_READY");
    assert_eq!(email["order_id"], placed.payload.order_id.to_string());
    assert_eq!(email["order_number"], "ORD-20260221-38F5F24F");
    assert_eq!(email["customer_email"], "shopper@example.com");
    let body = email["body_html"].as_str().unwrap();
    assert!(!body.contains("<script"), "{body}");
    assert!(body.contains("&lt;script&gt;"), "the name is escaped: {body}");
    assert!(body.contains("Levi&#39;s 501") || body.contains("Levi's 501"), "{body}");
    assert!(body.contains("$80.49"), "the total: {body}");
    let subject = email["subject"].as_str().unwrap();
    assert!(subject.contains("ORD-20260221-38F5F24F") && !subject.contains('\n'), "{subject}");

    // Co-purchases, counted once.
    let recs = app.get("/api/ai/recommendations?product_id=prod-020").await.assert_json(StatusCode::OK);
    let first = &recs["recommendations"][0];
    assert_eq!(first["id"], "prod-037", "{recs}");
    assert_eq!(first["reason"], "Bought together with Dune in 1 order", "{recs}");
}

/// The AI service started before the product service: not ready (and AI answers are 503
/// with Retry-After) until the catalog could be read, then ready without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waits_for_the_product_service_and_then_becomes_ready() {
    use ai::retrieval::synonyms::{self, Synonyms};
    use kit::bus::EventBus;
    use std::sync::Arc;
    use testkit::{Client, Running, Stores};

    let Some(stores) = Stores::new(Backend::Sqlite).await else { return };
    let bus: Arc<dyn EventBus> = Arc::new(stores.event_log().await);
    // A free port for the product service, which is not started yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = ai::Config {
        host: "127.0.0.1".into(),
        port: 0,
        database: stores.options("ai"),
        product_service_url: format!("http://127.0.0.1:{port}"),
        peer_timeout: Duration::from_secs(2),
        data_dir: stores.dir().join("ai"),
        llm: ai::config::LlmConfig::offline(),
        embedding_model_dir: None,
        synonyms: Synonyms::new(synonyms::builtin()),
        follow_up_emails: true,
        auth: testkit::tokens::issuer().settings(Some("ai-service")),
    };
    let ai_app = ai::App::build(config, bus.clone()).await.unwrap();
    let ai_running = Running::spawn(ai_app.port(), |stop| ai_app.run_until_stopped(stop));
    let ai = Client::new(ai_running.base.clone());
    let not_ready = ai.get("/ready").await;
    not_ready.assert_problem(StatusCode::SERVICE_UNAVAILABLE);
    let busy = ai.post("/api/ai/chat", json!({"message": "kite"})).await;
    busy.assert_problem(StatusCode::SERVICE_UNAVAILABLE);
    assert!(busy.header("retry-after").is_some());

    let product_app = product::App::build(
        product::Config {
            host: "127.0.0.1".into(),
            port,
            database: stores.options("product"),
            inventory_service_url: None,
            auth: testkit::tokens::issuer().settings(None),
        },
        bus,
    )
    .await
    .unwrap();
    let product_running = Running::spawn(product_app.port(), |stop| product_app.run_until_stopped(stop));
    let products = Client::new(product_running.base.clone()).with_token(&testkit::tokens::issuer().admin());
    products
        .post(
            "/api/products",
            json!({"id": "k-1", "name": "Zephyr Kite", "description": "Stunt kite.", "price": 45.0,
                                      "category": "Toys"}),
        )
        .await
        .assert_json(StatusCode::CREATED);
    let ready =
        testkit::eventually(Duration::from_secs(15), || async { ai.get("/ready").await.status == StatusCode::OK })
            .await;
    assert!(ready, "ready once the product service answers");
    let found = testkit::eventually(EVENTUALLY, || async {
        let answer = ai.post("/api/ai/suggest", json!({"query": "kite"})).await.assert_json(StatusCode::OK);
        ids(&answer["matches"]) == ["k-1"]
    })
    .await;
    assert!(found);
}
