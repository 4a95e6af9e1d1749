//! The platform under faults and races found by fault injection (issue 7): hostile names,
//! a poison event, a race for scarce stock under one Idempotency-Key, listing while orders
//! are written, a shutdown in the middle of a storm, and an order stuck behind a lock while
//! its stock hold expires.

use crate::helpers::{Backend, Options, TestPlatform, order_body, spawn};
use http::{Method, StatusCode};
use kit::bus::{EventBus, OutgoingMessage};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A newline in a name once made the mail builder panic and stop every later email.
pub async fn control_characters_in_customer_fields_are_refused(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("ctl-1", 5.0, 10).await;
    let cases = [
        (json!({"customer_name": "A\nB", "customer_email": "a@example.com"}), "customer_name"),
        (json!({"customer_name": "Nul\u{0}", "customer_email": "a@example.com"}), "customer_name"),
        (json!({"customer_name": "A", "customer_email": "a@example.com\r\nBcc: x@evil.test"}), "customer_email"),
        (json!({"customer_name": "A", "customer_email": "a\u{0}@example.com"}), "customer_email"),
    ];
    for (fields, field) in cases {
        let mut body = order_body("unused@example.com", &[("ctl-1", 1)]);
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        let reply = app.post("/api/orders", body.clone()).await;
        assert_eq!(reply.assert_invalid(), [field], "{body}");
    }
    assert_eq!(app.stock("ctl-1").await, (10, 0, 10), "nothing reserved");
    assert_eq!(app.get("/api/orders").await.headers["x-total-count"], "0");
}

/// A message no handler can read is dead-lettered, and the next order is still emailed.
pub async fn a_poison_event_does_not_stop_the_emails(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("psn-1", 5.0, 10).await;
    let garbage = OutgoingMessage {
        topic: "order-placed".into(),
        key: "garbage".into(),
        headers: vec![],
        payload: b"{\"event_id\": \"not-a-uuid\", \"customer_name\": \"A\\nB\"".to_vec(),
    };
    app.events().publish(&[garbage]).await.unwrap();
    let placed = app.post("/api/orders", order_body("after-poison@example.com", &[("psn-1", 1)])).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    let number = placed.body["order_number"].as_str().unwrap().to_owned();
    let emailed = testkit::eventually(WAIT, || async { app.emails_with(&[&number, "Confirmed"]).len() == 1 }).await;
    assert!(emailed, "the order after the poison message is emailed");
    for group in ["notification-service", "inventory-service"] {
        let dead = app.events().read_all(&format!("{group}.dlq")).await.unwrap();
        assert!(dead.iter().any(|m| m.key == "garbage"), "{group} dead-lettered the poison message");
    }
}

/// One unit in stock, two requests with one Idempotency-Key at once: both get the same
/// order (the later waits for the earlier), never an out-of-stock answer for the key's own
/// order.
pub async fn one_key_racing_for_scarce_stock_gets_one_order(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    let app = Arc::new(app);
    for round in 0..5 {
        let product = format!("last-{round}");
        app.stock_product(&product, 9.0, 1).await;
        let key = format!("scarce-key-{round}");
        let body = order_body(&format!("scarce{round}@example.com"), &[(&product, 1)]);
        let send = || {
            let (app, body, key) = (app.clone(), body.clone(), key.clone());
            async move { app.request(Method::POST, "/api/orders", body, &[("idempotency-key", &key)]).await }
        };
        let (a, b) = tokio::join!(send(), send());
        for reply in [&a, &b] {
            assert!(
                reply.status == StatusCode::CREATED
                    || (reply.status == StatusCode::CONFLICT && reply.detail().contains("in progress")),
                "round {round}: {} {:?}",
                reply.status,
                reply.body
            );
        }
        let ids: Vec<&str> = [&a, &b].iter().filter_map(|r| r.body["id"].as_str()).collect();
        assert!(!ids.is_empty(), "round {round}: at least one order");
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "round {round}: one order for the key: {ids:?}");
        assert_eq!(app.stock(&product).await, (1, 1, 0), "round {round}: one unit held, once");
    }
}

