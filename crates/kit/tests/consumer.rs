//! The consumer loop under faults: a handler that panics, a consumer that hangs or stops, a
//! commit that keeps failing, a Kafka group rebalancing under it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use contracts::events::EnvelopeHeader;
use kit::bus::consumer::{ConsumerHealth, HandleError, Handler, run_reporting};
use kit::bus::log::{EventLog, MIGRATIONS as LOG_MIGRATIONS};
use kit::bus::{BusError, EventBus, Message, OutgoingMessage, Subscription};
use kit::db::DbOptions;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn embedded_log(dir: &tempfile::TempDir) -> EventLog {
    let options = DbOptions {
        url: format!("sqlite://{}", dir.path().join("events.db").display()),
        schema: "t".into(),
        max_connections: 1,
    };
    EventLog::new(kit::db::connect(&options, &LOG_MIGRATIONS).await.unwrap())
}

fn event(topic: &str, key: &str) -> OutgoingMessage {
    OutgoingMessage {
        topic: topic.into(),
        key: key.into(),
        headers: vec![],
        payload: serde_json::to_vec(&serde_json::json!({
            "event_id": uuid::Uuid::now_v7(), "event_type": "ORDER_PLACED", "schema_version": 1
        }))
        .unwrap(),
    }
}

/// Records the keys it handled; panics on key "boom", hangs on key "hang".
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, message: &Message, _header: &EnvelopeHeader) -> Result<(), HandleError> {
        match message.key.as_str() {
            "boom" => panic!("the mail builder choked on {:?}", "A\nB"),
            "hang" => std::future::pending::<()>().await,
            _ => {}
        }
        self.seen.lock().unwrap().push(message.key.clone());
        Ok(())
    }
}

