//! The outbox relay against real SQLite files and a real PostgreSQL database: events reach
//! the event log exactly once, in commit order, with two relays racing on one outbox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kit::bus::log::{EventLog, MIGRATIONS as LOG_MIGRATIONS};
use kit::bus::{EventBus, OutgoingMessage};
use kit::db::{Db, DbOptions, MigrationFile, Migrations};
use kit::outbox::Relay;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const OUTBOX_ONLY: Migrations = Migrations {
    postgres: &[MigrationFile { version: 0, description: "outbox", sql: kit::outbox::POSTGRES_DDL }],
    sqlite: &[MigrationFile { version: 0, description: "outbox", sql: kit::outbox::SQLITE_DDL }],
};

const WRITERS: u64 = 4;
const PER_WRITER: u64 = 100;

fn message(writer: u64, seq: u64, commit: u64) -> OutgoingMessage {
    OutgoingMessage {
        topic: "order-placed".into(),
        key: format!("writer-{writer}"),
        headers: vec![("traceparent".into(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into())],
        payload: serde_json::to_vec(&serde_json::json!({"writer": writer, "seq": seq, "commit": commit})).unwrap(),
    }
}

/// Writes one outbox row per transaction; `commit` numbers them in commit order where the
/// backend serialises writers (SQLite), so the log's order can be checked against it.
async fn write(db: Db, writer: u64, counter: Arc<AtomicU64>) {
    for seq in 0..PER_WRITER {
        match &db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
                let commit = counter.fetch_add(1, Ordering::SeqCst);
                kit::outbox::lite::enqueue(&mut tx, &message(writer, seq, commit)).await.unwrap();
                tx.commit().await.unwrap();
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await.unwrap();
                kit::outbox::pg::enqueue(&mut tx, &message(writer, seq, 0)).await.unwrap();
                tx.commit().await.unwrap();
            }
        }
    }
}

