//! A notification service on fresh stores (through `testkit`), and what its tests share:
//! publishing events onto its log the way producers do, reading back what it recorded
//! (HTTP), wrote (`.eml` files) and dead-lettered, waiting for the consumer and the retry
//! worker, and reaching into its store to play a crash.

use crate::mime::Mail;
use async_trait::async_trait;
use contracts::Money;
use contracts::events::{
    Envelope, Event, InventoryLow, OrderEvent, OrderEventItem, OrderEventKind, OrderStatusChanged,
};
use http::StatusCode;
use kit::bus::log::EventLog;
use kit::bus::{BusError, EventBus, Message, OutgoingMessage, Subscription};
use kit::db::Db;
use notification::{App, Config, Transport};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
pub use testkit::{Backend, EVENTUALLY};
use testkit::{Client, Running, Stores};
use uuid::Uuid;

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

/// The retry schedule of most tests: three retries, given up about 1.5 s after the first
/// failure.
pub const SHORT_SCHEDULE: [Duration; 3] =
    [Duration::from_millis(200), Duration::from_millis(400), Duration::from_millis(800)];

/// Makes the bus the service uses out of its event log (to inject failures).
pub type WrapBus = Arc<dyn Fn(EventLog) -> Arc<dyn EventBus> + Send + Sync>;

/// How a test's service is set up.
#[derive(Clone)]
pub struct Setup {
    /// Where emails go; `None`: `.eml` files in [`TestApp::mail_dir`].
    pub transport: Option<Transport>,
    /// The retry schedule.
    pub retry_schedule: Vec<Duration>,
    /// Wraps the event log in the bus the service uses (to inject failures).
    pub bus: Option<WrapBus>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup { transport: None, retry_schedule: SHORT_SCHEDULE.to_vec(), bus: None }
    }
}

impl Setup {
    /// Sending by SMTP to `url`.
    pub fn smtp(url: &str) -> Setup {
        Setup { transport: Some(Transport::Smtp(url.to_owned())), ..Setup::default() }
    }

    /// With this retry schedule.
    pub fn schedule(self, steps: &[Duration]) -> Setup {
        Setup { retry_schedule: steps.to_vec(), ..self }
    }
}

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A running service and what the tests need to observe it.
pub struct TestApp {
    /// The event log the service consumes from and dead-letters to.
    pub log: EventLog,
    /// Where `.eml` files go (without a transport in the [`Setup`]).
    pub mail_dir: PathBuf,
    config: Config,
    bus: Arc<dyn EventBus>,
    client: Client,
    running: Option<Running>,
    /// Keeps the SQLite files, the mail directory and the database alive as long as the app.
    _stores: Stores,
}

impl std::ops::Deref for TestApp {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Starts a service set up as `setup`, or `None` when the backend's server is missing (a
/// skipped test, or a failure under `SHOP_REQUIRE_TEST_SERVERS=1`).
pub async fn spawn(backend: Backend, setup: Setup) -> Option<TestApp> {
    let stores = Stores::new(backend).await?;
    let log = stores.event_log().await;
    let mail_dir = stores.dir().join("mail");
    let config = Config {
        host: "127.0.0.1".into(),
        port: 0,
        database: stores.options("notification"),
        transport: setup.transport.unwrap_or_else(|| Transport::Files(mail_dir.clone())),
        from: "Shop <no-reply@shop.local>".into(),
        admin_email: ADMIN.into(),
        retry_schedule: setup.retry_schedule,
        retry_poll: Duration::from_millis(50),
        auth: testkit::tokens::issuer().settings(None),
    };
    let bus = match &setup.bus {
        Some(wrap) => wrap(log.clone()),
        None => Arc::new(log.clone()),
    };
    let mut app = TestApp { log, mail_dir, config, bus, client: Client::new(""), running: None, _stores: stores };
    app.start().await;
    Some(app)
}

impl TestApp {
    /// Starts the service (again, after [`TestApp::stop`]) on the same store, event log and
    /// transport.
    pub async fn start(&mut self) {
        let app = App::build(self.config.clone(), self.bus.clone()).await.expect("building the notification service");
        let running = Running::spawn(app.port(), |stop| app.run_until_stopped(stop));
        self.client = Client::new(running.base.clone()).with_token(&testkit::tokens::issuer().admin());
        self.running = Some(running);
    }

    /// Stops the service, waiting until its consumer and retry worker have stopped and its
    /// store is closed.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(20), running.stop())
                .await
                .expect("the service did not stop within 20 s");
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

    /// Sets notification `id` back to `status` behind the service's back, as a crash between
    /// sending and recording leaves it.
    pub async fn set_status(&self, id: &str, status: &str) {
        let id = Uuid::parse_str(id).expect("a notification id");
        let db = kit::db::connect(&self.config.database, &notification::app::MIGRATIONS)
            .await
            .expect("opening the notification store");
        let sql = "UPDATE notifications SET status = $2, sent_at = NULL WHERE id = $1";
        let updated = match &db {
            Db::Postgres(pool) => sqlx::query(sql).bind(id).bind(status).execute(pool).await.map(|r| r.rows_affected()),
            Db::Sqlite(pool) => sqlx::query(sql).bind(id).bind(status).execute(pool).await.map(|r| r.rows_affected()),
        }
        .expect("updating a notification");
        db.close().await;
        assert_eq!(updated, 1, "no notification {id}");
    }

    // ---- the record ----

