//! The original's stock endpoints: add, list, get, check, reduce, restock, update, delete.

use crate::helpers::{Backend, int};
use http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

#[track_caller]
fn timestamp(value: &Value) -> OffsetDateTime {
    let text = value.as_str().unwrap_or_else(|| panic!("timestamp is not a string: {value}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
}

fn product_ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("the list is a bare array: {items}"))
        .iter()
        .map(|i| i["product_id"].as_str().unwrap_or_else(|| panic!("no product_id: {i}")).to_owned())
        .collect()
}

pub async fn adds_with_defaults_and_reads_back(backend: Backend) {
    let app = app!(backend);
    let reply = app
        .post("/api/inventory", json!({"product_id": "prod-001", "product_name": "iPhone 15 Pro", "quantity": 50}))
        .await;
    let created = reply.assert_json(StatusCode::CREATED);
    let id = created["id"].as_str().unwrap_or_else(|| panic!("an id: {created}"));
    Uuid::parse_str(id).unwrap_or_else(|e| panic!("id {id} is a UUID: {e}"));
    assert_eq!(created["product_id"], "prod-001");
    assert_eq!(created["product_name"], "iPhone 15 Pro");
    assert_eq!(created["quantity"], 50);
    assert_eq!(created["reserved_qty"], 0);
    assert_eq!(created["available_qty"], 50);
    assert_eq!(created["low_stock_threshold"], 10, "default threshold: {created}");
    let created_at = timestamp(&created["created_at"]);
    assert_eq!(timestamp(&created["updated_at"]), created_at);
    assert!((OffsetDateTime::now_utc() - created_at).whole_seconds().abs() < 60, "created now: {created_at}");

    assert_eq!(app.item("prod-001").await, created, "GET returns what POST returned");

    let custom = app.add_with_threshold("prod-002", 3, 2).await;
    assert_eq!(custom["low_stock_threshold"], 2);
    assert_eq!(custom["quantity"], 3);
    let empty = app.add("prod-003", 0).await;
    assert_eq!(empty["quantity"], 0, "zero stock is allowed");
    assert_eq!(empty["available_qty"], 0);
}

pub async fn rejects_a_duplicate_product(backend: Backend) {
    let app = app!(backend);
    let original = app.add("dup-1", 5).await;
    let reply =
        app.post("/api/inventory", json!({"product_id": "dup-1", "product_name": "Other", "quantity": 99})).await;
    let detail = reply.assert_problem(StatusCode::CONFLICT);
    assert_eq!(detail, "Inventory for product dup-1 already exists");
    assert!(reply.body["request_id"].is_string(), "problems carry a request id: {}", reply.body);
    assert_eq!(app.item("dup-1").await, original, "the original record is untouched");
}

pub async fn rejects_missing_and_invalid_fields(backend: Backend) {
    let app = app!(backend);
    let mut fields = app.post("/api/inventory", json!({})).await.assert_invalid();
    fields.sort();
    assert_eq!(fields, ["product_id", "product_name", "quantity"]);

    let negative = app.post("/api/inventory", json!({"product_id": "p", "product_name": "P", "quantity": -1})).await;
    assert_eq!(negative.assert_invalid(), ["quantity"]);
    let detail = negative.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail.contains("quantity"), "detail names the field: {detail}");

    let missing_quantity = app.post("/api/inventory", json!({"product_id": "p", "product_name": "P"})).await;
    assert_eq!(missing_quantity.assert_invalid(), ["quantity"]);
    let missing_id = app.post("/api/inventory", json!({"product_name": "P", "quantity": 1})).await;
    assert_eq!(missing_id.assert_invalid(), ["product_id"]);
    let blank_name = app.post("/api/inventory", json!({"product_id": "p", "product_name": "  ", "quantity": 1})).await;
    assert_eq!(blank_name.assert_invalid(), ["product_name"]);
    let wrong_type =
        app.post("/api/inventory", json!({"product_id": "p", "product_name": "P", "quantity": "ten"})).await;
    assert_eq!(wrong_type.assert_invalid(), ["quantity"]);
    let threshold = app
        .post(
            "/api/inventory",
            json!({"product_id": "p", "product_name": "P", "quantity": 1, "low_stock_threshold": -5}),
        )
        .await;
    assert_eq!(threshold.assert_invalid(), ["low_stock_threshold"]);

    let testkit::Reply { status, headers, body, .. } = app.get("/api/inventory").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([]), "nothing was stored");
    assert_eq!(headers["x-total-count"], "0");
}

