//! The order flow end to end: gateway → order → product + inventory → outbox → event log →
//! inventory consumer.

use crate::helpers::{Backend, Options, order_body, spawn};
use http::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

const EVENT_WAIT: Duration = Duration::from_secs(10);

pub async fn demo_catalog_is_served_through_the_gateway(backend: Backend) {
    let Some(app) = spawn(backend, Options { seed_demo: true, ..Options::default() }).await else { return };
    let page = app.get("/api/products?page_size=100").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body["total"].as_i64().unwrap() >= 40);
    let iphone = app.get("/api/products/prod-001").await;
    assert_eq!(iphone.body["name"], "iPhone 15 Pro");
    assert_eq!(iphone.body["price"], json!(999.99));
    let (quantity, reserved, _) = app.stock("prod-001").await;
    assert!(quantity > 0);
    assert_eq!(reserved, 0);
}

pub async fn concurrent_orders_never_oversell(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("scarce-1", 25.5, 50).await;
    let app = std::sync::Arc::new(app);
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..200 {
        let app = app.clone();
        attempts.spawn(async move {
            app.post("/api/orders", order_body(&format!("buyer{i}@example.com"), &[("scarce-1", 1)])).await
        });
    }
    let (mut created, mut conflicts, mut other) = (0, 0, Vec::new());
    while let Some(reply) = attempts.join_next().await {
        let reply = reply.unwrap();
        match reply.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert!(reply.detail().contains("scarce-1"), "409 must name the product: {}", reply.detail());
                conflicts += 1;
            }
            status => other.push((status, reply.body)),
        }
    }
    assert!(other.is_empty(), "unexpected replies: {other:?}");
    assert_eq!((created, conflicts), (50, 150));
    let (quantity, reserved, available) = app.stock("scarce-1").await;
    assert_eq!((quantity, reserved, available), (50, 50, 0));
    let orders = app.get("/api/orders?page_size=100").await;
    assert_eq!(orders.headers["x-total-count"], "50");

    // Ship ten: they leave the warehouse; available + reserved + sold still add up to 50.
    let ids: Vec<String> =
        orders.body.as_array().unwrap().iter().take(10).map(|o| o["id"].as_str().unwrap().to_owned()).collect();
    for id in &ids {
        let shipped = app.patch(&format!("/api/orders/{id}/status"), Some(json!({"status": "SHIPPED"}))).await;
        assert_eq!(shipped.status, StatusCode::OK, "{:?}", shipped.body);
    }
    let settled = testkit::eventually(EVENT_WAIT, || async {
        let (quantity, reserved, available) = app.stock("scarce-1").await;
        (quantity, reserved, available) == (40, 40, 0)
    })
    .await;
    assert!(settled, "shipping must move 10 units out: {:?}", app.stock("scarce-1").await);
}