    /// `GET /api/notifications?<query>`, asserting a 200 JSON page.
    pub async fn notifications_page(&self, query: &str) -> Value {
        self.get(&format!("/api/notifications?{query}")).await.assert_json(StatusCode::OK)
    }

    /// Every recorded notification of `email` (newest first).
    pub async fn notifications(&self, email: &str) -> Vec<Value> {
        let page = self.notifications_page(&format!("email={}&page_size=100", testkit::encode(email))).await;
        page["notifications"].as_array().unwrap_or_else(|| panic!("no notifications[]: {page}")).clone()
    }

    /// The notifications of `email` once `count` of them are finished (SENT or FAILED);
    /// fails after [`EVENTUALLY`].
    pub async fn wait_for_notifications(&self, email: &str, count: usize) -> Vec<Value> {
        let finished = poll(EVENTUALLY, || async {
            let list = self.notifications(email).await;
            (list.iter().filter(|n| is_finished(n)).count() >= count, list)
        })
        .await;
        finished.unwrap_or_else(|list| {
            panic!("expected {count} finished notifications to {email} within {EVENTUALLY:?}, got {list:#?}")
        })
    }

    /// The notification of event `event_id` once it is finished (SENT or FAILED); fails
    /// after [`EVENTUALLY`].
    pub async fn wait_for_event(&self, email: &str, event_id: Uuid) -> Value {
        self.wait_for_record(email, event_id, EVENTUALLY, "finished", is_finished).await
    }

    /// The notification of event `event_id` once its status is `status`; fails after
    /// [`EVENTUALLY`].
    pub async fn wait_for_status(&self, email: &str, event_id: Uuid, status: &str) -> Value {
        self.wait_for_record(email, event_id, EVENTUALLY, status, |n| n["status"] == status).await
    }

    /// The notification of event `event_id` once `done` holds for it; fails after `within`.
    pub async fn wait_for_record(
        &self,
        email: &str,
        event_id: Uuid,
        within: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let id = event_id.to_string();
        let found = poll(within, || async {
            let list = self.notifications(email).await;
            match list.iter().find(|n| n["event_id"] == id.as_str() && done(n)) {
                Some(found) => (true, found.clone()),
                None => (false, Value::Array(list)),
            }
        })
        .await;
        found.unwrap_or_else(|list| {
            panic!("no {what} notification of event {event_id} to {email} within {within:?}: {list:#}")
        })
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
            let caught_up = poll(EVENTUALLY, || async {
                let committed = self.committed(topic).await;
                (committed.is_some_and(|next| next > last), committed)
            })
            .await;
            if let Err(committed) = caught_up {
                panic!(
                    "{GROUP} did not get past offset {last} of {topic} within {EVENTUALLY:?} (committed {committed:?})"
                );
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
        let arrived = poll(EVENTUALLY, || async {
            let found = self.dead_letters().await;
            (found.len() >= count, found)
        })
        .await;
        arrived.unwrap_or_else(|found| panic!("expected {count} dead letters within {EVENTUALLY:?}, got {found:#?}"))
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

/// Like `testkit::eventually`, keeping what the probe saw: runs `probe` every 25 ms until it
/// says done (`Ok` with its value) or `within` passes (`Err` with the last value, for the
/// failure message).
async fn poll<T, F, Fut>(within: Duration, mut probe: F) -> Result<T, T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, T)>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (done, value) = probe().await;
        if done {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(value);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// SENT or FAILED: nothing more will happen to it by itself.
fn is_finished(notification: &Value) -> bool {
    notification["status"] == "SENT" || notification["status"] == "FAILED"
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

/// An `i64` field of a JSON object.
#[track_caller]
pub fn int(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_else(|| panic!("{field} is not an integer: {value}"))
}

/// A string field of a JSON object.
#[track_caller]
pub fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_else(|| panic!("{field} is not a string: {value}"))
}

// ---- a bus that fails on demand ----

/// The event log, except that publishing to the dead-letter topic fails while
/// `refuse_dead_letters` is set (a broker refusing that topic, say).
pub struct DeadLetterOutage {
    log: EventLog,
    /// Set: every batch with a dead letter in it is refused.
    pub refuse_dead_letters: Arc<AtomicBool>,
}

impl DeadLetterOutage {
    /// A [`Setup::bus`] wrapping the log, refusing dead letters while `switch` is set.
    pub fn setup(switch: Arc<AtomicBool>) -> WrapBus {
        Arc::new(move |log| Arc::new(DeadLetterOutage { log, refuse_dead_letters: switch.clone() }))
    }
}

#[async_trait]
impl EventBus for DeadLetterOutage {
    async fn publish(&self, batch: &[OutgoingMessage]) -> Result<(), BusError> {
        if self.refuse_dead_letters.load(Ordering::SeqCst) && batch.iter().any(|m| m.topic == DLQ) {
            return Err(BusError::Broker("the dead-letter topic is unavailable (test)".into()));
        }
        self.log.publish(batch).await
    }

    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        self.log.ensure_topics(topics).await
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Subscription>, BusError> {
        self.log.subscribe(group, topics).await
    }
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

/// The message a dead letter was made from, ready to be published again on its original
/// topic (what an operator's replay does).
pub fn replay_of(dead_letter: &Message) -> OutgoingMessage {
    OutgoingMessage {
        topic: dead_letter.header("x-original-topic").expect("a dead letter names its topic").to_owned(),
        key: dead_letter.key.clone(),
        headers: Vec::new(),
        payload: dead_letter.payload.clone(),
    }
}
