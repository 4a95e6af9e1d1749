//! Starting a notification service on a fresh store with its own event log, publishing
//! events onto the log the way producers do, reading back what it recorded (HTTP), wrote
//! (`.eml` files) and dead-lettered, and waiting for the consumer to catch up.

use crate::mime::Mail;
use bytes::Bytes;
use contracts::Money;
use contracts::events::{
    Envelope, Event, InventoryLow, OrderEvent, OrderEventItem, OrderEventKind, OrderStatusChanged,
};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use kit::bus::log::EventLog;
use kit::bus::{EventBus, Message, OutgoingMessage};
use kit::db::{Db, DbOptions};
use notification::{App, Config, Transport};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long to wait for an asynchronous effect (the consumer, retries).
pub const EVENTUALLY: Duration = Duration::from_secs(5);

/// The service's consumer group (spec: one group per service).
pub const GROUP: &str = "notification-service";

/// Its dead-letter topic.
pub const DLQ: &str = "notification-service.dlq";

/// The topics the service consumes.
pub const TOPICS: [&str; 5] =
    ["order-placed", "order-cancelled", "order-status-changed", "inventory-low", "ai-notification-ready"];

/// Who gets low-stock alerts in these tests.
pub const ADMIN: &str = "admin@example.com";

/// The customer of the sample orders.
pub const CUSTOMER: &str = "ada@example.com";

/// Which store the service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Files in a temporary directory.
    Sqlite,
    /// A fresh database on the `TEST_DATABASE_URL` server.
    Postgres,
}

/// An HTTP answer: status, headers and the body as JSON (a JSON string holding the text
/// when it is not JSON).
pub type Reply = (StatusCode, HeaderMap, Value);

/// A running service and what the tests need to observe it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The event log the service consumes from and dead-letters to.
    pub log: EventLog,
    /// Where `.eml` files go with [`spawn_with_files`].
    pub mail_dir: PathBuf,
    config: Config,
    shutdown: CancellationToken,
    running: Option<JoinHandle<std::io::Result<()>>>,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Keeps the SQLite files and the mail directory alive as long as the service.
    _dir: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts a service sending through `transport`, or `None` when the backend's server is
/// missing (a skipped test, or a failure under `SHOP_REQUIRE_TEST_SERVERS=1`).
pub async fn spawn(backend: Backend, transport: Transport) -> Option<TestApp> {
    spawn_inner(backend, Some(transport)).await
}

/// Starts a service writing `.eml` files into [`TestApp::mail_dir`].
pub async fn spawn_with_files(backend: Backend) -> Option<TestApp> {
    spawn_inner(backend, None).await
}

async fn spawn_inner(backend: Backend, transport: Option<Transport>) -> Option<TestApp> {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let path = dir.path().display().to_string();
    let (database, event_db) = match backend {
        Backend::Sqlite => (
            options(format!("sqlite://{path}/notification.db"), "notification"),
            options(format!("sqlite://{path}/events.db"), "eventlog"),
        ),
        Backend::Postgres => {
            let url = kit::testing::fresh_postgres().await?;
            (options(url.clone(), "notification"), options(url, "eventlog"))
        }
    };
    let event_db = kit::db::connect(&event_db, &kit::bus::log::MIGRATIONS).await.expect("opening the event log");
    let log = EventLog::new(event_db);
    let mail_dir = dir.path().join("mail");
    let config = Config {
        host: "127.0.0.1".into(),
        port: 0,
        database,
        transport: transport.unwrap_or_else(|| Transport::Files(mail_dir.clone())),
        from: "Shop <no-reply@shop.local>".into(),
        admin_email: ADMIN.into(),
        send_attempts: 3,
        retry_delay: Duration::from_millis(50),
    };
    let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut app = TestApp {
        base: String::new(),
        log,
        mail_dir,
        config,
        shutdown: CancellationToken::new(),
        running: None,
        client,
        _dir: dir,
    };
    app.start().await;
    Some(app)
}