pub async fn lists_in_pages(backend: Backend) {
    let app = app!(backend);
    for id in ["p-3", "p-1", "p-5", "p-2", "p-4"] {
        app.add(id, 1).await;
    }
    let testkit::Reply { status, headers, body, .. } = app.get("/api/inventory").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-total-count"], "5");
    assert_eq!(product_ids(&body), ["p-1", "p-2", "p-3", "p-4", "p-5"], "ordered by product id");
    assert_eq!(body[0], app.item("p-1").await, "list entries are full records");

    let pages = [(1, vec!["p-1", "p-2"]), (2, vec!["p-3", "p-4"]), (3, vec!["p-5"]), (4, vec![])];
    for (page, expected) in pages {
        let testkit::Reply { status, headers, body, .. } =
            app.get(&format!("/api/inventory?page={page}&page_size=2")).await;
        assert_eq!(status, StatusCode::OK, "page {page}: {body}");
        assert_eq!(headers["x-total-count"], "5", "page {page}");
        assert_eq!(product_ids(&body), expected, "page {page}");
    }
    let testkit::Reply { body, .. } = app.get("/api/inventory?page_size=100").await;
    assert_eq!(product_ids(&body).len(), 5);
}

pub async fn rejects_out_of_range_paging(backend: Backend) {
    let app = app!(backend);
    app.add("p-1", 1).await;
    assert_eq!(app.get("/api/inventory?page_size=101").await.assert_invalid(), ["page_size"]);
    assert_eq!(app.get("/api/inventory?page_size=0").await.assert_invalid(), ["page_size"]);
    assert_eq!(app.get("/api/inventory?page=0").await.assert_invalid(), ["page"]);
    assert_eq!(app.get("/api/inventory?page=abc").await.assert_invalid(), ["page"]);
}

pub async fn unknown_products_are_not_found(backend: Backend) {
    let app = app!(backend);
    let detail = app.get("/api/inventory/nope").await.assert_problem(StatusCode::NOT_FOUND);
    assert_eq!(detail, "Inventory for product nope not found");
    for reply in [
        app.get("/api/inventory/nope/check?quantity=1").await,
        app.patch("/api/inventory/nope/reduce", json!({"quantity": 1})).await,
        app.patch("/api/inventory/nope/restock", json!({"quantity": 1})).await,
        app.put("/api/inventory/nope", json!({"quantity": 1})).await,
        app.delete("/api/inventory/nope").await,
    ] {
        assert_eq!(reply.assert_problem(StatusCode::NOT_FOUND), "Inventory for product nope not found");
    }
    let testkit::Reply { body, .. } = app.get("/api/inventory").await;
    assert_eq!(body, json!([]), "restocking an unknown product creates nothing");
}

pub async fn checks_availability(backend: Backend) {
    let app = app!(backend);
    app.add("p", 5).await;
    let check = |q: i64| {
        let app = &app;
        async move { app.get(&format!("/api/inventory/p/check?quantity={q}")).await.assert_json(StatusCode::OK) }
    };
    assert_eq!(check(5).await, json!({"product_id": "p", "requested": 5, "in_stock": true}));
    assert_eq!(check(6).await, json!({"product_id": "p", "requested": 6, "in_stock": false}));

    app.reserve_ok(Uuid::now_v7(), &[("p", 2)]).await;
    assert_eq!(check(3).await["in_stock"], true, "3 of 3 available");
    assert_eq!(check(4).await["in_stock"], false, "reserved units are not available");

    assert_eq!(app.get("/api/inventory/p/check").await.assert_invalid(), ["quantity"]);
    assert_eq!(app.get("/api/inventory/p/check?quantity=0").await.assert_invalid(), ["quantity"]);
    assert_eq!(app.get("/api/inventory/p/check?quantity=x").await.assert_invalid(), ["quantity"]);
}

pub async fn reduces_within_available_stock(backend: Backend) {
    let app = app!(backend);
    let before = app.add("p", 10).await;
    let reduced = app.patch("/api/inventory/p/reduce", json!({"quantity": 3})).await.assert_json(StatusCode::OK);
    assert_eq!(reduced["quantity"], 7);
    assert_eq!(reduced["available_qty"], 7);
    assert_eq!(reduced["reserved_qty"], 0);
    assert!(timestamp(&reduced["updated_at"]) >= timestamp(&before["updated_at"]));
    assert_eq!(app.item("p").await, reduced, "the change is stored");

    let all = app.patch("/api/inventory/p/reduce", json!({"quantity": 7})).await.assert_json(StatusCode::OK);
    assert_eq!(all["quantity"], 0, "reducing to exactly zero is allowed");

    assert_eq!(app.patch("/api/inventory/p/reduce", json!({"quantity": 0})).await.assert_invalid(), ["quantity"]);
    assert_eq!(app.patch("/api/inventory/p/reduce", json!({})).await.assert_invalid(), ["quantity"]);
}

