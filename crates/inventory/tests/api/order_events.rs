//! Order events on the bus, published the way the order service does, and their effect on
//! reservations: placed → CONFIRMED, cancelled → RELEASED, shipped → COMMITTED.

use crate::helpers::{Backend, order_event, status_changed};
use contracts::events::OrderEventKind::{Cancelled, Placed};
use kit::bus::{EventBus, OutgoingMessage};
use uuid::Uuid;

pub async fn cancellation_releases(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    app.add("b", 10).await;
    let order = Uuid::now_v7();
    let other = Uuid::now_v7();
    app.reserve_ok(order, &[("a", 3), ("b", 2)]).await;
    app.reserve_ok(other, &[("a", 1)]).await;

    app.publish(&order_event(Cancelled, order, &[("a", 3), ("b", 2)])).await;
    let released = app.wait_for_status(order, "RELEASED").await;
    assert_eq!(released["order_id"], order.to_string());
    assert_eq!(app.levels("a").await, (10, 1, 9), "only the cancelled order's units come back");
    assert_eq!(app.levels("b").await, (10, 0, 10));
    assert_eq!(app.reservation(other).await["status"], "PENDING");
}

pub async fn shipping_commits(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    app.add("b", 4).await;
    let order = Uuid::now_v7();
    app.reserve_ok(order, &[("a", 3), ("b", 4)]).await;
    assert_eq!(app.levels("a").await, (10, 3, 7));

    app.publish(&status_changed(order, "CONFIRMED", "SHIPPED", &[("a", 3), ("b", 4)])).await;
    app.wait_for_status(order, "COMMITTED").await;
    assert_eq!(app.levels("a").await, (7, 0, 7), "quantity and reserved both drop");
    assert_eq!(app.levels("b").await, (0, 0, 0));

    // A late cancellation of a shipped order gives nothing back.
    let marker = Uuid::now_v7();
    app.reserve_ok(marker, &[("a", 1)]).await;
    app.publish(&order_event(Cancelled, order, &[("a", 3)])).await;
    app.publish(&order_event(Cancelled, marker, &[("a", 1)])).await;
    app.wait_for_status(marker, "RELEASED").await;
    assert_eq!(app.reservation(order).await["status"], "COMMITTED");
    assert_eq!(app.levels("a").await, (7, 0, 7));
    assert_eq!(app.levels("b").await, (0, 0, 0));
}

pub async fn other_status_changes_change_nothing(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    let order = Uuid::now_v7();
    let marker = Uuid::now_v7();
    app.reserve_ok(order, &[("a", 3)]).await;
    app.reserve_ok(marker, &[("a", 1)]).await;

    app.publish(&status_changed(order, "SHIPPED", "DELIVERED", &[("a", 3)])).await;
    app.publish(&status_changed(order, "CONFIRMED", "PENDING", &[("a", 3)])).await;
    // Events on one topic are applied in order: once the marker is committed, the two
    // before it have been handled.
    app.publish(&status_changed(marker, "CONFIRMED", "SHIPPED", &[("a", 1)])).await;
    app.wait_for_status(marker, "COMMITTED").await;
    assert_eq!(app.reservation(order).await["status"], "PENDING");
    assert_eq!(app.levels("a").await, (9, 3, 6));
}

pub async fn placement_confirms(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    let order = Uuid::now_v7();
    app.reserve_ok(order, &[("a", 3)]).await;

    app.publish(&order_event(Placed, order, &[("a", 3)])).await;
    let confirmed = app.wait_for_status(order, "CONFIRMED").await;
    assert_eq!(confirmed["items"], serde_json::json!([{"product_id": "a", "quantity": 3}]));
    assert_eq!(app.levels("a").await, (10, 3, 7), "confirming keeps the hold");

    // A confirmed reservation can still be cancelled.
    app.publish(&order_event(Cancelled, order, &[("a", 3)])).await;
    app.wait_for_status(order, "RELEASED").await;
    assert_eq!(app.levels("a").await, (10, 0, 10));
}

