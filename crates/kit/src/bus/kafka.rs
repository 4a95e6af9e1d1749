//! The event bus on Kafka (rdkafka with its bundled librdkafka): an idempotent producer with
//! `acks=all`, topics created at start-up when missing, one consumer group per service with
//! offsets committed only after the work is done.

use super::{BusError, EventBus, Message, OutgoingMessage, Subscription};
use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, Headers, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How to reach the brokers.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    /// Partitions of topics this process creates.
    pub partitions: i32,
    /// Replication factor of topics this process creates.
    pub replication: i32,
    /// How long a publish may wait for the brokers before it fails (and the outbox keeps
    /// the events for the next attempt).
    pub delivery_timeout: Duration,
    /// Put before every topic and consumer-group name, so several deployments (or test runs)
    /// can share a cluster; services always see the plain names.
    pub namespace: String,
}

/// The Kafka bus. Cheap to clone.
#[derive(Clone)]
pub struct KafkaBus {
    config: KafkaConfig,
    /// Replaced after a failed publish: an idempotent producer that was fenced (for instance
    /// after its messages timed out while the broker was away) never recovers.
    producer: Arc<RwLock<FutureProducer>>,
    admin: Arc<AdminClient<DefaultClientContext>>,
}

fn producer(config: &KafkaConfig) -> Result<FutureProducer, BusError> {
    ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", config.delivery_timeout.as_millis().to_string())
        .create()
        .map_err(broker_error)
}

fn broker_error(err: impl std::fmt::Display) -> BusError {
    BusError::Broker(err.to_string())
}

impl KafkaBus {
    /// Connects a producer and an admin client (lazily: librdkafka reconnects by itself).
    pub fn connect(config: KafkaConfig) -> Result<KafkaBus, BusError> {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", &config.brokers).create().map_err(broker_error)?;
        Ok(KafkaBus { producer: Arc::new(RwLock::new(producer(&config)?)), config, admin: Arc::new(admin) })
    }

