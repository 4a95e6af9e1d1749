//! The API contract through the gateway (issue 8): exact money in orders, the product's
//! `stock_quantity` from the inventory, lenient quantities, problem+json for bad paths and
//! values, and request ids taken from clients only when they are safe.

use crate::helpers::{Backend, Options, order_body, spawn};
use http::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

pub async fn order_prices_are_compared_exactly(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("exact-1", 1099.99, 10).await;
    let mut body = order_body("exact@example.com", &[("exact-1", 1)]);
    body["items"][0]["unit_price"] = json!(1099.991);
    let reply = app.post("/api/orders", body.clone()).await;
    assert_eq!(reply.assert_invalid(), ["items[0].unit_price"], "{:?}", reply.body);
    body["items"][0]["unit_price"] = json!(1099.99);
    body["items"][0]["quantity"] = json!(2.0);
    let placed = app.post("/api/orders", body).await;
    assert_eq!(placed.status, StatusCode::CREATED, "a whole number written 2.0 is 2: {:?}", placed.body);
    assert_eq!(placed.body["items"][0]["quantity"], 2);
    assert_eq!(placed.body["total_amount"], json!(2199.98));

    let id = placed.body["id"].as_str().unwrap();
    let bogus = app.patch(&format!("/api/orders/{id}/status"), Some(json!({"status": "BOGUS"}))).await;
    assert_eq!(bogus.assert_invalid(), ["status"]);
    assert!(bogus.detail().contains("must be one of") && !bogus.detail().contains("line 1"), "{}", bogus.detail());
}

pub async fn stock_quantity_is_what_the_inventory_can_sell(backend: Backend) {
    let Some(app) = spawn(backend, Options { seed_demo: true, ..Options::default() }).await else { return };
    let (_, _, available) = app.stock("prod-001").await;
    let shown = app.get("/api/products/prod-001").await.body["stock_quantity"].as_i64();
    assert_eq!(shown, Some(available), "a demo product shows its available units");

    // A product created with a quantity gets its stock record, and can be ordered.
    let created = app
        .post(
            "/api/products",
            json!({"id": "noinv-1", "name": "No Inventory Yet", "description": "", "price": 5.0,
                   "category": "Test", "stock_quantity": 50}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let stocked = testkit::eventually(Duration::from_secs(10), || async {
        app.get("/api/inventory/noinv-1").await.status == StatusCode::OK
    })
    .await;
    assert!(stocked, "the stock record follows the product");
    let placed = app.post("/api/orders", order_body("noinv@example.com", &[("noinv-1", 3)])).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    let product = app.get("/api/products/noinv-1").await.body;
    assert_eq!(product["stock_quantity"], 47, "{product}");
    let listed = app.get("/api/products?ids=noinv-1,prod-001").await.body;
    let shown: Vec<i64> =
        listed["products"].as_array().unwrap().iter().map(|p| p["stock_quantity"].as_i64().unwrap()).collect();
    assert!(shown.contains(&47) && shown.contains(&available), "{listed}");
}

pub async fn bad_paths_and_request_ids_get_clean_answers(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    for path in ["/api/products/%ff%fe", "/api/orders/%ff%fe", "/api/inventory/%ff%fe", "/api/orders/user/%ff"] {
        let reply = app.get(path).await;
        assert!(reply.status.is_client_error(), "{path}: {}", reply.status);
        assert_eq!(reply.content_type(), "application/problem+json", "{path}: {}", reply.text);
    }
    let long = "z".repeat(5_000);
    let missing = app.get(&format!("/api/inventory/{long}")).await;
    missing.assert_problem(StatusCode::NOT_FOUND);
    assert!(missing.detail().len() < 200, "a long id is not echoed whole: {}", missing.detail().len());

    let hostile = "\"><script>alert(1)</script>";
    let reply = app.request(Method::GET, "/api/orders/nope", testkit::Body::Empty, &[("x-request-id", hostile)]).await;
    let echoed = reply.header("x-request-id").unwrap_or_default().to_owned();
    assert_ne!(echoed, hostile);
    assert!(!reply.text.contains("<script>"), "{}", reply.text);
    assert_eq!(reply.body["request_id"], echoed.as_str(), "a fresh id, the same in header and body");
    let kept =
        app.request(Method::GET, "/api/orders/nope", testkit::Body::Empty, &[("x-request-id", "req-42.a_b")]).await;
    assert_eq!(kept.header("x-request-id"), Some("req-42.a_b"));
}