fn options(url: String, schema: &str) -> DbOptions {
    DbOptions { url, schema: schema.into(), max_connections: 8 }
}

impl TestApp {
    /// Starts the service (again, after [`TestApp::stop`]) on the same store, event log and
    /// transport.
    pub async fn start(&mut self) {
        let app = App::build(self.config.clone(), Arc::new(self.log.clone()))
            .await
            .expect("building the notification service");
        self.base = format!("http://127.0.0.1:{}", app.port());
        self.shutdown = CancellationToken::new();
        self.running = Some(tokio::spawn(app.run_until_stopped(self.shutdown.clone())));
    }

    /// Stops the service, waiting until its consumer has stopped and its store is closed.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(20), running)
                .await
                .expect("the service did not stop within 20 s")
                .expect("the service task panicked")
                .expect("the service failed");
        }
    }

    /// Forgets the consumer group's committed offsets, so the next consumer reads every
    /// topic from the start (a replay, as after a lost offsets store or a reset group).
    pub async fn forget_offsets(&self) {
        let sql = "DELETE FROM consumer_offsets WHERE group_id = $1";
        let deleted = match self.log.db() {
            Db::Postgres(pool) => sqlx::query(sql).bind(GROUP).execute(pool).await.map(|r| r.rows_affected()),
            Db::Sqlite(pool) => sqlx::query(sql).bind(GROUP).execute(pool).await.map(|r| r.rows_affected()),
        }
        .expect("deleting consumer offsets");
        assert!(deleted > 0, "the group had committed nothing to forget");
    }

    // ---- HTTP ----

    /// Sends a request to `path` (relative to the service) and reads the whole answer.
    pub async fn get(&self, path: &str) -> Reply {
        let request = Request::builder()
            .method(Method::GET)
            .uri(format!("{}{}", self.base, path))
            .body(Full::new(Bytes::new()))
            .expect("building a request");
        let response = tokio::time::timeout(Duration::from_secs(20), self.client.request(request))
            .await
            .unwrap_or_else(|_| panic!("GET {path} timed out"))
            .unwrap_or_else(|e| panic!("GET {path} failed: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("reading a response body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, headers, body)
    }

    /// `GET /api/notifications?<query>`, asserting a 200 JSON page.
    pub async fn notifications_page(&self, query: &str) -> Value {
        expect_json(self.get(&format!("/api/notifications?{query}")).await, StatusCode::OK)
    }

    /// Every recorded notification of `email` (newest first).
    pub async fn notifications(&self, email: &str) -> Vec<Value> {
        let page = self.notifications_page(&format!("email={email}&page_size=100")).await;
        page["notifications"].as_array().unwrap_or_else(|| panic!("no notifications[]: {page}")).clone()
    }

    /// The notifications of `email` once `count` of them are finished (not `PENDING`);
    /// fails after [`EVENTUALLY`].
    pub async fn wait_for_notifications(&self, email: &str, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        loop {
            let list = self.notifications(email).await;
            if list.iter().filter(|n| n["status"] != "PENDING").count() >= count {
                return list;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} finished notifications to {email} within {EVENTUALLY:?}, got {list:#?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The notification of event `event_id` once it is finished; fails after [`EVENTUALLY`].
    pub async fn wait_for_event(&self, email: &str, event_id: Uuid) -> Value {
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        loop {
            let list = self.notifications(email).await;
            let id = event_id.to_string();
            if let Some(found) = list.iter().find(|n| n["event_id"] == id.as_str() && n["status"] != "PENDING") {
                return found.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no finished notification of event {event_id} to {email} within {EVENTUALLY:?}: {list:#?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    // ---- events ----

    /// Appends `envelope` to the log, as a producer's outbox relay would.
    pub async fn publish<T: Event>(&self, envelope: &Envelope<T>) {
        self.publish_raw(kit::outbox::message(envelope)).await;
    }

    /// Appends a hand-made message.
    pub async fn publish_raw(&self, message: OutgoingMessage) {
        self.log.publish(&[message]).await.expect("publishing an event");
    }

    /// Waits until the consumer group has committed every message now on the topics it
    /// consumes (so whatever they cause has happened); fails after [`EVENTUALLY`].
    pub async fn wait_consumed(&self) {
        for topic in TOPICS {
            let Some(last) = self.log.read_all(topic).await.expect("reading the log").last().map(|m| m.offset) else {
                continue;
            };
            let deadline = tokio::time::Instant::now() + EVENTUALLY;
            loop {
                let committed = self.committed(topic).await;
                if committed.is_some_and(|next| next > last) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{GROUP} did not get past offset {last} of {topic} within {EVENTUALLY:?} (committed {committed:?})"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }

    async fn committed(&self, topic: &str) -> Option<i64> {
        let sql = "SELECT next_offset FROM consumer_offsets WHERE group_id = $1 AND topic = $2";
        let row: Option<(i64,)> = match self.log.db() {
            Db::Postgres(pool) => sqlx::query_as(sql).bind(GROUP).bind(topic).fetch_optional(pool).await,
            Db::Sqlite(pool) => sqlx::query_as(sql).bind(GROUP).bind(topic).fetch_optional(pool).await,
        }
        .expect("reading committed offsets");
        row.map(|(next,)| next)
    }

    /// The dead-lettered messages.
    pub async fn dead_letters(&self) -> Vec<Message> {
        self.log.read_all(DLQ).await.expect("reading the dead-letter topic")
    }

    /// The dead-lettered messages once there are at least `count`; fails after [`EVENTUALLY`].
    pub async fn wait_for_dead_letters(&self, count: usize) -> Vec<Message> {
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        loop {
            let found = self.dead_letters().await;
            if found.len() >= count {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} dead letters within {EVENTUALLY:?}, got {found:#?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    // ---- .eml files ----

    /// Every `.eml` file written so far, parsed.
    pub fn mails(&self) -> Vec<Mail> {
        eml_files(&self.mail_dir)
            .iter()
            .map(|path| Mail::parse(&std::fs::read_to_string(path).expect("reading an .eml file")))
            .collect()
    }

    /// The one `.eml` file whose subject contains `needle`; fails if there is not exactly one.
    #[track_caller]
    pub fn mail_about(&self, needle: &str) -> Mail {
        let mut found: Vec<Mail> = self.mails().into_iter().filter(|m| m.subject().contains(needle)).collect();
        assert_eq!(found.len(), 1, "expected one email about {needle:?}, got {found:#?}");
        found.remove(0)
    }
}

/// The `.eml` files in `dir` (none if it does not exist yet).
pub fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.expect("reading the mail directory").path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect()
}

// ---- answers ----

/// Asserts a JSON answer with `status`; returns the body.
#[track_caller]
pub fn expect_json(reply: Reply, status: StatusCode) -> Value {
    let (actual, headers, body) = reply;
    assert_eq!(actual, status, "unexpected status; body: {body}");
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("application/json"), "content type {content_type:?}; body: {body}");
    body
}

/// Asserts a problem+json answer with `status`; returns the body.
#[track_caller]
pub fn expect_problem(reply: Reply, status: StatusCode) -> Value {
    let (actual, headers, body) = reply;
    assert_eq!(actual, status, "unexpected status; body: {body}");
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(content_type, "application/problem+json", "body: {body}");
    assert_eq!(body["status"], status.as_u16(), "problem status field: {body}");
    assert!(body["title"].is_string(), "problem title: {body}");
    assert!(body["detail"].is_string(), "problem detail: {body}");
    body
}

/// An `i64` field of a JSON object.
#[track_caller]
pub fn int(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_else(|| panic!("{field} is not an integer: {value}"))
}

// ---- sample events ----

/// An order number for `order_id`, in the platform's layout.
pub fn order_number(order_id: Uuid) -> String {
    format!("ORD-20260221-{}", &order_id.simple().to_string()[24..].to_uppercase())
}

/// The sample lines: `(name, quantity, unit price in cents)`.
pub const ITEMS: [(&str, i64, i64); 2] = [("iPhone 15 Pro", 3, 99_999), ("Mouse <Pro> & Co", 7, 2_550)];

fn items() -> Vec<OrderEventItem> {
    ITEMS
        .iter()
        .enumerate()
        .map(|(k, (name, quantity, cents))| OrderEventItem {
            product_id: format!("prod-00{}", k + 1),
            product_name: (*name).to_owned(),
            quantity: *quantity,
            price: Money::from_cents(*cents),
        })
        .collect()
}

/// The total of [`ITEMS`] in cents.
pub fn items_total() -> i64 {
    ITEMS.iter().map(|(_, q, c)| q * c).sum()
}

/// An `order-placed` or `order-cancelled` event of the sample order for `name <email>`.
pub fn order_event(kind: OrderEventKind, name: &str, email: &str) -> Envelope<OrderEvent> {
    let order_id = Uuid::now_v7();
    Envelope::new(OrderEvent {
        kind,
        order_id,
        order_number: order_number(order_id),
        customer_name: name.into(),
        customer_email: email.into(),
        total_amount: Money::from_cents(items_total()),
        status: match kind {
            OrderEventKind::Placed => "CONFIRMED".into(),
            OrderEventKind::Cancelled => "CANCELLED".into(),
        },
        items: items(),
    })
}

/// An `order-placed` event of the sample order for Ada.
pub fn order_placed() -> Envelope<OrderEvent> {
    order_event(OrderEventKind::Placed, "Ada Lovelace", CUSTOMER)
}

/// An `order-status-changed` event of the sample order for Ada.
pub fn status_changed(order_id: Uuid, old: &str, new: &str) -> Envelope<OrderStatusChanged> {
    Envelope::new(OrderStatusChanged {
        order_id,
        order_number: order_number(order_id),
        customer_name: "Ada Lovelace".into(),
        customer_email: CUSTOMER.into(),
        old_status: old.into(),
        new_status: new.into(),
        total_amount: Money::from_cents(items_total()),
        items: items(),
    })
}

/// An `inventory-low` event.
pub fn inventory_low(product_id: &str, name: &str, available: i64, threshold: i64) -> Envelope<InventoryLow> {
    Envelope::new(InventoryLow {
        product_id: product_id.into(),
        product_name: name.into(),
        available_qty: available,
        low_stock_threshold: threshold,
    })
}

/// An `ai-notification-ready` message as the AI service writes it (no typed contract: a
/// JSON envelope with the original's fields); `fields` are merged over the envelope.
pub fn ai_notification(fields: Value) -> (Uuid, OutgoingMessage) {
    let event_id = Uuid::now_v7();
    let now = time::OffsetDateTime::now_utc();
    let mut value = json!({
        "event_id": event_id,
        "event_type": "AI_NOTIFICATION_READY",
        "occurred_at": now.format(&time::format_description::well_known::Rfc3339).expect("formatting a time"),
        "schema_version": 1,
        "timestamp": contracts::events::original_timestamp(now),
    });
    for (key, field) in fields.as_object().expect("fields are an object") {
        value[key] = field.clone();
    }
    let key = value["order_number"].as_str().unwrap_or("").to_owned();
    let message = OutgoingMessage {
        topic: "ai-notification-ready".into(),
        key,
        headers: Vec::new(),
        payload: serde_json::to_vec(&value).expect("serialising an event"),
    };
    (event_id, message)
}

/// A message with an arbitrary payload on `topic`.
pub fn raw_message(topic: &str, payload: &[u8]) -> OutgoingMessage {
    OutgoingMessage { topic: topic.into(), key: "poison".into(), headers: Vec::new(), payload: payload.to_vec() }
}
