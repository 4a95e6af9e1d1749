//! Sending by SMTP to a server inside the test: the message on the wire, retries on the
//! schedule, an outage, giving up (record FAILED, one dead letter) and replaying the dead
//! letter, a server that is not there at all, and the Message-ID a resent email keeps.

use crate::helpers::{Backend, CUSTOMER, DLQ, SHORT_SCHEDULE, Setup, int, ms, order_placed, replay_of, text};
use crate::mime::Mail;
use crate::smtp_sink::SmtpSink;
use std::collections::HashSet;
use std::time::Duration;

pub async fn delivers_a_multipart_message(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = app!(backend, Setup::smtp(&sink.url));
    let event = order_placed();
    let number = event.payload.order_number.clone();
    app.publish(&event).await;

    let record = app.wait_for_event(CUSTOMER, event.event_id).await;
    assert_eq!(record["status"], "SENT", "{record}");
    assert_eq!(int(&record, "attempts"), 1, "{record}");
    app.wait_consumed().await;

    let received = sink.received();
    assert_eq!(received.len(), 1, "delivered exactly once: {received:#?}");
    let message = &received[0];
    assert_eq!(message.from, "no-reply@shop.local");
    assert_eq!(message.to, [CUSTOMER]);

    let mail = Mail::parse(&message.data);
    assert_eq!(mail.decoded("from"), "Shop <no-reply@shop.local>");
    let to = mail.decoded("to");
    assert!(to.contains("Ada Lovelace") && to.contains("<ada@example.com>"), "To: {to}");
    assert_eq!(mail.subject(), format!("Order Confirmed — {number}"));
    assert!(!mail.header("date").is_empty(), "{}", mail.raw);
    assert_eq!(mail.header("mime-version"), "1.0");
    assert_eq!(mail.header("message-id"), format!("<{}@shop.local>", text(&record, "id")), "named by the record");
    mail.assert_alternative();
    assert!(mail.text().contains("Ada Lovelace") && mail.text().contains(&number), "{}", mail.text());
    assert!(mail.html().contains("Ada Lovelace") && mail.html().contains(&number), "{}", mail.html());

    // A redelivery of the same event does not reach the server again.
    app.publish(&event).await;
    app.wait_consumed().await;
    assert_eq!(sink.received().len(), 1, "redelivered events are not sent again");
}

pub async fn retries_a_refusing_server(backend: Backend) {
    let sink = SmtpSink::start().await;
    sink.refuse(2, "451 4.3.0 try again later");
    let app = app!(backend, Setup::smtp(&sink.url));
    let event = order_placed();
    app.publish(&event).await;

    let record = app.wait_for_event(CUSTOMER, event.event_id).await;
    assert_eq!(record["status"], "SENT", "sent on the third attempt: {record}");
    assert_eq!(int(&record, "attempts"), 3, "{record}");
    assert!(text(&record, "last_error").contains("451"), "why it was late: {record}");
    assert_eq!(sink.mail_commands(), 3, "two refused attempts, then one accepted");
    assert_eq!(sink.received().len(), 1);
    app.wait_consumed().await;
    assert!(app.dead_letters().await.is_empty(), "a send that eventually succeeded is not dead-lettered");
}

/// Issue 7, defect 3: an SMTP server refusing for a second lost every email of that second
/// (three attempts within 0.6 s). Nine orders arrive while it refuses; each waits for its
/// scheduled retry, and all nine are delivered, each exactly once.
pub async fn an_outage_of_a_second_loses_no_email(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = app!(backend, Setup::smtp(&sink.url).schedule(&[ms(200), ms(400), ms(800), ms(1600)]));
    sink.refuse_for(Duration::from_secs(1), "421 4.3.2 service not available, closing channel");
    let mut orders = Vec::new();
    for _ in 0..9 {
        let order = order_placed();
        app.publish(&order).await;
        orders.push(order);
        tokio::time::sleep(ms(80)).await;
    }

    for order in &orders {
        let record = app
            .wait_for_record(CUSTOMER, order.event_id, Duration::from_secs(10), "finished", |n| {
                n["status"] == "SENT" || n["status"] == "FAILED"
            })
            .await;
        assert_eq!(record["status"], "SENT", "{record}");
        assert!(int(&record, "attempts") >= 2, "refused at first: {record}");
    }
    app.wait_consumed().await;
    let received = sink.received();
    assert_eq!(received.len(), 9, "{received:#?}");
    let subjects: Vec<String> = received.iter().map(|m| Mail::parse(&m.data).subject()).collect();
    for order in &orders {
        let copies = subjects.iter().filter(|s| s.contains(&order.payload.order_number)).count();
        assert_eq!(copies, 1, "{} delivered exactly once: {subjects:#?}", order.payload.order_number);
    }
    assert!(app.dead_letters().await.is_empty(), "nothing was given up");
}