/// Orders and their lines read by one page: every order on every page has its lines, however
/// many orders are written meanwhile.
pub async fn order_pages_always_carry_their_items(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("page-1", 2.0, 100_000).await;
    let app = Arc::new(app);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    let reply =
                        app.post("/api/orders", order_body(&format!("w{w}-{i}@example.com"), &[("page-1", 1)])).await;
                    assert_eq!(reply.status, StatusCode::CREATED);
                }
            })
        })
        .collect();
    let mut pages = 0;
    while !writers.iter().all(|w| w.is_finished()) {
        for page in 1..=2 {
            let listed = app.get(&format!("/api/orders?page={page}&page_size=5")).await;
            assert_eq!(listed.status, StatusCode::OK);
            for order in listed.body.as_array().unwrap() {
                let items = order["items"].as_array().unwrap();
                assert_eq!(items.len(), 1, "an order listed without its lines: {order}");
            }
            pages += 1;
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(pages > 10, "listed while writing ({pages} pages)");
}

/// SIGTERM in the middle of a storm: the gateway stops taking requests and drains first, so
/// no request it accepted fails with a 503 from a peer that stopped too early.
pub async fn a_shutdown_mid_storm_fails_no_accepted_order(backend: Backend) {
    let Some(mut app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("drain-1", 3.0, 100_000).await;
    let client = (*app).clone();
    let storm: Vec<_> = (0..24)
        .map(|c| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for i in 0.. {
                    let body = order_body(&format!("d{c}-{i}@example.com"), &[("drain-1", 1)]);
                    match client.try_request(Method::POST, "/api/orders", body, &[]).await {
                        Ok(reply) => statuses.push(reply.status),
                        Err(_) => break, // not accepted: the gateway is closed
                    }
                }
                statuses
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    app.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(30), app.platform.take().unwrap().wait()).await;
    assert!(matches!(stopped, Ok(Ok(()))), "the platform stopped cleanly: {stopped:?}");
    let mut answered = 0;
    for task in storm {
        for status in task.await.unwrap() {
            assert_eq!(status, StatusCode::CREATED, "an accepted order failed during shutdown");
            answered += 1;
        }
    }
    assert!(answered > 24, "the storm was under way ({answered} orders)");
}

/// The stock hold of an order stuck behind a lock expires while the order waits to be
/// written. Either the order commits and keeps its hold, or it fails (503) and its hold is
/// released — never a confirmed order whose stock went back on sale.
pub async fn an_expired_hold_never_leaves_a_confirmed_order_without_stock(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // one writer: an order cannot wait on a lock while the sweeper writes
    }
    let options = Options { reservation_ttl: Duration::from_millis(500), ..Options::default() };
    let Some(app) = spawn(backend, options).await else { return };
    app.stock_product("race-1", 4.0, 10).await;
    let url = app.postgres_url().unwrap().to_owned();
    let mut locker = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("LOCK TABLE orders.orders IN EXCLUSIVE MODE").execute(&mut locker).await.unwrap();
    let app = Arc::new(app);
    let placing: Vec<_> = (0..3)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.post("/api/orders", order_body(&format!("r{i}@example.com"), &[("race-1", 2)])).await
            })
        })
        .collect();
    // Long past the TTL: the sweeper has found the holds expired and tries to void them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    let mut placed = 0;
    for task in placing {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::CREATED => placed += 1,
            StatusCode::SERVICE_UNAVAILABLE => assert!(reply.detail().contains("expired"), "{:?}", reply.body),
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
    let settled =
        testkit::eventually(WAIT, || async { app.stock("race-1").await == (10, 2 * placed, 10 - 2 * placed) }).await;
    assert!(settled, "{placed} orders placed; stock {:?}", app.stock("race-1").await);
    let orders = app.get("/api/orders").await;
    assert_eq!(orders.headers["x-total-count"], placed.to_string().as_str());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app.stock("race-1").await, (10, 2 * placed, 10 - 2 * placed), "the holds of placed orders stay");
}

impl TestPlatform {
    /// The platform's PostgreSQL database, when on PostgreSQL.
    pub fn postgres_url(&self) -> Option<&str> {
        self.stores().postgres_url()
    }
}

/// `shop up` reads its settings with the same checks as `shop serve`: a zero TTL is refused
/// at start-up, naming the variable.
#[tokio::test]
async fn shop_up_checks_its_settings_like_serve() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["up", "--no-demo", "--data-dir"])
        .arg(dir.path())
        .env("RESERVATION_TTL_SECS", "0")
        .env_remove("KAFKA_BROKERS")
        .envs(crate::helpers::PORT_VARS.map(|v| (v, "0")))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), output).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a zero TTL must stop start-up");
    assert!(stderr.contains("RESERVATION_TTL_SECS"), "the error names the variable: {stderr}");
}

/// Under `shop up` the gateway hands requests to the services in-process, reading the body
/// first: an upload that is too large or stalls still gets the gateway's 413 or 408, and
/// the order service never sees it.
pub async fn uploads_too_large_or_stalled_get_the_gateways_answers(backend: Backend) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Some(app) = spawn(backend, Options::default()).await else { return };
    let port = app.ports().gateway;
    async fn answer(mut stream: tokio::net::TcpStream) -> String {
        let mut head = vec![0; 4096];
        let read = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut head))
            .await
            .expect("an answer within 15 s")
            .expect("readable");
        String::from_utf8_lossy(&head[..read]).into_owned()
    }
    let open = || async move { tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect") };

    // Declared over the limit: refused before a byte of it is read.
    let mut stream = open().await;
    stream
        .write_all(b"POST /api/orders HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 11000000\r\n\r\n")
        .await
        .expect("write");
    let reply = answer(stream).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("application/problem+json"), "{reply}");

    // Chunked, over the limit once streamed.
    let stream = open().await;
    let (mut read, mut write) = stream.into_split();
    let sender = tokio::spawn(async move {
        let _ = write
            .write_all(b"POST /api/orders HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, " ".repeat(1 << 20));
        for _ in 0..11 {
            if write.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = write.write_all(b"0\r\n\r\n").await;
    });
    let mut head = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(15), read.read(&mut head)).await.expect("answer").expect("read");
    let reply = String::from_utf8_lossy(&head[..n]).into_owned();
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    sender.abort();

    // A body that stops arriving: the client's fault (408), not an upstream timeout.
    let mut stream = open().await;
    stream
        .write_all(b"POST /api/orders HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"customer")
        .await
        .expect("write");
    let reply = answer(stream).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");

    assert_eq!(app.get("/api/orders").await.headers["x-total-count"], "0", "no order was written");
}
