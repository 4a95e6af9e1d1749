//! Sending by SMTP to a server inside the test: the message on the wire, retries, and what
//! happens when the server keeps refusing or is not there at all.

use crate::helpers::{Backend, CUSTOMER, DLQ, int, order_placed};
use crate::mime::Mail;
use crate::smtp_sink::SmtpSink;
use notification::Transport;

pub async fn delivers_a_multipart_message(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = app!(backend, Transport::Smtp(sink.url.clone()));
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
    let id = mail.header("message-id");
    assert!(id.starts_with('<') && id.ends_with('>') && id.contains('@'), "Message-ID: {id}");
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
    let app = app!(backend, Transport::Smtp(sink.url.clone()));
    let event = order_placed();
    app.publish(&event).await;

    let record = app.wait_for_event(CUSTOMER, event.event_id).await;
    assert_eq!(record["status"], "SENT", "sent on the third attempt: {record}");
    assert_eq!(int(&record, "attempts"), 3, "{record}");
    assert_eq!(sink.mail_commands(), 3, "two refused attempts, then one accepted");
    assert_eq!(sink.received().len(), 1);
    app.wait_consumed().await;
    assert!(app.dead_letters().await.is_empty(), "a send that eventually succeeded is not dead-lettered");
}

pub async fn gives_up_after_the_attempts_and_dead_letters(backend: Backend) {
    let sink = SmtpSink::start().await;
    sink.refuse_all("451 4.3.0 mailbox temporarily unavailable");
    let app = app!(backend, Transport::Smtp(sink.url.clone()));
    let failing = order_placed();
    app.publish(&failing).await;

    let record = app.wait_for_event(CUSTOMER, failing.event_id).await;
    assert_eq!(record["status"], "FAILED", "{record}");
    assert_eq!(int(&record, "attempts"), 3, "{record}");
    let error = record["last_error"].as_str().unwrap_or_else(|| panic!("no last_error: {record}"));
    assert!(error.contains("451"), "the last error says what the server said: {error}");
    assert!(record["sent_at"].is_null(), "{record}");
    assert_eq!(sink.mail_commands(), 3, "three attempts reached the server");
    assert!(sink.received().is_empty());

    let dead = app.wait_for_dead_letters(1).await;
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0].topic, DLQ);
    assert_eq!(dead[0].header("x-original-topic"), Some("order-placed"));
    let payload: serde_json::Value = serde_json::from_slice(&dead[0].payload).unwrap();
    assert_eq!(payload["event_id"], failing.event_id.to_string(), "the failed event is kept on the DLQ");

    // The server recovers: later events go through, the failed one is not resent by itself.
    sink.accept();
    let good = order_placed();
    app.publish(&good).await;
    let record = app.wait_for_event(CUSTOMER, good.event_id).await;
    assert_eq!(record["status"], "SENT", "{record}");
    app.wait_consumed().await;
    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    assert!(Mail::parse(&received[0].data).subject().contains(&good.payload.order_number));
    let failed = app.wait_for_event(CUSTOMER, failing.event_id).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(int(&failed, "attempts"), 3, "{failed}");
}

pub async fn an_unreachable_server_fails_and_dead_letters(backend: Backend) {
    // A port nobody listens on: bind one, then let it go.
    let port = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let app = app!(backend, Transport::Smtp(format!("smtp://127.0.0.1:{port}")));
    let event = order_placed();
    app.publish(&event).await;

    let record = app.wait_for_event(CUSTOMER, event.event_id).await;
    assert_eq!(record["status"], "FAILED", "{record}");
    assert_eq!(int(&record, "attempts"), 3, "{record}");
    assert!(record["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{record}");
    let dead = app.wait_for_dead_letters(1).await;
    let payload: serde_json::Value = serde_json::from_slice(&dead[0].payload).unwrap();
    assert_eq!(payload["event_id"], event.event_id.to_string());
    // Still serving: the failure did not take the service down.
    assert_eq!(app.get("/health").await.0, http::StatusCode::OK);
}
