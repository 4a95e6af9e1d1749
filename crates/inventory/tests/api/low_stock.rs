//! `inventory-low`: written once when available stock crosses below an item's threshold,
//! re-armed when stock rises to the threshold again. The outbox relay publishes in commit
//! order, so an alert on a "marker" item proves that nothing written before it is missing.

use crate::helpers::{Backend, LowStock};
use http::StatusCode;
use serde_json::json;
use uuid::Uuid;

#[track_caller]
fn assert_alert(event: &LowStock, product_id: &str, available: i64, threshold: i64) {
    let payload = &event.payload;
    assert_eq!(event.key, product_id, "keyed by product id: {payload}");
    assert_eq!(payload["event_type"], "INVENTORY_LOW", "{payload}");
    assert_eq!(payload["schema_version"], 1, "{payload}");
    assert_eq!(payload["product_id"], product_id, "{payload}");
    assert_eq!(payload["product_name"], format!("Product {product_id}"), "{payload}");
    assert_eq!(payload["available_qty"], available, "{payload}");
    assert_eq!(payload["low_stock_threshold"], threshold, "{payload}");
    let event_id = payload["event_id"].as_str().unwrap_or_else(|| panic!("event_id: {payload}"));
    Uuid::parse_str(event_id).unwrap_or_else(|e| panic!("event_id {event_id} is a UUID: {e}"));
    assert!(payload["occurred_at"].is_string(), "{payload}");
}

fn products(events: &[LowStock]) -> Vec<&str> {
    events.iter().map(|e| e.key.as_str()).collect()
}

pub async fn reservation_crossing_alerts_once_per_crossing(backend: Backend) {
    let app = app!(backend);
    app.add_with_threshold("lamp", 12, 10).await;
    app.add_with_threshold("marker-1", 10, 10).await;
    app.add_with_threshold("marker-2", 10, 10).await;
    assert!(app.low_stock_events().await.is_empty(), "adding stock alerts nobody");

    app.reserve_ok(Uuid::now_v7(), &[("lamp", 3)]).await;
    let events = app.wait_for_low_stock(1).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_alert(&events[0], "lamp", 9, 10);

    // Already low: no second alert.
    app.reserve_ok(Uuid::now_v7(), &[("lamp", 1)]).await;
    app.reserve_ok(Uuid::now_v7(), &[("marker-1", 1)]).await;
    let events = app.wait_for_low_stock(2).await;
    assert_eq!(products(&events), ["lamp", "marker-1"], "{events:#?}");
    assert_alert(&events[1], "marker-1", 9, 10);

    // A restock above the threshold re-arms the alert; it does not fire on the way up.
    let restocked = app.patch("/api/inventory/lamp/restock", json!({"quantity": 10})).await.assert_json(StatusCode::OK);
    assert_eq!(restocked["available_qty"], 18);
    app.reserve_ok(Uuid::now_v7(), &[("lamp", 9)]).await;
    app.reserve_ok(Uuid::now_v7(), &[("marker-2", 1)]).await;
    let events = app.wait_for_low_stock(4).await;
    assert_eq!(products(&events), ["lamp", "marker-1", "lamp", "marker-2"], "{events:#?}");
    assert_alert(&events[2], "lamp", 9, 10);
    assert_ne!(events[0].payload["event_id"], events[2].payload["event_id"]);
    assert_eq!(app.levels("lamp").await, (22, 13, 9));
}

pub async fn reduce_and_update_crossings_alert(backend: Backend) {
    let app = app!(backend);
    app.add_with_threshold("p", 15, 10).await;
    app.add_with_threshold("q", 20, 10).await;
    app.add_with_threshold("r", 30, 10).await;

    // Down to exactly the threshold is not below it.
    app.patch("/api/inventory/p/reduce", json!({"quantity": 5})).await.assert_json(StatusCode::OK);
    app.patch("/api/inventory/p/reduce", json!({"quantity": 1})).await.assert_json(StatusCode::OK);
    app.patch("/api/inventory/p/reduce", json!({"quantity": 1})).await.assert_json(StatusCode::OK);
    // Raising the threshold above what is available is a crossing too.
    app.put("/api/inventory/q", json!({"low_stock_threshold": 25})).await.assert_json(StatusCode::OK);
    app.put("/api/inventory/r", json!({"quantity": 5})).await.assert_json(StatusCode::OK);

    let events = app.wait_for_low_stock(3).await;
    assert_eq!(products(&events), ["p", "q", "r"], "{events:#?}");
    assert_alert(&events[0], "p", 9, 10);
    assert_alert(&events[1], "q", 20, 25);
    assert_alert(&events[2], "r", 5, 10);
}

/// Only a restock (or an update) back to the threshold re-arms the alert: a released hold
/// that lifts available stock above it does not, so reserve → cancel → reserve alerts once.
pub async fn a_released_hold_does_not_rearm_the_alert(backend: Backend) {
    let app = app!(backend);
    app.add_with_threshold("lamp", 12, 10).await;
    let first = Uuid::now_v7();
    app.reserve_ok(first, &[("lamp", 5)]).await;
    app.wait_for_low_stock(1).await;
    app.delete(&format!("/api/inventory/reservations/{first}")).await.assert_json(StatusCode::OK);
    assert_eq!(app.levels("lamp").await, (12, 0, 12));
    app.reserve_ok(Uuid::now_v7(), &[("lamp", 5)]).await;

    // A marker alert written after the second reservation: everything before it is published.
    app.add_with_threshold("marker", 10, 10).await;
    app.reserve_ok(Uuid::now_v7(), &[("marker", 1)]).await;
    let events = app.wait_for_low_stock(2).await;
    assert_eq!(products(&events), ["lamp", "marker"], "one alert for the lamp: {events:#?}");

    // A restock above the threshold re-arms it.
    app.patch("/api/inventory/lamp/restock", json!({"quantity": 10})).await.assert_json(StatusCode::OK);
    app.reserve_ok(Uuid::now_v7(), &[("lamp", 12)]).await;
    let events = app.wait_for_low_stock(3).await;
    assert_eq!(products(&events), ["lamp", "marker", "lamp"], "{events:#?}");
}