impl Recorder {
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn wait_until(timeout: Duration, check: impl Fn() -> bool) -> bool {
    testkit::eventually(timeout, || std::future::ready(check())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_dead_letters_the_message_and_consumption_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = embedded_log(&dir).await;
    let bus: Arc<dyn EventBus> = Arc::new(log.clone());
    bus.publish(&[event("order-placed", "boom"), event("order-placed", "after")]).await.unwrap();
    let recorder = Arc::new(Recorder::default());
    let health = ConsumerHealth::new("mailer", Duration::from_secs(30));
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(run_reporting(
        bus.clone(),
        "mailer",
        &["order-placed"],
        recorder.clone(),
        health.clone(),
        stop.clone(),
    ));

    assert!(wait_until(Duration::from_secs(5), || recorder.seen() == ["after"]).await, "{:?}", recorder.seen());
    let dead = log.read_all("mailer.dlq").await.unwrap();
    assert_eq!(dead.len(), 1, "the panicking message is dead-lettered once");
    assert_eq!(dead[0].key, "boom");
    let reason = dead[0].header("x-dead-letter-reason").unwrap_or_default();
    assert!(reason.contains("handler panicked") && reason.contains("mail builder"), "{reason}");
    assert!(health.check().is_ok(), "the loop survived the panic: {:?}", health.check());

    // After a restart it does not meet the panic again at the same offset.
    stop.cancel();
    consumer.await.unwrap();
    assert!(health.check().unwrap_err().contains("not running"));
    bus.publish(&[event("order-placed", "later")]).await.unwrap();
    let stop = CancellationToken::new();
    let again =
        tokio::spawn(run_reporting(bus, "mailer", &["order-placed"], recorder.clone(), health.clone(), stop.clone()));
    assert!(wait_until(Duration::from_secs(5), || recorder.seen() == ["after", "later"]).await);
    assert_eq!(log.read_all("mailer.dlq").await.unwrap().len(), 1);
    stop.cancel();
    again.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_sees_a_stuck_or_stopped_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let log = embedded_log(&dir).await;
    let bus: Arc<dyn EventBus> = Arc::new(log.clone());
    let health = ConsumerHealth::new("stuck", Duration::from_millis(500));
    assert!(health.check().is_err(), "a consumer that never started is not ready");
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(run_reporting(
        bus.clone(),
        "stuck",
        &["order-placed"],
        Arc::new(Recorder::default()),
        health.clone(),
        stop.clone(),
    ));
    assert!(wait_until(Duration::from_secs(2), || health.check().is_ok()).await, "idle but polling is ready");
    bus.publish(&[event("order-placed", "hang")]).await.unwrap();
    assert!(wait_until(Duration::from_secs(5), || health.check().is_err()).await, "a hanging handler shows");
    assert!(health.check().unwrap_err().contains("has not moved"), "{:?}", health.check());
    stop.cancel();
    consumer.abort();
    let _ = consumer.await;
    assert!(health.check().unwrap_err().contains("not running"), "a dead loop shows");
}

/// The embedded log, with commits that fail until `failures` runs out (`u32::MAX`: always).
struct FailingCommits {
    log: EventLog,
    failures: Arc<AtomicU32>,
}

struct FailingSubscription {
    inner: Box<dyn Subscription>,
    failures: Arc<AtomicU32>,
}

#[async_trait]
impl EventBus for FailingCommits {
    async fn publish(&self, batch: &[OutgoingMessage]) -> Result<(), BusError> {
        self.log.publish(batch).await
    }
    async fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Subscription>, BusError> {
        Ok(Box::new(FailingSubscription {
            inner: self.log.subscribe(group, topics).await?,
            failures: self.failures.clone(),
        }))
    }
}

#[async_trait]
impl Subscription for FailingSubscription {
    async fn poll(&mut self, max: usize) -> Result<Vec<Message>, BusError> {
        self.inner.poll(max).await
    }
    async fn commit(&mut self, message: &Message) -> Result<(), BusError> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left.saturating_sub(1), Ordering::SeqCst);
            return Err(BusError::Broker("commit refused: rebalance in progress".into()));
        }
        self.inner.commit(message).await
    }
    fn seek(&mut self, message: &Message) {
        self.inner.seek(message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_commit_does_not_wedge_the_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let log = embedded_log(&dir).await;
    let failures = Arc::new(AtomicU32::new(u32::MAX));
    let bus: Arc<dyn EventBus> = Arc::new(FailingCommits { log: log.clone(), failures: failures.clone() });
    let recorder = Arc::new(Recorder::default());
    let health = ConsumerHealth::new("wedge", Duration::from_secs(30));
    let stop = CancellationToken::new();
    let consumer =
        tokio::spawn(run_reporting(bus.clone(), "wedge", &["order-placed"], recorder.clone(), health, stop.clone()));
    bus.publish(&[event("order-placed", "one")]).await.unwrap();
    assert!(wait_until(Duration::from_secs(5), || recorder.seen() == ["one"]).await);
    // Commits keep failing, yet later messages are still consumed.
    bus.publish(&[event("order-placed", "two")]).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || recorder.seen() == ["one", "two"]).await,
        "consumption stopped behind a failing commit: {:?}",
        recorder.seen()
    );
    // Once commits work again, progress is saved.
    failures.store(0, Ordering::SeqCst);
    bus.publish(&[event("order-placed", "three")]).await.unwrap();
    assert!(wait_until(Duration::from_secs(5), || recorder.seen().len() == 3).await);
    stop.cancel();
    consumer.await.unwrap();
}

/// Keys handled, by any consumer of the group.
#[derive(Default)]
struct Seen(Mutex<HashSet<String>>);