async fn two_relays_deliver_exactly_once_in_order(outbox: DbOptions, log: DbOptions, serialised_writers: bool) {
    let writer_db = kit::db::connect(&outbox, &OUTBOX_ONLY).await.unwrap();
    let log = EventLog::new(kit::db::connect(&log, &LOG_MIGRATIONS).await.unwrap());
    let bus: Arc<dyn EventBus> = Arc::new(log.clone());
    // Each relay has its own pool, as two replicas would.
    let relay_a = Relay::new(kit::db::connect(&outbox, &OUTBOX_ONLY).await.unwrap(), bus.clone());
    let relay_b = Relay::new(kit::db::connect(&outbox, &OUTBOX_ONLY).await.unwrap(), bus.clone());
    let stop = CancellationToken::new();
    let relays = [tokio::spawn(relay_a.clone().run(stop.clone())), tokio::spawn(relay_b.run(stop.clone()))];

    let counter = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..WRITERS).map(|w| tokio::spawn(write(writer_db.clone(), w, counter.clone()))).collect();
    for w in writers {
        w.await.unwrap();
    }
    let total = (WRITERS * PER_WRITER) as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while log.read_all("order-placed").await.unwrap().len() < total && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    for r in relays {
        r.await.unwrap();
    }

    let messages = log.read_all("order-placed").await.unwrap();
    assert_eq!(messages.len(), total, "every event exactly once");
    let events: Vec<serde_json::Value> = messages.iter().map(|m| serde_json::from_slice(&m.payload).unwrap()).collect();
    for writer in 0..WRITERS {
        let seqs: Vec<u64> =
            events.iter().filter(|e| e["writer"] == writer).map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (0..PER_WRITER).collect::<Vec<_>>(), "writer {writer}: each once, in commit order");
    }
    if serialised_writers {
        let commits: Vec<u64> = events.iter().map(|e| e["commit"].as_u64().unwrap()).collect();
        assert_eq!(commits, (0..total as u64).collect::<Vec<_>>(), "global commit order");
    }
    let first = &messages[0];
    assert!(first.key.starts_with("writer-"));
    assert!(first.header("traceparent").is_some(), "headers survive the outbox");
    assert_eq!(relay_a.backlog().await.unwrap(), 0, "outbox drained");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_relays_deliver_exactly_once_in_commit_order() {
    let dir = tempfile::tempdir().unwrap();
    let options = |file: &str| DbOptions {
        url: format!("sqlite://{}", dir.path().join(file).display()),
        schema: "test".into(),
        max_connections: 1,
    };
    two_relays_deliver_exactly_once_in_order(options("outbox.db"), options("events.db"), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_relays_deliver_exactly_once_in_commit_order() {
    let Some(url) = testkit::fresh_postgres().await else { return };
    let options = |schema: &str| DbOptions { url: url.clone(), schema: schema.into(), max_connections: 4 };
    two_relays_deliver_exactly_once_in_order(options("orders"), options("eventlog"), false).await;
}

#[tokio::test]
async fn consumer_commits_after_work_and_dead_letters_poison() {
    use async_trait::async_trait;
    use contracts::events::EnvelopeHeader;
    use kit::bus::Message;
    use kit::bus::consumer::{HandleError, Handler};
    use std::sync::Mutex;

    struct Recorder(Mutex<Vec<String>>, AtomicU64);
    #[async_trait]
    impl Handler for Recorder {
        async fn handle(&self, message: &Message, header: &EnvelopeHeader) -> Result<(), HandleError> {
            // Fail the first attempt at every message: the loop must retry, not skip.
            if self.1.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                return Err(HandleError::Transient("flaky".into()));
            }
            self.0.lock().unwrap().push(format!("{}:{}", message.key, header.event_type));
            Ok(())
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let options = DbOptions {
        url: format!("sqlite://{}", dir.path().join("events.db").display()),
        schema: "t".into(),
        max_connections: 1,
    };
    let log = EventLog::new(kit::db::connect(&options, &LOG_MIGRATIONS).await.unwrap());
    let event = |key: &str| OutgoingMessage {
        topic: "order-placed".into(),
        key: key.into(),
        headers: vec![],
        payload: serde_json::to_vec(&serde_json::json!({
            "event_id": uuid::Uuid::now_v7(), "event_type": "ORDER_PLACED", "schema_version": 1
        }))
        .unwrap(),
    };
    let poison = OutgoingMessage {
        topic: "order-placed".into(),
        key: "bad".into(),
        headers: vec![],
        payload: b"{not json".to_vec(),
    };
    let future = OutgoingMessage {
        payload: serde_json::to_vec(
            &serde_json::json!({"event_id": uuid::Uuid::now_v7(), "event_type": "X", "schema_version": 99}),
        )
        .unwrap(),
        key: "future".into(),
        ..event("future")
    };
    log.publish(&[event("a"), poison, future, event("b")]).await.unwrap();

    let recorder = Arc::new(Recorder(Mutex::new(Vec::new()), AtomicU64::new(0)));
    let stop = CancellationToken::new();
    let bus: Arc<dyn EventBus> = Arc::new(log.clone());
    let consumer = tokio::spawn(kit::bus::consumer::run(
        bus.clone(),
        "test-group",
        &["order-placed"],
        recorder.clone(),
        stop.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while recorder.0.lock().unwrap().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    consumer.await.unwrap();
    assert_eq!(*recorder.0.lock().unwrap(), ["a:ORDER_PLACED", "b:ORDER_PLACED"]);
    let dead: Vec<String> = log.read_all("test-group.dlq").await.unwrap().into_iter().map(|m| m.key).collect();
    assert_eq!(dead, ["bad", "future"]);

    // A restarted consumer resumes after its committed offset: nothing is handled twice.
    let again = Arc::new(Recorder(Mutex::new(Vec::new()), AtomicU64::new(1)));
    let stop = CancellationToken::new();
    let consumer =
        tokio::spawn(kit::bus::consumer::run(bus, "test-group", &["order-placed"], again.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    consumer.await.unwrap();
    assert!(again.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn consumer_commits_the_last_message_of_every_partition() {
    use async_trait::async_trait;
    use contracts::events::EnvelopeHeader;
    use kit::bus::consumer::{HandleError, Handler};
    use kit::bus::{BusError, Message, Subscription};
    use std::sync::Mutex;

    fn message(partition: i32, offset: i64) -> Message {
        Message {
            topic: "order-placed".into(),
            partition,
            offset,
            key: "k".into(),
            headers: vec![],
            payload: serde_json::to_vec(&serde_json::json!({
                "event_id": uuid::Uuid::now_v7(), "event_type": "ORDER_PLACED", "schema_version": 1
            }))
            .unwrap(),
            timestamp: time::OffsetDateTime::now_utc(),
        }
    }

    /// Two partitions' messages interleaved in one batch, as Kafka delivers them.
    struct OneBatch(Option<Vec<Message>>, Arc<Mutex<Vec<(i32, i64)>>>);
    #[async_trait]
    impl Subscription for OneBatch {
        async fn poll(&mut self, _max: usize) -> Result<Vec<Message>, BusError> {
            match self.0.take() {
                Some(batch) => Ok(batch),
                None => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(Vec::new())
                }
            }
        }
        async fn commit(&mut self, message: &Message) -> Result<(), BusError> {
            self.1.lock().unwrap().push((message.partition, message.offset));
            Ok(())
        }
        fn seek(&mut self, _message: &Message) {}
    }
    struct FakeBus(Mutex<Option<OneBatch>>);
    #[async_trait]
    impl EventBus for FakeBus {
        async fn publish(&self, _batch: &[OutgoingMessage]) -> Result<(), BusError> {
            Ok(())
        }
        async fn subscribe(&self, _group: &str, _topics: &[&str]) -> Result<Box<dyn Subscription>, BusError> {
            Ok(Box::new(self.0.lock().unwrap().take().expect("one subscription")))
        }
    }
    struct Accept;
    #[async_trait]
    impl Handler for Accept {
        async fn handle(&self, _message: &Message, _header: &EnvelopeHeader) -> Result<(), HandleError> {
            Ok(())
        }
    }

    let commits = Arc::new(Mutex::new(Vec::new()));
    let batch = vec![message(0, 10), message(1, 7), message(0, 11), message(1, 8), message(0, 12)];
    let bus: Arc<dyn EventBus> = Arc::new(FakeBus(Mutex::new(Some(OneBatch(Some(batch), commits.clone())))));
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(kit::bus::consumer::run(bus, "g", &["order-placed"], Arc::new(Accept), stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while commits.lock().unwrap().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    consumer.await.unwrap();
    let mut committed = commits.lock().unwrap().clone();
    committed.sort();
    assert_eq!(committed, [(0, 12), (1, 8)], "the last offset of each partition");
}

/// One outbox row in its own transaction.
async fn enqueue_one(db: &Db, key: &str) {
    let message = message(0, 0, 0);
    let message = OutgoingMessage { key: key.into(), ..message };
    match db {
        Db::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
            kit::outbox::lite::enqueue(&mut tx, &message).await.unwrap();
            tx.commit().await.unwrap();
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            kit::outbox::pg::enqueue(&mut tx, &message).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
}

async fn lease_stores(backend: testkit::Backend) -> Option<(testkit::Stores, DbOptions, EventLog)> {
    let stores = testkit::Stores::new(backend).await?;
    let outbox = stores.options("orders");
    let log = stores.event_log().await;
    Some((stores, outbox, log))
}

/// A replica restarted after a crash (its lease left behind, unexpired) publishes at once
/// under its stable name; another replica still waits for the lease.
async fn restarted_replica_takes_its_lease_back(backend: testkit::Backend) {
    let Some((_stores, outbox, log)) = lease_stores(backend).await else { return };
    let db = kit::db::connect(&outbox, &OUTBOX_ONLY).await.unwrap();
    let bus: Arc<dyn EventBus> = Arc::new(log.clone());
    enqueue_one(&db, "before-crash").await;
    let crashed = Relay::new(db.clone(), bus.clone()).holder("host-a:8002");
    assert_eq!(crashed.relay_once().await.unwrap(), 1);
    drop(crashed); // no clean stop: the lease stays for 30 s

    enqueue_one(&db, "after-restart").await;
    let other = Relay::new(kit::db::connect(&outbox, &OUTBOX_ONLY).await.unwrap(), bus.clone()).holder("host-b:8002");
    assert_eq!(other.relay_once().await.unwrap(), 0, "another replica waits for the lease");
    let restarted = Relay::new(kit::db::connect(&outbox, &OUTBOX_ONLY).await.unwrap(), bus).holder("host-a:8002");
    assert_eq!(restarted.relay_once().await.unwrap(), 1, "the restarted replica publishes at once");
    let keys: Vec<String> = log.read_all("order-placed").await.unwrap().into_iter().map(|m| m.key).collect();
    assert_eq!(keys, ["before-crash", "after-restart"]);
}

/// A bus whose publish takes `delay` (a slow broker).
struct SlowBus {
    inner: EventLog,
    delay: Duration,
}

#[async_trait::async_trait]
impl EventBus for SlowBus {
    async fn publish(&self, batch: &[OutgoingMessage]) -> Result<(), kit::bus::BusError> {
        tokio::time::sleep(self.delay).await;
        self.inner.publish(batch).await
    }
    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn kit::bus::Subscription>, kit::bus::BusError> {
        self.inner.subscribe(group, topics).await
    }
}

/// A pass that outlives its lease neither publishes late nor deletes: the relay that took
/// the lease over publishes the batch, once.
async fn a_pass_that_outlives_its_lease_publishes_nothing(backend: testkit::Backend) {
    let Some((_stores, outbox, log)) = lease_stores(backend).await else { return };
    let db = kit::db::connect(&outbox, &OUTBOX_ONLY).await.unwrap();
    enqueue_one(&db, "once").await;
    let slow: Arc<dyn EventBus> = Arc::new(SlowBus { inner: log.clone(), delay: Duration::from_secs(2) });
    let stalled = Relay::new(db.clone(), slow).holder("stalled").lease(Duration::from_millis(800));
    let stalled_pass = tokio::spawn(async move { stalled.relay_once().await });
    // Let the stalled pass take the lease and start publishing, then outlive it.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let fresh: Arc<dyn EventBus> = Arc::new(log.clone());
    let taker = Relay::new(kit::db::connect(&outbox, &OUTBOX_ONLY).await.unwrap(), fresh).holder("taker");
    assert_eq!(taker.relay_once().await.unwrap(), 1, "the lease passed on and the batch with it");
    let stalled = stalled_pass.await.unwrap();
    assert!(stalled.is_err(), "the stalled pass gave up: {stalled:?}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let published = log.read_all("order-placed").await.unwrap();
    assert_eq!(published.len(), 1, "published exactly once, not again by the stalled pass");
    assert_eq!(taker.backlog().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_restarted_replica_takes_its_lease_back() {
    restarted_replica_takes_its_lease_back(testkit::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_replica_takes_its_lease_back() {
    restarted_replica_takes_its_lease_back(testkit::Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_pass_that_outlives_its_lease_publishes_nothing() {
    a_pass_that_outlives_its_lease_publishes_nothing(testkit::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_pass_that_outlives_its_lease_publishes_nothing() {
    a_pass_that_outlives_its_lease_publishes_nothing(testkit::Backend::Postgres).await;
}
