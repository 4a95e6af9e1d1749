//! The platform on a real Kafka-protocol broker (`KAFKA_BROKERS`; tansu in CI). Each test
//! works in a namespace (topic prefix) of its own, so tests share one broker safely.

use crate::helpers::{Backend, Options, TestPlatform, order_body, spawn};
use http::StatusCode;
use rdkafka::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn topic(app: &TestPlatform, name: &str) -> String {
    format!("{}{name}", app.kafka.as_ref().expect("kafka").namespace)
}

/// A consumer of our own, outside the platform, reading `topic` from the start.
fn independent_consumer(app: &TestPlatform, topic: &str) -> StreamConsumer {
    let kafka = app.kafka.as_ref().expect("kafka");
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", format!("{}test-reader-{}", kafka.namespace, uuid::Uuid::now_v7().simple()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

async fn read_one(consumer: &StreamConsumer) -> (Option<String>, Vec<(String, String)>, Vec<u8>) {
    let message = tokio::time::timeout(WAIT, consumer.recv()).await.expect("a message in time").expect("a message");
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let key = message.key().map(|k| String::from_utf8_lossy(k).into_owned());
    (key, headers, message.payload().unwrap_or_default().to_vec())
}

fn producer(app: &TestPlatform) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", &app.kafka.as_ref().expect("kafka").brokers)
        .create()
        .expect("producer")
}