pub async fn idempotency_key_replays_and_rejects_a_different_body(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("idem-1", 10.0, 10).await;
    let body = order_body("idem@example.com", &[("idem-1", 2)]);
    let key = [("idempotency-key", "order-attempt-42")];
    let first = app.request(Method::POST, "/api/orders", Some(body.clone()), &key).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let second = app.request(Method::POST, "/api/orders", Some(body), &key).await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(first.body, second.body, "a retry returns the same order");

    let different =
        app.request(Method::POST, "/api/orders", Some(order_body("idem@example.com", &[("idem-1", 3)])), &key).await;
    assert_eq!(different.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(different.detail().contains("Idempotency-Key"), "{}", different.detail());

    let orders = app.get("/api/orders").await;
    assert_eq!(orders.headers["x-total-count"], "1");
    assert_eq!(app.stock("idem-1").await, (10, 2, 8), "only the first request reserved stock");

    // Concurrent retries with one key still make one order.
    let key = [("idempotency-key", "burst")];
    let body = order_body("burst@example.com", &[("idem-1", 1)]);
    let replies = futures_util::future::join_all(
        (0..8).map(|_| app.request(Method::POST, "/api/orders", Some(body.clone()), &key)),
    )
    .await;
    let ids: std::collections::HashSet<_> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            r.body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let settled = testkit::eventually(EVENT_WAIT, || async { app.stock("idem-1").await == (10, 3, 7) }).await;
    assert!(settled, "losing concurrent retries must release their holds: {:?}", app.stock("idem-1").await);
}

pub async fn bad_orders_store_nothing_and_reserve_nothing(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("tamper-1", 999.99, 5).await;

    let mut tampered = order_body("t@example.com", &[("tamper-1", 1)]);
    tampered["items"][0]["unit_price"] = json!(1.0);
    let reply = app.post("/api/orders", tampered).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert!(reply.detail().contains("tamper-1"));

    let mut honest = order_body("t@example.com", &[("tamper-1", 1)]);
    honest["items"][0]["unit_price"] = json!(999.99);
    honest["items"][0]["product_name"] = json!("Whatever the client says");

    let unknown = app.post("/api/orders", order_body("t@example.com", &[("tamper-1", 1), ("no-such", 1)])).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.body["errors"][0]["field"], "items[1].product_id");

    let malformed = [
        (
            json!({"customer_name": "x", "customer_email": "x@example.com", "items": [{"product_id": "tamper-1", "quantity": "two"}]}),
            "items[0].quantity",
        ),
        (
            json!({"customer_name": "x", "customer_email": "not-an-email", "items": [{"product_id": "tamper-1", "quantity": 1}]}),
            "customer_email",
        ),
        (json!({"customer_name": "x", "customer_email": "x@example.com", "items": []}), "items"),
        (
            json!({"customer_name": "x", "customer_email": "x@example.com", "items": [{"product_id": "tamper-1", "quantity": 0}]}),
            "items[0].quantity",
        ),
        (
            json!({"customer_name": "x", "customer_email": "x@example.com", "items": [{"product_id": "tamper-1", "quantity": 1001}]}),
            "items[0].quantity",
        ),
    ];
    for (body, field) in malformed {
        let reply = app.post("/api/orders", body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", reply.body);
        assert_eq!(reply.headers["content-type"], "application/problem+json");
        let fields: Vec<&str> =
            reply.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&field), "{fields:?} should name {field}");
    }
    let not_json = app.request(Method::POST, "/api/orders", None, &[("content-type", "application/json")]).await;
    assert_eq!(not_json.status, StatusCode::UNPROCESSABLE_ENTITY);

    let orders = app.get("/api/orders").await;
    assert_eq!(orders.headers["x-total-count"], "0", "nothing stored");
    assert_eq!(app.stock("tamper-1").await, (5, 0, 5), "nothing reserved");

    let placed = app.post("/api/orders", honest).await;
    assert_eq!(placed.status, StatusCode::CREATED);
    assert_eq!(placed.body["items"][0]["product_name"], "Product tamper-1", "the catalog's name wins");
    assert_eq!(placed.body["total_amount"], json!(999.99));
}

