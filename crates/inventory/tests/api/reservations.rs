//! `POST/GET/DELETE /api/inventory/reservations`: all or nothing, idempotent on `order_id`,
//! never overselling.

use crate::helpers::{Backend, LONG_TTL, expect_invalid, expect_json, expect_problem, reservation};
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
    expect_problem(&reply, StatusCode::CONFLICT);
    assert_eq!(app.levels("a").await, (10, 5, 5));
}

pub async fn is_idempotent_on_order_id(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    app.add("b", 10).await;
    let order = Uuid::now_v7();
    let created = app.reserve_ok(order, &[("a", 4)]).await;

    let again = expect_json(app.reserve(order, &[("a", 4)]).await, StatusCode::OK);
    assert_eq!(again, app.reservation(order).await);
    assert_eq!(again["status"], "PENDING");
    assert_eq!(again["items"], created["items"]);
    assert_eq!(app.levels("a").await, (10, 4, 6), "nothing reserved twice");

    let different = expect_json(app.reserve(order, &[("a", 1), ("b", 1)]).await, StatusCode::OK);
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
    let detail = expect_problem(&reply, StatusCode::CONFLICT);
    assert!(detail.contains("zed-9"), "detail names the product: {detail}");
    assert!(detail.contains("Available: 1, Requested: 2"), "detail gives the numbers: {detail}");
    for product in ["a", "m"] {
        assert_eq!(app.levels(product).await, (10, 0, 10), "nothing reserved for {product}");
    }
    assert_eq!(app.levels("zed-9").await, (1, 0, 1));
    expect_problem(&app.get(&format!("/api/inventory/reservations/{order}")).await, StatusCode::NOT_FOUND);

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
    let detail = expect_problem(&app.reserve(order, &[("a", 1), ("ghost-1", 1)]).await, StatusCode::CONFLICT);
    assert!(detail.contains("ghost-1"), "detail names the product: {detail}");
    assert_eq!(app.levels("a").await, (10, 0, 10));
    expect_problem(&app.get(&format!("/api/inventory/reservations/{order}")).await, StatusCode::NOT_FOUND);
    expect_problem(&app.get("/api/inventory/ghost-1").await, StatusCode::NOT_FOUND);
}

pub async fn rejects_invalid_reservations(backend: Backend) {
    let app = app!(backend);
    app.add("a", 10).await;
    let order = Uuid::now_v7();
    let path = "/api/inventory/reservations";
    assert_eq!(expect_invalid(&app.post(path, reservation(order, &[])).await), ["items"]);
    assert_eq!(expect_invalid(&app.post(path, reservation(order, &[("a", 0)])).await), ["items[0].quantity"]);
    assert_eq!(
        expect_invalid(&app.post(path, reservation(order, &[("a", 1), ("a", -2)])).await),
        ["items[1].quantity"]
    );
    assert_eq!(expect_invalid(&app.post(path, reservation(order, &[("", 1)])).await), ["items[0].product_id"]);
    let bad_id = app.post(path, json!({"order_id": "not-a-uuid", "items": [{"product_id": "a", "quantity": 1}]})).await;
    assert_eq!(expect_invalid(&bad_id), ["order_id"]);
    let wrong_type = app.post(path, json!({"order_id": order, "items": [{"product_id": "a", "quantity": "1"}]})).await;
    assert_eq!(expect_invalid(&wrong_type), ["items[0].quantity"]);
    expect_invalid(&app.post(path, json!({"items": [{"product_id": "a", "quantity": 1}]})).await);
    let too_many: Vec<(String, i64)> = (0..101).map(|i| (format!("p-{i}"), 1)).collect();
    let too_many: Vec<(&str, i64)> = too_many.iter().map(|(p, q)| (p.as_str(), *q)).collect();
    assert_eq!(expect_invalid(&app.post(path, reservation(order, &too_many)).await), ["items"]);
    let huge = app.post(path, reservation(order, &[("a", 1_000_000_001)])).await;
    assert_eq!(expect_invalid(&huge), ["items[0].quantity"]);
    assert_eq!(app.levels("a").await, (10, 0, 10), "nothing reserved");
    expect_problem(&app.get(&format!("{path}/{order}")).await, StatusCode::NOT_FOUND);
}

pub async fn unknown_reservations_are_not_found(backend: Backend) {
    let app = app!(backend);
    let order = Uuid::now_v7();
    let path = format!("/api/inventory/reservations/{order}");
    let expected = format!("Reservation for order {order} not found");
    assert_eq!(expect_problem(&app.get(&path).await, StatusCode::NOT_FOUND), expected);
    assert_eq!(expect_problem(&app.delete(&path).await, StatusCode::NOT_FOUND), expected);
    assert_eq!(expect_invalid(&app.get("/api/inventory/reservations/abc").await), ["order_id"]);
    assert_eq!(expect_invalid(&app.delete("/api/inventory/reservations/abc").await), ["order_id"]);
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
    let first = expect_json(app.delete(&path).await, StatusCode::OK);
    assert_eq!(first["status"], "RELEASED");
    assert_eq!(first["items"], json!([{"product_id": "a", "quantity": 3}]));
    assert_eq!(app.levels("a").await, (10, 4, 6), "only the released order's units come back");

    let second = expect_json(app.delete(&path).await, StatusCode::OK);
    assert_eq!(second["status"], "RELEASED");
    assert_eq!(app.levels("a").await, (10, 4, 6), "a second release gives nothing back twice");
    assert_eq!(app.reservation(released).await["status"], "RELEASED");
    assert_eq!(app.reservation(kept).await["status"], "PENDING");

    expect_json(app.delete(&format!("/api/inventory/reservations/{kept}")).await, StatusCode::OK);
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
        match reply.0 {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                let detail = expect_problem(reply, StatusCode::CONFLICT);
                assert!(detail.contains("Available: 0, Requested: 1"), "{detail}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", reply.2),
        }
    }
    assert_eq!((created, refused), (30, 70));
    assert_eq!(app.levels("hot").await, (30, 30, 0));

    let mut pending = 0;
    for (order, reply) in orders.iter().zip(&replies) {
        let found = app.get(&format!("/api/inventory/reservations/{order}")).await;
        if reply.0 == StatusCode::CREATED {
            assert_eq!(found.2["status"], "PENDING");
            pending += 1;
        } else {
            expect_problem(&found, StatusCode::NOT_FOUND);
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
    let created = replies.iter().filter(|r| r.0 == StatusCode::CREATED).count();
    let refused = replies.iter().filter(|r| r.0 == StatusCode::CONFLICT).count();
    let others: Vec<_> =
        replies.iter().filter(|r| !matches!(r.0, StatusCode::CREATED | StatusCode::CONFLICT)).collect();
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
    let created = replies.iter().filter(|r| r.0 == StatusCode::CREATED).count();
    let repeated = replies.iter().filter(|r| r.0 == StatusCode::OK).count();
    assert_eq!((created, repeated), (1, 9), "one creates, the rest see it: {replies:#?}");
    let stored = app.reservation(order).await;
    for reply in &replies {
        assert_eq!(reply.2["items"], stored["items"]);
        assert_eq!(reply.2["order_id"], stored["order_id"]);
    }
    assert_eq!(app.levels("a").await, (10, 3, 7), "held once");
}