pub async fn redelivered_events_apply_once(backend: Backend) {
    let app = app!(backend);
    app.add("a", 20).await;
    let [cancelled, kept, shipped, marker_1, marker_2] = [(); 5].map(|_| Uuid::now_v7());
    app.reserve_ok(cancelled, &[("a", 2)]).await;
    app.reserve_ok(kept, &[("a", 5)]).await;
    app.reserve_ok(shipped, &[("a", 3)]).await;
    app.reserve_ok(marker_1, &[("a", 1)]).await;
    app.reserve_ok(marker_2, &[("a", 1)]).await;
    assert_eq!(app.levels("a").await, (20, 12, 8));

    // The same envelope (same event_id) twice, then a marker behind it on the same topic.
    let cancel = order_event(Cancelled, cancelled, &[("a", 2)]);
    app.publish(&cancel).await;
    app.publish(&cancel).await;
    app.publish(&order_event(Cancelled, marker_1, &[("a", 1)])).await;
    app.wait_for_status(marker_1, "RELEASED").await;
    assert_eq!(app.reservation(cancelled).await["status"], "RELEASED");
    assert_eq!(app.levels("a").await, (20, 9, 11), "the cancellation released 2 units once");

    let ship = status_changed(shipped, "CONFIRMED", "SHIPPED", &[("a", 3)]);
    app.publish(&ship).await;
    app.publish(&ship).await;
    app.publish(&status_changed(marker_2, "CONFIRMED", "SHIPPED", &[("a", 1)])).await;
    app.wait_for_status(marker_2, "COMMITTED").await;
    assert_eq!(app.reservation(shipped).await["status"], "COMMITTED");
    assert_eq!(app.levels("a").await, (16, 5, 11), "the shipment took 3 units once");
    assert_eq!(app.reservation(kept).await["status"], "PENDING");
}

pub async fn bad_and_unknown_events_do_not_stall_the_consumer(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    let future_version = Uuid::now_v7();
    let order = Uuid::now_v7();
    app.reserve_ok(future_version, &[("a", 2)]).await;
    app.reserve_ok(order, &[("a", 3)]).await;

    let garbage = OutgoingMessage {
        topic: "order-cancelled".into(),
        key: "garbage".into(),
        headers: Vec::new(),
        payload: b"not json at all".to_vec(),
    };
    app.events.publish(&[garbage]).await.expect("publishing garbage");
    let mut unknown_version = order_event(Cancelled, future_version, &[("a", 2)]);
    unknown_version.schema_version = 2;
    app.publish(&unknown_version).await;
    app.publish(&order_event(Cancelled, Uuid::now_v7(), &[("a", 1)])).await;
    app.publish(&order_event(Cancelled, order, &[("a", 3)])).await;

    app.wait_for_status(order, "RELEASED").await;
    assert_eq!(app.reservation(future_version).await["status"], "PENDING", "an unknown schema version is not applied");
    assert_eq!(app.levels("a").await, (10, 2, 8));
    let dead = app.events.read_all("inventory-service.dlq").await.expect("reading the dead-letter topic");
    assert_eq!(dead.len(), 2, "the two unreadable messages are dead-lettered: {dead:#?}");
}

/// An order shipped without a hold (released, or never made) still takes its units out of
/// stock — once, however often the event arrives — never silently nothing.
pub async fn shipping_without_a_hold_decrements_stock_once(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    app.add("b", 10).await;

    // A hold released before the order shipped.
    let released = Uuid::now_v7();
    app.reserve_ok(released, &[("a", 3)]).await;
    app.delete(&format!("/api/inventory/reservations/{released}")).await;
    assert_eq!(app.levels("a").await, (10, 0, 10));
    let shipped = status_changed(released, "CONFIRMED", "SHIPPED", &[("a", 3)]);
    app.publish(&shipped).await;
    app.wait_for_status(released, "COMMITTED").await;
    assert_eq!(app.levels("a").await, (7, 0, 7), "the shipped units left the stock");

    // No hold ever recorded: the event's lines are taken.
    let unheld = Uuid::now_v7();
    app.publish(&status_changed(unheld, "CONFIRMED", "SHIPPED", &[("b", 4)])).await;
    app.wait_for_status(unheld, "COMMITTED").await;
    assert_eq!(app.levels("b").await, (6, 0, 6));

    // Redelivered events change nothing more.
    app.publish(&shipped).await;
    app.publish(&status_changed(unheld, "CONFIRMED", "SHIPPED", &[("b", 4)])).await;
    let marker = Uuid::now_v7();
    app.reserve_ok(marker, &[("a", 1)]).await;
    app.publish(&status_changed(marker, "CONFIRMED", "SHIPPED", &[("a", 1)])).await;
    app.wait_for_status(marker, "COMMITTED").await;
    assert_eq!(app.levels("a").await, (6, 0, 6), "only the marker's unit more");
    assert_eq!(app.levels("b").await, (6, 0, 6));
}