#[async_trait]
impl Handler for Seen {
    async fn handle(&self, message: &Message, _header: &EnvelopeHeader) -> Result<(), HandleError> {
        self.0.lock().unwrap().insert(message.key.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_consumers_keep_going_through_a_rebalance() {
    let Some(config) = testkit::kafka_config(None) else { return };
    let bus = kit::bus::kafka::KafkaBus::connect(config).unwrap();
    bus.ensure_topics(&["order-placed"]).await.unwrap();
    let bus: Arc<dyn EventBus> = Arc::new(bus);
    let seen = Arc::new(Seen::default());
    let first_stop = CancellationToken::new();
    let first = tokio::spawn(run_reporting(
        bus.clone(),
        "rebalancing",
        &["order-placed"],
        seen.clone(),
        ConsumerHealth::new("rebalancing", Duration::from_secs(60)),
        first_stop.clone(),
    ));
    let publish = |from: usize, to: usize| {
        let bus = bus.clone();
        async move {
            for i in from..to {
                bus.publish(&[event("order-placed", &format!("k{i}"))]).await.unwrap();
            }
        }
    };
    let all = |n: usize| {
        let seen = seen.clone();
        move || (0..n).all(|i| seen.0.lock().unwrap().contains(&format!("k{i}")))
    };
    publish(0, 20).await;
    assert!(wait_until(Duration::from_secs(30), all(20)).await, "the first consumer reads");

    // A second consumer joins the group (a rebalance) while messages keep coming, then leaves
    // (another rebalance).
    let second_stop = CancellationToken::new();
    let second = tokio::spawn(run_reporting(
        bus.clone(),
        "rebalancing",
        &["order-placed"],
        seen.clone(),
        ConsumerHealth::new("rebalancing", Duration::from_secs(60)),
        second_stop.clone(),
    ));
    publish(20, 40).await;
    assert!(wait_until(Duration::from_secs(60), all(40)).await, "both together read everything");
    second_stop.cancel();
    second.await.unwrap();
    publish(40, 60).await;
    assert!(
        wait_until(Duration::from_secs(60), all(60)).await,
        "after the second left, the first still reads: missing {:?}",
        (0..60).map(|i| format!("k{i}")).filter(|k| !seen.0.lock().unwrap().contains(k)).collect::<Vec<_>>()
    );
    first_stop.cancel();
    first.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kafka_a_panicking_handler_dead_letters_the_message_and_consumption_goes_on() {
    let Some(config) = testkit::kafka_config(None) else { return };
    let kafka = kit::bus::kafka::KafkaBus::connect(config).unwrap();
    kafka.ensure_topics(&["order-placed"]).await.unwrap();
    let bus: Arc<dyn EventBus> = Arc::new(kafka);
    bus.publish(&[event("order-placed", "boom"), event("order-placed", "after")]).await.unwrap();
    let recorder = Arc::new(Recorder::default());
    let health = ConsumerHealth::new("mailer", Duration::from_secs(60));
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(run_reporting(
        bus.clone(),
        "mailer",
        &["order-placed"],
        recorder.clone(),
        health.clone(),
        stop.clone(),
    ));
    assert!(wait_until(Duration::from_secs(30), || recorder.seen() == ["after"]).await, "{:?}", recorder.seen());
    assert!(health.check().is_ok(), "{:?}", health.check());

    let mut dead_letters = bus.subscribe("dlq-reader", &["mailer.dlq"]).await.unwrap();
    let mut dead = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while dead.is_empty() && tokio::time::Instant::now() < deadline {
        dead = dead_letters.poll(10).await.unwrap();
    }
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].key, "boom");
    assert!(dead[0].header("x-dead-letter-reason").unwrap_or_default().contains("handler panicked"));
    stop.cancel();
    consumer.await.unwrap();
}

/// `Subscription::lag` (the `consumer_lag` gauge): messages between the read position and
/// the end of the topic, as the consumer reads and as more are appended.
async fn lag_follows_reads_and_appends(bus: Arc<dyn EventBus>) {
    // One key, so on Kafka every message lands on one partition; one publish each, because
    // tansu reports a partition's high watermark as its last record batch's base offset + 1
    // (Kafka counts every record), which would hide the records of a batch but its first.
    for _ in 0..3 {
        bus.publish(&[event("lagging", "k")]).await.unwrap();
    }
    let mut subscription = bus.subscribe("lag-reader", &["lagging"]).await.unwrap();
    let mut read = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while read.is_empty() && tokio::time::Instant::now() < deadline {
        read = subscription.poll(1).await.unwrap();
    }
    assert_eq!(read.len(), 1);
    let behind = |lag: Vec<(String, i64)>| lag.iter().filter(|(t, _)| t == "lagging").map(|(_, n)| n).sum::<i64>();
    assert_eq!(behind(subscription.lag().await.unwrap()), 2);
    for _ in 0..2 {
        bus.publish(&[event("lagging", "k")]).await.unwrap();
    }
    assert_eq!(behind(subscription.lag().await.unwrap()), 4);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while read.len() < 5 && tokio::time::Instant::now() < deadline {
        read.extend(subscription.poll(10).await.unwrap());
    }
    assert_eq!(read.len(), 5);
    assert_eq!(behind(subscription.lag().await.unwrap()), 0);
}

#[tokio::test]
async fn the_embedded_log_measures_consumer_lag() {
    let dir = tempfile::tempdir().unwrap();
    lag_follows_reads_and_appends(Arc::new(embedded_log(&dir).await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_measures_consumer_lag() {
    let Some(config) = testkit::kafka_config(None) else { return };
    let kafka = kit::bus::kafka::KafkaBus::connect(config).unwrap();
    kafka.ensure_topics(&["lagging"]).await.unwrap();
    lag_follows_reads_and_appends(Arc::new(kafka)).await;
}
