//! The expiry sweeper: a pending reservation whose order never showed up is released after
//! its TTL, unless the order service says the order exists.

use crate::helpers::{Backend, order_event, spawn_app_with, spawn_order_service};
use contracts::events::OrderEventKind::Placed;
use std::collections::HashSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SHORT_TTL: Duration = Duration::from_millis(300);

pub async fn releases_expired_reservations_without_an_order_service(backend: Backend) {
    let app = app!(backend, SHORT_TTL);
    app.add("a", 10).await;
    app.add("b", 10).await;
    let order = Uuid::now_v7();
    app.reserve_ok(order, &[("a", 4), ("b", 1)]).await;
    assert_eq!(app.levels("a").await, (10, 4, 6), "held until it expires");

    let released = app.wait_for_status(order, "RELEASED").await;
    assert_eq!(released["order_id"], order.to_string());
    assert_eq!(app.levels("a").await, (10, 0, 10));
    assert_eq!(app.levels("b").await, (10, 0, 10));
}

pub async fn confirmed_reservations_do_not_expire(backend: Backend) {
    let app = app!(backend, Duration::from_secs(1));
    app.add("a", 10).await;
    let confirmed = Uuid::now_v7();
    let orphan = Uuid::now_v7();
    app.reserve_ok(confirmed, &[("a", 2)]).await;
    app.reserve_ok(orphan, &[("a", 3)]).await;
    app.publish(&order_event(Placed, confirmed, &[("a", 2)])).await;
    app.wait_for_status(confirmed, "CONFIRMED").await;

    // The orphan expires after the confirmed one would have: once it is released, the
    // confirmed one has been past its expiry for a sweep or more.
    app.wait_for_status(orphan, "RELEASED").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.reservation(confirmed).await["status"], "CONFIRMED");
    assert_eq!(app.levels("a").await, (10, 2, 8));
}

pub async fn asks_the_order_service_before_releasing(backend: Backend) {
    let placed = Uuid::now_v7();
    let orphan = Uuid::now_v7();
    let unsure = Uuid::now_v7();
    let stop = CancellationToken::new();
    let _stop_on_return = stop.clone().drop_guard();
    let orders = spawn_order_service(HashSet::from([placed]), HashSet::from([unsure]), stop).await;
    let Some(app) = spawn_app_with(backend, SHORT_TTL, Some(orders)).await else {
        return;
    };
    app.add("a", 10).await;
    app.reserve_ok(placed, &[("a", 2)]).await;
    app.reserve_ok(orphan, &[("a", 3)]).await;
    app.reserve_ok(unsure, &[("a", 1)]).await;

    app.wait_for_status(placed, "CONFIRMED").await;
    app.wait_for_status(orphan, "RELEASED").await;
    // The order service cannot tell about `unsure` (503): its hold stays, sweep after sweep.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.reservation(unsure).await["status"], "PENDING");
    assert_eq!(app.reservation(placed).await["status"], "CONFIRMED", "an existing order keeps its stock");
    assert_eq!(app.levels("a").await, (10, 3, 7));
}