/// Issue 7, defect 3: once the schedule is exhausted the email is FAILED (attempts and the
/// last error kept) with exactly one dead letter; replaying that dead letter on its original
/// topic sends the email.
pub async fn an_exhausted_schedule_dead_letters_once_and_a_replay_sends(backend: Backend) {
    let sink = SmtpSink::start().await;
    sink.refuse_all("451 4.3.0 mailbox temporarily unavailable");
    let app = app!(backend, Setup::smtp(&sink.url));
    let failing = order_placed();
    app.publish(&failing).await;

    let attempts = SHORT_SCHEDULE.len() as i64 + 1;
    let record = app.wait_for_event(CUSTOMER, failing.event_id).await;
    assert_eq!(record["status"], "FAILED", "{record}");
    assert_eq!(int(&record, "attempts"), attempts, "the first attempt and one per step: {record}");
    assert!(text(&record, "last_error").contains("451"), "what the server said: {record}");
    assert!(record["sent_at"].is_null() && record["next_attempt_at"].is_null(), "{record}");
    assert_eq!(sink.mail_commands(), attempts as usize, "every attempt reached the server");
    assert!(sink.received().is_empty());

    let dead = app.wait_for_dead_letters(1).await;
    assert_eq!(dead[0].topic, DLQ);
    assert_eq!(dead[0].key, failing.payload.order_id.to_string(), "keyed like the event");
    assert_eq!(dead[0].header("x-original-topic"), Some("order-placed"));
    let reason = dead[0].header("x-dead-letter-reason").unwrap_or_default();
    assert!(reason.contains("451") && reason.contains(CUSTOMER), "{reason}");
    assert_eq!(dead[0].payload, kit::outbox::message(&failing).payload, "the original event, byte for byte");
    app.wait_consumed().await;
    tokio::time::sleep(ms(700)).await;
    assert_eq!(app.dead_letters().await.len(), 1, "exactly one dead letter");

    // The server recovers; the FAILED email is not resent by itself, but a replay of its dead
    // letter sends it.
    sink.accept();
    tokio::time::sleep(ms(300)).await;
    assert!(sink.received().is_empty(), "given up means given up until replayed");
    app.publish_raw(replay_of(&dead[0])).await;
    let record = app.wait_for_status(CUSTOMER, failing.event_id, "SENT").await;
    assert_eq!(int(&record, "attempts"), attempts + 1, "attempts are kept across the replay: {record}");
    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    assert!(Mail::parse(&received[0].data).subject().contains(&failing.payload.order_number));
    app.wait_consumed().await;
    assert_eq!(app.dead_letters().await.len(), 1, "the replay added no dead letter");

    // A replay of a SENT email sends nothing.
    app.publish_raw(replay_of(&dead[0])).await;
    app.wait_consumed().await;
    assert_eq!(sink.received().len(), 1);
}

pub async fn an_unreachable_server_fails_and_dead_letters(backend: Backend) {
    // A port nobody listens on: bind one, then let it go.
    let port = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let app = app!(backend, Setup::smtp(&format!("smtp://127.0.0.1:{port}")));
    let event = order_placed();
    app.publish(&event).await;

    let record = app.wait_for_event(CUSTOMER, event.event_id).await;
    assert_eq!(record["status"], "FAILED", "{record}");
    assert_eq!(int(&record, "attempts"), SHORT_SCHEDULE.len() as i64 + 1, "{record}");
    assert!(record["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{record}");
    let dead = app.wait_for_dead_letters(1).await;
    let payload: serde_json::Value = serde_json::from_slice(&dead[0].payload).unwrap();
    assert_eq!(payload["event_id"], event.event_id.to_string());
    // Still serving: the failure did not take the service down.
    assert_eq!(app.get("/health").await.status, http::StatusCode::OK);
}

/// Issue 7, defect 4: every attempt of one email carries the same Message-ID (derived from
/// the notification), so the copy a crash between sending and recording causes is
/// recognisably the same email.
pub async fn a_resent_email_keeps_its_message_id(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = app!(backend, Setup::smtp(&sink.url));
    let event = order_placed();
    app.publish(&event).await;
    let record = app.wait_for_event(CUSTOMER, event.event_id).await;
    assert_eq!(record["status"], "SENT", "{record}");

    // Sent, but the record still says PENDING, and the event comes again: as after a crash.
    app.set_status(text(&record, "id"), "PENDING").await;
    app.publish(&event).await;
    app.wait_for_record(CUSTOMER, event.event_id, testkit::EVENTUALLY, "resent", |n| {
        n["status"] == "SENT" && n["attempts"] == 2
    })
    .await;

    let received = sink.received();
    assert_eq!(received.len(), 2, "{received:#?}");
    let ids: HashSet<String> = received.iter().map(|m| Mail::parse(&m.data).header("message-id").to_owned()).collect();
    assert_eq!(ids, HashSet::from([format!("<{}@shop.local>", text(&record, "id"))]), "one Message-ID");
}
