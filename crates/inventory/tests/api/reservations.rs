//! `POST/GET/DELETE /api/inventory/reservations`: all or nothing, idempotent on `order_id`,
//! never overselling.

use crate::helpers::{Backend, LONG_TTL, reservation};
use futures_util::future::join_all;
use http::StatusCode;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub async fn reserves_and_reads_back(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    app.add("b", 5).await;
    let order = Uuid::now_v7();
    let before = OffsetDateTime::now_utc();
    let created = app.reserve_ok(order, &[("b", 2), ("a", 3)]).await;
    assert_eq!(created["order_id"], order.to_string());
    assert_eq!(created["status"], "PENDING");
    assert_eq!(
        created["items"],
        json!([{"product_id": "a", "quantity": 3}, {"product_id": "b", "quantity": 2}]),
        "items sorted by product id"
    );
    let expires_at = created["expires_at"].as_str().unwrap_or_else(|| panic!("expires_at: {created}"));
    let expires_at = OffsetDateTime::parse(expires_at, &Rfc3339).expect("expires_at is RFC 3339");
    let ttl = expires_at - before;
    assert!(
        ttl >= LONG_TTL - std::time::Duration::from_secs(5) && ttl <= LONG_TTL + std::time::Duration::from_secs(5),
        "expires one TTL from now: {expires_at}"
    );

    assert_eq!(app.levels("a").await, (10, 3, 7));
    assert_eq!(app.levels("b").await, (5, 2, 3));
    assert_eq!(app.reservation(order).await, created, "GET returns what POST returned");
}

pub async fn merges_repeated_lines(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    let order = Uuid::now_v7();
    let created = app.reserve_ok(order, &[("a", 2), ("a", 3)]).await;
    assert_eq!(created["items"], json!([{"product_id": "a", "quantity": 5}]));
    assert_eq!(app.levels("a").await, (10, 5, 5));

    // Merged lines are checked together: 3 + 3 is more than the 5 left.
    let reply = app.reserve(Uuid::now_v7(), &[("a", 3), ("a", 3)]).await;
    reply.assert_problem(StatusCode::CONFLICT);
    assert_eq!(app.levels("a").await, (10, 5, 5));
}

pub async fn is_idempotent_on_order_id(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    app.add("b", 10).await;
    let order = Uuid::now_v7();
    let created = app.reserve_ok(order, &[("a", 4)]).await;

    let again = app.reserve(order, &[("a", 4)]).await.assert_json(StatusCode::OK);
    assert_eq!(again, app.reservation(order).await);
    assert_eq!(again["status"], "PENDING");
    assert_eq!(again["items"], created["items"]);
    assert_eq!(app.levels("a").await, (10, 4, 6), "nothing reserved twice");

    let different = app.reserve(order, &[("a", 1), ("b", 1)]).await.assert_json(StatusCode::OK);
    assert_eq!(different["items"], created["items"], "the existing reservation is returned unchanged");
    assert_eq!(app.levels("a").await, (10, 4, 6));
    assert_eq!(app.levels("b").await, (10, 0, 10));
}

pub async fn reserves_all_items_or_none(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    app.add("m", 10).await;
    app.add("zed-9", 1).await;
    let order = Uuid::now_v7();
    // Sorted by product id, the short item comes last: the holds on the first two must be
    // undone.
    let reply = app.reserve(order, &[("a", 5), ("zed-9", 2), ("m", 5)]).await;
    let detail = reply.assert_problem(StatusCode::CONFLICT);
    assert!(detail.contains("zed-9"), "detail names the product: {detail}");
    assert!(detail.contains("Available: 1, Requested: 2"), "detail gives the numbers: {detail}");
    for product in ["a", "m"] {
        assert_eq!(app.levels(product).await, (10, 0, 10), "nothing reserved for {product}");
    }
    assert_eq!(app.levels("zed-9").await, (1, 0, 1));
    app.get(&format!("/api/inventory/reservations/{order}")).await.assert_problem(StatusCode::NOT_FOUND);

    // The failed attempt left nothing behind: the same order can now reserve for real.
    let created = app.reserve_ok(order, &[("a", 5), ("zed-9", 1), ("m", 5)]).await;
    assert_eq!(created["status"], "PENDING");
    assert_eq!(app.levels("a").await, (10, 5, 5));
    assert_eq!(app.levels("zed-9").await, (1, 1, 0));
}

