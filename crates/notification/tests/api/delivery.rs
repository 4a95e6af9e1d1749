//! At-least-once delivery made harmless: redelivered and replayed events send nothing twice,
//! poison messages are dead-lettered without stalling the consumer.

use crate::helpers::{ADMIN, Backend, CUSTOMER, DLQ, int, inventory_low, order_placed, raw_message};
use serde_json::Value;

pub async fn redelivered_events_send_once(backend: Backend) {
    let app = app!(backend);
    let event = order_placed();
    // The same envelope (same event_id) twice, as a relay that crashed before deleting its
    // outbox row would publish it.
    app.publish(&event).await;
    app.publish(&event).await;
    app.wait_for_event(CUSTOMER, event.event_id).await;
    app.wait_consumed().await;

    let records = app.notifications(CUSTOMER).await;
    assert_eq!(records.len(), 1, "one record per event: {records:#?}");
    assert_eq!(records[0]["status"], "SENT");
    assert_eq!(int(&records[0], "attempts"), 1, "{records:#?}");
    assert_eq!(app.mails().len(), 1, "one email per event");
}

pub async fn replays_after_a_restart_send_nothing_twice(backend: Backend) {
    let mut app = app!(backend);
    let order = order_placed();
    let low = inventory_low("prod-007", "USB-C Cable", 2, 10);
    app.publish(&order).await;
    app.publish(&low).await;
    let before = app.wait_for_event(CUSTOMER, order.event_id).await;
    let admin_before = app.wait_for_event(ADMIN, low.event_id).await;
    app.wait_consumed().await;
    assert_eq!(app.mails().len(), 2);

    // A new service instance on the same store and log, whose group starts from the
    // beginning of every topic (offsets lost), and the same events published once more.
    app.stop().await;
    app.forget_offsets().await;
    app.start().await;
    app.publish(&order).await;
    app.publish(&low).await;
    app.wait_consumed().await;

    assert_eq!(app.mails().len(), 2, "a replay sends no email twice");
    let records = app.notifications(CUSTOMER).await;
    assert_eq!(records, [before], "the record is unchanged");
    let admin = app.notifications(ADMIN).await;
    assert_eq!(admin, [admin_before], "the record is unchanged");
    assert!(app.dead_letters().await.is_empty(), "replays are not poison");

    // And the restarted service still sends new emails.
    let next = order_placed();
    app.publish(&next).await;
    let record = app.wait_for_event(CUSTOMER, next.event_id).await;
    assert_eq!(record["status"], "SENT");
    app.wait_consumed().await;
    assert_eq!(app.mails().len(), 3);
}

pub async fn poison_messages_are_dead_lettered(backend: Backend) {
    let app = app!(backend);
    let not_json = raw_message("order-placed", b"this is not JSON {");
    let mut future_version = order_placed();
    future_version.schema_version = 99;
    let future_version = kit::outbox::message(&future_version);
    // A valid envelope whose payload does not fit an order (no items, no customer).
    let misshapen = raw_message(
        "order-placed",
        serde_json::json!({
            "event_id": uuid::Uuid::now_v7(),
            "event_type": "ORDER_PLACED",
            "occurred_at": "2026-02-21T10:00:00Z",
            "schema_version": 1,
            "timestamp": "2026-02-21T10:00:00.000000+00:00",
            "order_number": "ORD-20260221-BADBAD00",
        })
        .to_string()
        .as_bytes(),
    );
    for message in [not_json.clone(), future_version.clone(), misshapen.clone()] {
        app.publish_raw(message).await;
    }
    let good = order_placed();
    app.publish(&good).await;

    let record = app.wait_for_event(CUSTOMER, good.event_id).await;
    assert_eq!(record["status"], "SENT", "a valid event after poison is still emailed: {record}");
    app.wait_for_dead_letters(3).await;
    app.wait_consumed().await;
    let dead = app.dead_letters().await;
    assert_eq!(dead.len(), 3, "{dead:#?}");
    for (letter, original) in dead.iter().zip([&not_json, &future_version, &misshapen]) {
        assert_eq!(letter.topic, DLQ);
        assert_eq!(letter.payload, original.payload, "dead letters keep the original payload");
        assert_eq!(letter.header("x-original-topic"), Some("order-placed"), "{letter:?}");
        assert!(letter.header("x-dead-letter-reason").is_some_and(|r| !r.is_empty()), "{letter:?}");
    }
    let reason = dead[1].header("x-dead-letter-reason").unwrap_or("");
    assert!(reason.contains("99"), "the reason names the unknown version: {reason}");

    assert_eq!(app.mails().len(), 1, "only the valid event was emailed");
    let page = app.notifications_page("page_size=100").await;
    assert_eq!(int(&page, "total"), 1, "poison leaves no record: {page}");
    let listed: &Value = &page["notifications"][0];
    assert_eq!(listed["event_id"], good.event_id.to_string());
}