pub async fn cancel_releases_and_shipping_commits(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("flow-1", 5.0, 10).await;
    let placed = app.post("/api/orders", order_body("flow@example.com", &[("flow-1", 3)])).await;
    assert_eq!(placed.status, StatusCode::CREATED);
    assert_eq!(placed.body["status"], "CONFIRMED");
    let id = placed.body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.stock("flow-1").await, (10, 3, 7));

    let cancelled = app.patch(&format!("/api/orders/{id}/cancel"), None).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(cancelled.body["status"], "CANCELLED");
    let released = testkit::eventually(EVENT_WAIT, || async { app.stock("flow-1").await == (10, 0, 10) }).await;
    assert!(released, "cancel must release: {:?}", app.stock("flow-1").await);
    let again = app.patch(&format!("/api/orders/{id}/cancel"), None).await;
    assert_eq!(again.status, StatusCode::OK, "cancelling twice is harmless");

    let placed = app.post("/api/orders", order_body("flow@example.com", &[("flow-1", 4)])).await;
    let id = placed.body["id"].as_str().unwrap().to_owned();
    let shipped = app.patch(&format!("/api/orders/{id}/status"), Some(json!({"status": "SHIPPED"}))).await;
    assert_eq!(shipped.body["status"], "SHIPPED");
    let committed = testkit::eventually(EVENT_WAIT, || async { app.stock("flow-1").await == (6, 0, 6) }).await;
    assert!(committed, "shipping must decrement quantity: {:?}", app.stock("flow-1").await);
    let delivered = app.patch(&format!("/api/orders/{id}/status"), Some(json!({"status": "DELIVERED"}))).await;
    assert_eq!(delivered.body["status"], "DELIVERED");

    let mine = app.get("/api/orders/user/flow@example.com").await;
    assert_eq!(mine.body.as_array().unwrap().len(), 2);
    assert_eq!(mine.body[0]["id"], json!(id), "newest first");
}

pub async fn illegal_transitions_are_refused(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("fsm-1", 5.0, 10).await;
    let placed = app.post("/api/orders", order_body("fsm@example.com", &[("fsm-1", 1)])).await;
    let id = placed.body["id"].as_str().unwrap().to_owned();
    let status = |s: &str| json!({"status": s});

    let skip = app.patch(&format!("/api/orders/{id}/status"), Some(status("DELIVERED"))).await;
    assert_eq!(skip.status, StatusCode::CONFLICT);
    let back = app.patch(&format!("/api/orders/{id}/status"), Some(status("PENDING"))).await;
    assert_eq!(back.status, StatusCode::CONFLICT);
    let unknown = app.patch(&format!("/api/orders/{id}/status"), Some(status("LOST"))).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.body["errors"][0]["field"], "status");

    app.patch(&format!("/api/orders/{id}/status"), Some(status("SHIPPED"))).await;
    let cancel = app.patch(&format!("/api/orders/{id}/cancel"), None).await;
    assert_eq!(cancel.status, StatusCode::CONFLICT);
    assert_eq!(cancel.detail(), "Cannot cancel order with status SHIPPED");
    let current = app.get(&format!("/api/orders/{id}")).await;
    assert_eq!(current.body["status"], "SHIPPED", "a refused change changes nothing");

    assert_eq!(app.get("/api/orders/not-a-uuid").await.status, StatusCode::BAD_REQUEST);
    let missing = app.get(&format!("/api/orders/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

pub async fn orphan_reservation_expires(backend: Backend) {
    let options = Options { reservation_ttl: Duration::from_millis(400), ..Options::default() };
    let Some(app) = spawn(backend, options).await else { return };
    app.stock_product("ttl-1", 5.0, 10).await;
    // A hold whose order is never written (the order service crashed after reserving).
    let orphan = uuid::Uuid::now_v7();
    let held = app
        .post(
            &format!("{}/api/inventory/reservations", app.inventory_url()),
            json!({"order_id": orphan, "items": [{"product_id": "ttl-1", "quantity": 4}]}),
        )
        .await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    // A real order's hold survives its TTL.
    let placed = app.post("/api/orders", order_body("ttl@example.com", &[("ttl-1", 2)])).await;
    assert_eq!(placed.status, StatusCode::CREATED);
    assert_eq!(app.stock("ttl-1").await, (10, 6, 4));

    let released =
        testkit::eventually(Duration::from_secs(10), || async { app.stock("ttl-1").await == (10, 2, 8) }).await;
    assert!(released, "the orphan hold must be released: {:?}", app.stock("ttl-1").await);
    let orphan_state = app.get(&format!("{}/api/inventory/reservations/{orphan}", app.inventory_url())).await;
    assert_eq!(orphan_state.body["status"], "RELEASED");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(app.stock("ttl-1").await, (10, 2, 8), "the placed order keeps its stock");
}

pub async fn order_events_reach_the_log_with_the_original_fields(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("evt-1", 12.25, 10).await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let placed = app.post("/api/orders", order_body("evt@example.com", &[("evt-1", n)])).await;
        ids.push(placed.body["id"].as_str().unwrap().to_owned());
    }
    app.patch(&format!("/api/orders/{}/cancel", ids[0]), None).await;

    let log = app.events();
    let arrived =
        testkit::eventually(EVENT_WAIT, || async { log.read_all("order-placed").await.unwrap().len() == 3 }).await;
    assert!(arrived);
    let placed = log.read_all("order-placed").await.unwrap();
    let keys: Vec<&str> = placed.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, ids.iter().map(String::as_str).collect::<Vec<_>>(), "in commit order, keyed by order id");
    let event: serde_json::Value = serde_json::from_slice(&placed[1].payload).unwrap();
    assert_eq!(event["event_type"], "ORDER_PLACED");
    assert_eq!(event["schema_version"], 1);
    assert!(event["event_id"].is_string() && event["occurred_at"].is_string() && event["timestamp"].is_string());
    assert_eq!(event["customer_email"], "evt@example.com");
    assert_eq!(event["customer_name"], "Test Customer");
    assert!(event["order_number"].as_str().unwrap().starts_with("ORD-"));
    assert_eq!(event["total_amount"], json!(24.5));
    assert_eq!(
        event["items"][0],
        json!({"product_id": "evt-1", "product_name": "Product evt-1", "quantity": 2, "price": 12.25})
    );

    let cancelled =
        testkit::eventually(EVENT_WAIT, || async { log.read_all("order-cancelled").await.unwrap().len() == 1 }).await;
    assert!(cancelled);
    let cancel: serde_json::Value =
        serde_json::from_slice(&log.read_all("order-cancelled").await.unwrap()[0].payload).unwrap();
    assert_eq!(cancel["event_type"], "ORDER_CANCELLED");
    assert_eq!(cancel["order_id"], json!(ids[0]));
}

