//! The event bus: what services publish to and consume from.
//!
//! The trait follows Kafka's model — topics, keyed messages with headers, consumer groups
//! with committed offsets, at-least-once delivery — so the embedded log ([`log::EventLog`])
//! and a Kafka implementation are interchangeable behind it, and the same consumer code
//! ([`consumer::run`]) runs on both.

pub mod consumer;
pub mod kafka;
pub mod log;

use async_trait::async_trait;
use time::OffsetDateTime;

/// A message to append to a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    /// Topic name.
    pub topic: String,
    /// Ordering is per key (order id, product id).
    pub key: String,
    /// Metadata such as `traceparent`.
    pub headers: Vec<(String, String)>,
    /// The value (JSON for every event this platform writes).
    pub payload: Vec<u8>,
}

/// A message read from a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Topic name.
    pub topic: String,
    /// Partition (always 0 on the embedded log).
    pub partition: i32,
    /// Position in the partition; commit `offset` to move past this message.
    pub offset: i64,
    /// See [`OutgoingMessage::key`].
    pub key: String,
    /// See [`OutgoingMessage::headers`].
    pub headers: Vec<(String, String)>,
    /// See [`OutgoingMessage::payload`].
    pub payload: Vec<u8>,
    /// When it was appended.
    pub timestamp: OffsetDateTime,
}

impl Message {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A bus failure. Every variant is transient from the caller's point of view: retry later.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The log's storage failed.
    #[error("event log storage: {0}")]
    Storage(#[from] sqlx::Error),
    /// The broker is unreachable or refused.
    #[error("broker: {0}")]
    Broker(String),
}

/// Appends and subscriptions.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Appends `batch` durably and in order; all or nothing.
    async fn publish(&self, batch: &[OutgoingMessage]) -> Result<(), BusError>;

    /// Makes sure `topics` exist (a no-op where topics need no creating).
    async fn ensure_topics(&self, _topics: &[&str]) -> Result<(), BusError> {
        Ok(())
    }

    /// Joins consumer group `group` on `topics`, resuming after its committed offsets.
    async fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Subscription>, BusError>;
}

/// One consumer's view of its topics.
#[async_trait]
pub trait Subscription: Send {
    /// The next messages, oldest first per topic; empty after a short wait with nothing new,
    /// so callers can check for shutdown.
    async fn poll(&mut self, max: usize) -> Result<Vec<Message>, BusError>;

    /// Records that `message` (and everything before it on its topic) is done.
    async fn commit(&mut self, message: &Message) -> Result<(), BusError>;

    /// Moves the read position back to `message`, so the next poll returns it again.
    fn seek(&mut self, message: &Message);

    /// Messages behind the end of each topic (summed over partitions) from the current read
    /// position, for the `consumer_lag` gauge; topics it cannot measure are left out.
    async fn lag(&mut self) -> Result<Vec<(String, i64)>, BusError> {
        Ok(Vec::new())
    }
}