pub async fn refuses_to_reduce_beyond_available_stock(backend: Backend) {
    let app = app!(backend);
    app.add("p", 10).await;
    let before = app.item("p").await;
    let reply = app.patch("/api/inventory/p/reduce", json!({"quantity": 11})).await;
    assert_eq!(reply.assert_problem(StatusCode::BAD_REQUEST), "Insufficient stock. Available: 10, Requested: 11");
    assert_eq!(app.item("p").await, before, "nothing changed");

    // Reserved units cannot be reduced away.
    app.reserve_ok(Uuid::now_v7(), &[("p", 4)]).await;
    let reply = app.patch("/api/inventory/p/reduce", json!({"quantity": 7})).await;
    assert_eq!(reply.assert_problem(StatusCode::BAD_REQUEST), "Insufficient stock. Available: 6, Requested: 7");
    assert_eq!(app.levels("p").await, (10, 4, 6), "nothing changed");
    let reduced = app.patch("/api/inventory/p/reduce", json!({"quantity": 6})).await.assert_json(StatusCode::OK);
    assert_eq!((int(&reduced, "quantity"), int(&reduced, "reserved_qty")), (4, 4));
}

pub async fn restocks(backend: Backend) {
    let app = app!(backend);
    app.add("p", 2).await;
    app.reserve_ok(Uuid::now_v7(), &[("p", 1)]).await;
    let restocked = app.patch("/api/inventory/p/restock", json!({"quantity": 5})).await.assert_json(StatusCode::OK);
    assert_eq!(restocked["quantity"], 7);
    assert_eq!(restocked["reserved_qty"], 1);
    assert_eq!(restocked["available_qty"], 6);
    assert_eq!(app.item("p").await, restocked);
    assert_eq!(app.patch("/api/inventory/p/restock", json!({"quantity": -1})).await.assert_invalid(), ["quantity"]);
    assert_eq!(app.levels("p").await, (7, 1, 6));
}

pub async fn refuses_to_restock_beyond_the_ceiling(backend: Backend) {
    let app = app!(backend);
    app.add("p", 999_999_990).await;
    let over = app.patch("/api/inventory/p/restock", json!({"quantity": 11})).await;
    let detail = over.assert_problem(StatusCode::CONFLICT);
    assert!(detail.contains("1000000000"), "{detail}");
    assert_eq!(app.levels("p").await, (999_999_990, 0, 999_999_990));
    app.patch("/api/inventory/p/restock", json!({"quantity": 10})).await.assert_json(StatusCode::OK);
}

pub async fn refuses_the_reserved_route_name_as_a_product_id(backend: Backend) {
    let app = app!(backend);
    let reply =
        app.post("/api/inventory", json!({"product_id": "reservations", "product_name": "x", "quantity": 1})).await;
    assert_eq!(reply.assert_invalid(), ["product_id"]);
}

pub async fn updates_name_quantity_and_threshold(backend: Backend) {
    let app = app!(backend);
    app.add("p", 5).await;
    let updated = app
        .put("/api/inventory/p", json!({"product_name": "Renamed", "quantity": 40, "low_stock_threshold": 3}))
        .await
        .assert_json(StatusCode::OK);
    assert_eq!(updated["product_name"], "Renamed");
    assert_eq!(updated["quantity"], 40);
    assert_eq!(updated["available_qty"], 40);
    assert_eq!(updated["low_stock_threshold"], 3);
    assert_eq!(app.item("p").await, updated);

    let partial = app.put("/api/inventory/p", json!({"quantity": 12})).await.assert_json(StatusCode::OK);
    assert_eq!(partial["quantity"], 12);
    assert_eq!(partial["product_name"], "Renamed", "absent fields stay");
    assert_eq!(partial["low_stock_threshold"], 3, "absent fields stay");

    let unchanged = app.put("/api/inventory/p", json!({})).await.assert_json(StatusCode::OK);
    assert_eq!(
        (&unchanged["product_name"], &unchanged["quantity"], &unchanged["low_stock_threshold"]),
        (&json!("Renamed"), &json!(12), &json!(3)),
        "an empty body changes nothing"
    );

    assert_eq!(app.put("/api/inventory/p", json!({"quantity": -1})).await.assert_invalid(), ["quantity"]);
    assert_eq!(app.put("/api/inventory/p", json!({"product_name": ""})).await.assert_invalid(), ["product_name"]);
    assert_eq!(app.levels("p").await, (12, 0, 12));
}