pub async fn emails_follow_the_order(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("mail-1", 19.99, 12).await;
    let placed = app.post("/api/orders", order_body("mail@example.com", &[("mail-1", 3)])).await;
    assert_eq!(placed.status, StatusCode::CREATED);
    let number = placed.body["order_number"].as_str().unwrap().to_owned();
    let id = placed.body["id"].as_str().unwrap().to_owned();

    let confirmed =
        testkit::eventually(EVENT_WAIT, || async { app.emails_with(&[&number, "Confirmed"]).len() == 1 }).await;
    assert!(confirmed, "a confirmation email for {number}");
    let email = &app.emails_with(&[&number, "Confirmed"])[0];
    for needle in ["Test Customer", "Product mail-1", "x 3", "$19.99", "Total: $59.97", "multipart/alternative"] {
        assert!(email.contains(needle), "the confirmation mentions {needle}:\n{email}");
    }
    // 12 units, threshold 10: three reserved leave 9, one alert to the admin.
    let alerted =
        testkit::eventually(EVENT_WAIT, || async { app.emails_with(&["admin@example.com"]).len() == 1 }).await;
    assert!(alerted, "one low-stock alert");
    app.post("/api/orders", order_body("mail@example.com", &[("mail-1", 1)])).await;

    app.patch(&format!("/api/orders/{id}/cancel"), None).await;
    let cancelled =
        testkit::eventually(EVENT_WAIT, || async { app.emails_with(&[&number, "Cancelled"]).len() == 1 }).await;
    assert!(cancelled, "a cancellation email for {number}");
    let listed = app.get("/api/notifications?email=mail@example.com").await;
    assert_eq!(listed.body["total"], 3, "{:?}", listed.body);
    assert_eq!(app.emails_with(&["admin@example.com"]).len(), 1, "still only one low-stock alert");
}