async fn produce(app: &TestPlatform, topic: &str, key: &str, payload: &[u8]) {
    producer(app)
        .send(FutureRecord::to(topic).key(key).payload(payload), Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .expect("produced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn order_flow_on_postgres_and_kafka() {
    let Some(app) = spawn(Backend::Postgres, Options { kafka: Some(None), ..Options::default() }).await else { return };
    app.stock_product("kafka-1", 12.5, 12).await;
    let reader = independent_consumer(&app, &topic(&app, "order-placed"));
    let placed = app.post("/api/orders", order_body("kafka@example.com", &[("kafka-1", 3)])).await;
    assert_eq!(placed.status, StatusCode::CREATED);
    let id = placed.body["id"].as_str().unwrap().to_owned();
    let number = placed.body["order_number"].as_str().unwrap().to_owned();

    let (key, headers, payload) = read_one(&reader).await;
    assert_eq!(key.as_deref(), Some(id.as_str()), "keyed by order id");
    assert!(headers.iter().any(|(k, v)| k == "traceparent" && v.starts_with("00-")), "{headers:?}");
    let event: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(event["event_type"], "ORDER_PLACED");
    assert_eq!(event["schema_version"], 1);
    assert!(event["event_id"].is_string() && event["occurred_at"].is_string() && event["timestamp"].is_string());
    assert_eq!(event["order_number"], json!(number));
    assert_eq!(event["customer_name"], "Test Customer");
    assert_eq!(event["customer_email"], "kafka@example.com");
    assert_eq!(event["total_amount"], json!(37.5));
    assert_eq!(
        event["items"],
        json!([{"product_id": "kafka-1", "product_name": "Product kafka-1", "quantity": 3, "price": 12.5}])
    );

    let emailed = testkit::eventually(WAIT, || async { app.emails_with(&[&number, "Confirmed"]).len() == 1 }).await;
    assert!(emailed, "confirmation email over Kafka");
    let alerted = testkit::eventually(WAIT, || async { app.emails_with(&["admin@example.com"]).len() == 1 }).await;
    assert!(alerted, "one low-stock alert over Kafka");
    app.patch(&format!("/api/orders/{id}/cancel"), None).await;
    let released = testkit::eventually(WAIT, || async { app.stock("kafka-1").await == (12, 0, 12) }).await;
    assert!(released, "order-cancelled over Kafka releases the hold: {:?}", app.stock("kafka-1").await);
    let cancelled = testkit::eventually(WAIT, || async { app.emails_with(&[&number, "Cancelled"]).len() == 1 }).await;
    assert!(cancelled, "cancellation email over Kafka");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_message_is_dead_lettered_and_consumption_continues() {
    let Some(app) = spawn(Backend::Sqlite, Options { kafka: Some(None), ..Options::default() }).await else { return };
    app.stock_product("poison-1", 5.0, 100).await;
    let dead_letters = independent_consumer(&app, &topic(&app, "notification-service.dlq"));
    produce(&app, &topic(&app, "order-placed"), "garbage", b"{this is not json").await;
    let (key, headers, payload) = read_one(&dead_letters).await;
    assert_eq!(key.as_deref(), Some("garbage"));
    assert_eq!(payload, b"{this is not json");
    assert!(headers.iter().any(|(k, _)| k == "x-dead-letter-reason"), "{headers:?}");

    let placed = app.post("/api/orders", order_body("after-poison@example.com", &[("poison-1", 1)])).await;
    let number = placed.body["order_number"].as_str().unwrap().to_owned();
    let emailed = testkit::eventually(WAIT, || async { app.emails_with(&[&number]).len() == 1 }).await;
    assert!(emailed, "the next message is still processed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replayed_events_send_no_second_email() {
    let Some(app) = spawn(Backend::Sqlite, Options { kafka: Some(None), ..Options::default() }).await else { return };
    app.stock_product("replay-1", 5.0, 100).await;
    let reader = independent_consumer(&app, &topic(&app, "order-placed"));
    let first = app.post("/api/orders", order_body("replay@example.com", &[("replay-1", 1)])).await;
    let first_number = first.body["order_number"].as_str().unwrap().to_owned();
    let (key, _, payload) = read_one(&reader).await;
    let emailed = testkit::eventually(WAIT, || async { app.emails_with(&[&first_number]).len() == 1 }).await;
    assert!(emailed);

    // The same event again (as after an offset reset), then a new order as a marker.
    produce(&app, &topic(&app, "order-placed"), key.as_deref().unwrap_or_default(), &payload).await;
    produce(&app, &topic(&app, "order-placed"), key.as_deref().unwrap_or_default(), &payload).await;
    let marker = app.post("/api/orders", order_body("replay@example.com", &[("replay-1", 1)])).await;
    let marker_number = marker.body["order_number"].as_str().unwrap().to_owned();
    let marked = testkit::eventually(WAIT, || async { app.emails_with(&[&marker_number]).len() == 1 }).await;
    assert!(marked);
    assert_eq!(app.emails_with(&[&first_number]).len(), 1, "the replayed event sent nothing");
}

/// A broker of the test's own, on a free port, that the test can stop and resume.
struct OwnBroker {
    child: std::process::Child,
    brokers: String,
    _dir: tempfile::TempDir,
}

impl OwnBroker {
    async fn start() -> Option<OwnBroker> {
        let binary = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let url = format!("tcp://127.0.0.1:{port}");
        let dir = tempfile::tempdir().ok()?;
        let child = match std::process::Command::new(&binary)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/", "--silent"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(err) => return testkit::missing_server("a tansu binary", &format!("TANSU_BIN={binary}: {err}")),
        };
        let brokers = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(&brokers).await.is_ok() {
                return Some(OwnBroker { child, brokers, _dir: dir });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("tansu did not start on {brokers}");
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill").args([signal, &self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill {signal}");
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_are_accepted_while_the_broker_is_down_and_emailed_once_after() {
    let Some(broker) = OwnBroker::start().await else { return };
    let options = Options { kafka: Some(Some(broker.brokers.clone())), ..Options::default() };
    let Some(app) = spawn(Backend::Sqlite, options).await else { return };
    app.stock_product("outage-1", 3.0, 1000).await;
    let warm = app.post("/api/orders", order_body("outage@example.com", &[("outage-1", 1)])).await;
    let warm_number = warm.body["order_number"].as_str().unwrap().to_owned();
    assert!(testkit::eventually(WAIT, || async { app.emails_with(&[&warm_number]).len() == 1 }).await);

    broker.signal("-STOP");
    let mut numbers = Vec::new();
    for i in 0..100 {
        let placed = app.post("/api/orders", order_body(&format!("outage{i}@example.com"), &[("outage-1", 1)])).await;
        assert_eq!(placed.status, StatusCode::CREATED, "order {i} accepted with the broker down: {:?}", placed.body);
        numbers.push(placed.body["order_number"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    broker.signal("-CONT");

    let all = testkit::eventually(Duration::from_secs(60), || async {
        let emails = app.emails();
        numbers.iter().all(|n| emails.iter().any(|e| e.contains(n.as_str())))
    })
    .await;
    assert!(all, "every order emailed after the broker came back");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let emails = app.emails();
    assert_eq!(emails.len(), 101, "exactly one email per order");
    for number in &numbers {
        assert_eq!(emails.iter().filter(|e| e.contains(number.as_str())).count(), 1, "{number} emailed once");
    }
}