pub async fn refuses_unknown_products(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    let order = Uuid::now_v7();
    let detail = app.reserve(order, &[("a", 1), ("ghost-1", 1)]).await.assert_problem(StatusCode::CONFLICT);
    assert!(detail.contains("ghost-1"), "detail names the product: {detail}");
    assert_eq!(app.levels("a").await, (10, 0, 10));
    app.get(&format!("/api/inventory/reservations/{order}")).await.assert_problem(StatusCode::NOT_FOUND);
    app.get("/api/inventory/ghost-1").await.assert_problem(StatusCode::NOT_FOUND);
}

pub async fn rejects_invalid_reservations(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    let order = Uuid::now_v7();
    let path = "/api/inventory/reservations";
    assert_eq!(app.post(path, reservation(order, &[])).await.assert_invalid(), ["items"]);
    assert_eq!(app.post(path, reservation(order, &[("a", 0)])).await.assert_invalid(), ["items[0].quantity"]);
    assert_eq!(
        app.post(path, reservation(order, &[("a", 1), ("a", -2)])).await.assert_invalid(),
        ["items[1].quantity"]
    );
    assert_eq!(app.post(path, reservation(order, &[("", 1)])).await.assert_invalid(), ["items[0].product_id"]);
    let bad_id = app.post(path, json!({"order_id": "not-a-uuid", "items": [{"product_id": "a", "quantity": 1}]})).await;
    assert_eq!(bad_id.assert_invalid(), ["order_id"]);
    let wrong_type = app.post(path, json!({"order_id": order, "items": [{"product_id": "a", "quantity": "1"}]})).await;
    assert_eq!(wrong_type.assert_invalid(), ["items[0].quantity"]);
    app.post(path, json!({"items": [{"product_id": "a", "quantity": 1}]})).await.assert_invalid();
    let too_many: Vec<(String, i64)> = (0..101).map(|i| (format!("p-{i}"), 1)).collect();
    let too_many: Vec<(&str, i64)> = too_many.iter().map(|(p, q)| (p.as_str(), *q)).collect();
    assert_eq!(app.post(path, reservation(order, &too_many)).await.assert_invalid(), ["items"]);
    let huge = app.post(path, reservation(order, &[("a", 1_000_000_001)])).await;
    assert_eq!(huge.assert_invalid(), ["items[0].quantity"]);
    assert_eq!(app.levels("a").await, (10, 0, 10), "nothing reserved");
    app.get(&format!("{path}/{order}")).await.assert_problem(StatusCode::NOT_FOUND);
}

pub async fn unknown_reservations_are_not_found(backend: Backend) {
    let app = app!(backend);
    let order = Uuid::now_v7();
    let path = format!("/api/inventory/reservations/{order}");
    let expected = format!("Reservation for order {order} not found");
    assert_eq!(app.get(&path).await.assert_problem(StatusCode::NOT_FOUND), expected);
    assert_eq!(app.delete(&path).await.assert_problem(StatusCode::NOT_FOUND), expected);
    assert_eq!(app.get("/api/inventory/reservations/abc").await.assert_invalid(), ["order_id"]);
    assert_eq!(app.delete("/api/inventory/reservations/abc").await.assert_invalid(), ["order_id"]);
}

pub async fn releases_once(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    let released = Uuid::now_v7();
    let kept = Uuid::now_v7();
    app.reserve_ok(released, &[("a", 3)]).await;
    app.reserve_ok(kept, &[("a", 4)]).await;
    assert_eq!(app.levels("a").await, (10, 7, 3));

    let path = format!("/api/inventory/reservations/{released}");
    let first = app.delete(&path).await.assert_json(StatusCode::OK);
    assert_eq!(first["status"], "RELEASED");
    assert_eq!(first["items"], json!([{"product_id": "a", "quantity": 3}]));
    assert_eq!(app.levels("a").await, (10, 4, 6), "only the released order's units come back");

    let second = app.delete(&path).await.assert_json(StatusCode::OK);
    assert_eq!(second["status"], "RELEASED");
    assert_eq!(app.levels("a").await, (10, 4, 6), "a second release gives nothing back twice");
    assert_eq!(app.reservation(released).await["status"], "RELEASED");
    assert_eq!(app.reservation(kept).await["status"], "PENDING");

    app.delete(&format!("/api/inventory/reservations/{kept}")).await.assert_json(StatusCode::OK);
    assert_eq!(app.levels("a").await, (10, 0, 10));
}