pub async fn refuses_a_quantity_below_what_is_reserved(backend: Backend) {
    let app = app!(backend);
    app.add("p", 10).await;
    app.reserve_ok(Uuid::now_v7(), &[("p", 6)]).await;
    let reply = app.put("/api/inventory/p", json!({"quantity": 5, "product_name": "Changed"})).await;
    let detail = reply.assert_problem(StatusCode::CONFLICT);
    assert!(detail.contains('6'), "detail gives the reserved units: {detail}");
    let item = app.item("p").await;
    assert_eq!(item["product_name"], "Product p", "nothing changed: {item}");
    assert_eq!(app.levels("p").await, (10, 6, 4));

    let exact = app.put("/api/inventory/p", json!({"quantity": 6})).await.assert_json(StatusCode::OK);
    assert_eq!((int(&exact, "quantity"), int(&exact, "reserved_qty"), int(&exact, "available_qty")), (6, 6, 0));
}

pub async fn deletes_then_answers_not_found(backend: Backend) {
    let app = app!(backend);
    app.add("p", 3).await;
    app.add("q", 3).await;
    let deleted = app.delete("/api/inventory/p").await.assert_json(StatusCode::OK);
    assert_eq!(deleted, json!({"message": "Inventory for product p deleted successfully"}));
    assert_eq!(
        app.get("/api/inventory/p").await.assert_problem(StatusCode::NOT_FOUND),
        "Inventory for product p not found"
    );
    assert_eq!(
        app.delete("/api/inventory/p").await.assert_problem(StatusCode::NOT_FOUND),
        "Inventory for product p not found"
    );
    let testkit::Reply { headers, body, .. } = app.get("/api/inventory").await;
    assert_eq!(product_ids(&body), ["q"], "only p is gone");
    assert_eq!(headers["x-total-count"], "1");
    app.add("p", 1).await;
}

pub async fn refuses_to_delete_reserved_stock(backend: Backend) {
    let app = app!(backend);
    app.add("sku-77", 3).await;
    let order = Uuid::now_v7();
    app.reserve_ok(order, &[("sku-77", 1)]).await;
    let detail = app.delete("/api/inventory/sku-77").await.assert_problem(StatusCode::CONFLICT);
    assert!(detail.contains("sku-77"), "detail names the product: {detail}");
    assert_eq!(app.levels("sku-77").await, (3, 1, 2), "still there");

    app.delete(&format!("/api/inventory/reservations/{order}")).await.assert_json(StatusCode::OK);
    app.delete("/api/inventory/sku-77").await.assert_json(StatusCode::OK);
    app.get("/api/inventory/sku-77").await.assert_problem(StatusCode::NOT_FOUND);
}

pub async fn health_and_unknown_routes(backend: Backend) {
    let app = app!(backend);
    let health = app.get("/health").await.assert_json(StatusCode::OK);
    assert_eq!(health, json!({"status": "UP", "service": "inventory-service", "auth_enabled": true}));
    app.get("/ready").await.assert_json(StatusCode::OK);
    app.get("/api/nothing-here").await.assert_problem(StatusCode::NOT_FOUND);
    app.post("/api/inventory/p", json!({})).await.assert_problem(StatusCode::METHOD_NOT_ALLOWED);
    let testkit::Reply { status, headers, .. } = app.get("/api/inventory").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("x-request-id"), "every answer carries a request id");
}

/// Names shown in emails and lists must not carry control characters.
pub async fn refuses_control_characters_in_names(backend: Backend) {
    let app = app!(backend);
    for name in ["Lamp\nBcc: x@evil.test", "Lamp\u{0}", "Lamp\u{1b}[31m"] {
        let reply =
            app.post("/api/inventory", json!({"product_id": "lamp", "product_name": name, "quantity": 1})).await;
        assert_eq!(reply.assert_invalid(), ["product_name"], "{name:?}");
    }
    app.add("lamp", 1).await;
    let reply = app.put("/api/inventory/lamp", json!({"product_name": "a\rb"})).await;
    assert_eq!(reply.assert_invalid(), ["product_name"]);
}