    fn current_producer(&self) -> FutureProducer {
        match self.producer.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a fresh producer after a failed publish. An idempotent producer whose
    /// messages timed out bumps its epoch, and a broker may answer that by fencing it for
    /// good (tansu does); a new producer id is the documented way out.
    fn replace_producer(&self, failed: &FutureProducer) {
        if let Some((code, reason)) = failed.client().fatal_error() {
            tracing::warn!(?code, %reason, "Kafka producer hit a fatal error");
        }
        match producer(&self.config) {
            Ok(fresh) => {
                let mut current = match self.producer.write() {
                    Ok(p) => p,
                    Err(poisoned) => poisoned.into_inner(),
                };
                *current = fresh;
            }
            Err(err) => tracing::warn!(error = %err, "cannot start a new Kafka producer; keeping the old one"),
        }
    }

    fn name(&self, topic: &str) -> String {
        format!("{}{topic}", self.config.namespace)
    }

    /// Creates the topics that do not exist yet.
    pub async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        let names: Vec<String> = topics.iter().map(|t| self.name(t)).collect();
        let new: Vec<NewTopic<'_>> = names
            .iter()
            .map(|t| NewTopic::new(t, self.config.partitions, TopicReplication::Fixed(self.config.replication)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = self.admin.create_topics(new.iter(), &options).await.map_err(broker_error)?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(BusError::Broker(format!("creating topic {topic}: {code}"))),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EventBus for KafkaBus {
    async fn publish(&self, batch: &[OutgoingMessage]) -> Result<(), BusError> {
        // Enqueue everything first (order is kept per partition), then wait for every ack.
        let producer = self.current_producer();
        let result = self.publish_with(&producer, batch).await;
        if result.is_err() {
            self.replace_producer(&producer);
        }
        result
    }

    async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        KafkaBus::ensure_topics(self, topics).await
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Subscription>, BusError> {
        self.subscribe_group(group, topics)
    }
}

impl KafkaBus {
    async fn publish_with(&self, producer: &FutureProducer, batch: &[OutgoingMessage]) -> Result<(), BusError> {
        let mut deliveries = Vec::with_capacity(batch.len());
        let names: Vec<String> = batch.iter().map(|m| self.name(&m.topic)).collect();
        for (m, topic) in batch.iter().zip(&names) {
            let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
            for (key, value) in &m.headers {
                headers = headers.insert(Header { key, value: Some(value.as_bytes()) });
            }
            let record = FutureRecord::to(topic).key(m.key.as_bytes()).payload(&m.payload).headers(headers);
            deliveries.push(producer.send_result(record).map_err(|(err, _)| broker_error(err))?);
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((err, _))) => return Err(broker_error(err)),
                Err(_) => return Err(BusError::Broker("producer dropped the delivery".into())),
            }
        }
        Ok(())
    }

    fn subscribe_group(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Subscription>, BusError> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.config.brokers)
            .set("group.id", self.name(group))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            // Brokers that answer a fetch only when its wait expires (tansu does) would
            // otherwise add librdkafka's default 500 ms to every event.
            .set("fetch.wait.max.ms", "50")
            .create()
            .map_err(broker_error)?;
        let names: Vec<String> = topics.iter().map(|t| self.name(t)).collect();
        consumer.subscribe(&names.iter().map(String::as_str).collect::<Vec<_>>()).map_err(broker_error)?;
        Ok(Box::new(KafkaSubscription { consumer: Arc::new(consumer), namespace: self.config.namespace.clone() }))
    }
}

struct KafkaSubscription {
    consumer: Arc<StreamConsumer>,
    namespace: String,
}

/// How long an idle poll waits for a first message before returning empty.
const IDLE_POLL: Duration = Duration::from_millis(200);

fn owned(message: &rdkafka::message::BorrowedMessage<'_>, namespace: &str) -> Message {
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let timestamp = message
        .timestamp()
        .to_millis()
        .and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc);
    Message {
        topic: message.topic().strip_prefix(namespace).unwrap_or(message.topic()).to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
        headers,
        payload: message.payload().unwrap_or_default().to_vec(),
        timestamp,
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn poll(&mut self, max: usize) -> Result<Vec<Message>, BusError> {
        let mut out = Vec::new();
        let mut wait = IDLE_POLL;
        while out.len() < max {
            match tokio::time::timeout(wait, self.consumer.recv()).await {
                Err(_) => break,
                Ok(Ok(message)) => out.push(owned(&message, &self.namespace)),
                Ok(Err(err)) => {
                    if out.is_empty() {
                        return Err(broker_error(err));
                    }
                    break;
                }
            }
            // Take what is already buffered, without waiting for more.
            wait = Duration::from_millis(1);
        }
        Ok(out)
    }

    async fn commit(&mut self, message: &Message) -> Result<(), BusError> {
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(
                &format!("{}{}", self.namespace, message.topic),
                message.partition,
                Offset::Offset(message.offset + 1),
            )
            .map_err(broker_error)?;
        let consumer = self.consumer.clone();
        // A synchronous commit: when it returns, the broker has the offset.
        tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync))
            .await
            .map_err(broker_error)?
            .map_err(broker_error)
    }

    fn seek(&mut self, _message: &Message) {
        // Nothing to do: the loop stops right after, and uncommitted messages are delivered
        // again to the group's next consumer.
    }

    async fn lag(&mut self) -> Result<Vec<(String, i64)>, BusError> {
        let consumer = self.consumer.clone();
        let namespace = self.namespace.clone();
        // librdkafka's position and watermark calls block: off the runtime's threads.
        tokio::task::spawn_blocking(move || {
            let positions = consumer.position().map_err(broker_error)?;
            let mut lag: Vec<(String, i64)> = Vec::new();
            for element in positions.elements() {
                // A partition not read yet has no position: its lag is unknown, not zero.
                let Offset::Offset(position) = element.offset() else { continue };
                let (_, high) = consumer
                    .fetch_watermarks(element.topic(), element.partition(), LAG_TIMEOUT)
                    .map_err(broker_error)?;
                let topic = element.topic().strip_prefix(namespace.as_str()).unwrap_or(element.topic());
                let behind = (high - position).max(0);
                match lag.iter_mut().find(|(t, _)| t == topic) {
                    Some((_, sum)) => *sum += behind,
                    None => lag.push((topic.to_owned(), behind)),
                }
            }
            Ok(lag)
        })
        .await
        .map_err(broker_error)?
    }
}

/// How long a watermark query for the lag gauge may wait for the broker.
const LAG_TIMEOUT: Duration = Duration::from_secs(2);