pub async fn never_oversells_under_concurrency(backend: Backend) {
    let app = app!(backend);
    app.add("hot", 30).await;
    let orders: Vec<Uuid> = (0..100).map(|_| Uuid::now_v7()).collect();
    let replies = join_all(orders.iter().map(|order| app.reserve(*order, &[("hot", 1)]))).await;

    let mut created = 0;
    let mut refused = 0;
    for reply in &replies {
        match reply.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                let detail = reply.assert_problem(StatusCode::CONFLICT);
                assert!(detail.contains("Available: 0, Requested: 1"), "{detail}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!((created, refused), (30, 70));
    assert_eq!(app.levels("hot").await, (30, 30, 0));

    let mut pending = 0;
    for (order, reply) in orders.iter().zip(&replies) {
        let found = app.get(&format!("/api/inventory/reservations/{order}")).await;
        if reply.status == StatusCode::CREATED {
            assert_eq!(found.body["status"], "PENDING");
            pending += 1;
        } else {
            found.assert_problem(StatusCode::NOT_FOUND);
        }
    }
    assert_eq!(pending, 30);
}

pub async fn concurrent_multi_item_reservations_never_deadlock(backend: Backend) {
    let app = app!(backend);
    app.add("a", 40).await;
    app.add("b", 40).await;
    // Half list the items one way round, half the other: without a fixed locking order two
    // of them could each hold one row and wait for the other's.
    let orders: Vec<Uuid> = (0..60).map(|_| Uuid::now_v7()).collect();
    let replies = join_all(orders.iter().enumerate().map(|(i, order)| {
        let items: &[(&str, i64)] = if i % 2 == 0 { &[("a", 1), ("b", 1)] } else { &[("b", 1), ("a", 1)] };
        app.reserve(*order, items)
    }))
    .await;
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let refused = replies.iter().filter(|r| r.status == StatusCode::CONFLICT).count();
    let others: Vec<_> =
        replies.iter().filter(|r| !matches!(r.status, StatusCode::CREATED | StatusCode::CONFLICT)).collect();
    assert!(others.is_empty(), "every reservation is either made or refused: {others:#?}");
    assert_eq!((created, refused), (40, 20));
    assert_eq!(app.levels("a").await, (40, 40, 0));
    assert_eq!(app.levels("b").await, (40, 40, 0));
}

pub async fn concurrent_retries_of_one_order_reserve_once(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    let order = Uuid::now_v7();
    let replies = join_all((0..10).map(|_| app.reserve(order, &[("a", 3)]))).await;
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let repeated = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!((created, repeated), (1, 9), "one creates, the rest see it: {replies:#?}");
    let stored = app.reservation(order).await;
    for reply in &replies {
        assert_eq!(reply.body["items"], stored["items"]);
        assert_eq!(reply.body["order_id"], stored["order_id"]);
    }
    assert_eq!(app.levels("a").await, (10, 3, 7), "held once");
}

/// The hold of a confirmed (live) order is released only by cancelling the order: a direct
/// release is 409 and the stock stays held.
pub async fn a_live_orders_hold_cannot_be_released_directly(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    let order = Uuid::now_v7();
    app.reserve_ok(order, &[("a", 3)]).await;
    app.publish(&crate::helpers::order_event(contracts::events::OrderEventKind::Placed, order, &[("a", 3)])).await;
    app.wait_for_status(order, "CONFIRMED").await;

    let refused = app.delete(&format!("/api/inventory/reservations/{order}")).await;
    let detail = refused.assert_problem(StatusCode::CONFLICT);
    assert!(detail.contains("cancel the order"), "{detail}");
    assert_eq!(app.reservation(order).await["status"], "CONFIRMED");
    assert_eq!(app.levels("a").await, (10, 3, 7), "the stock stays held");
}
