//! The consumer loop every service runs: poll, check the envelope, hand the message to the
//! service's handler, commit only after the handler succeeded (once per batch). Transient failures are retried
//! with backoff (the message is never skipped); poison messages go to the group's dead-letter
//! topic so one bad message never stalls the rest.

use super::{BusError, EventBus, Message, OutgoingMessage};
use async_trait::async_trait;
use contracts::events::{EnvelopeHeader, SCHEMA_VERSION, topics};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why a handler did not finish a message.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The message can never be processed (bad shape, impossible reference).
    #[error("poison message: {0}")]
    Poison(String),
    /// Try again later (database down, peer unreachable).
    #[error("transient failure: {0}")]
    Transient(String),
}

/// A service's reaction to messages. It must be idempotent: delivery is at least once, and
/// handlers de-duplicate on `header.event_id`.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Processes one message whose envelope has been checked.
    async fn handle(&self, message: &Message, header: &EnvelopeHeader) -> Result<(), HandleError>;
}

/// Backoff between retries of a transient failure.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Consumes `topics` as `group` until `shutdown` is cancelled.
pub async fn run(
    bus: Arc<dyn EventBus>,
    group: &str,
    topics: &[&str],
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
) {
    let mut backoff = RETRY_MIN;
    let dead_letters = topics::dead_letter(group);
    while let Err(err) = bus.ensure_topics(&[dead_letters.as_str()]).await {
        tracing::warn!(group, error = %err, "creating the dead-letter topic failed; retrying");
        if sleep_or_stop(&shutdown, &mut backoff).await {
            return;
        }
    }
    let mut subscription = loop {
        match bus.subscribe(group, topics).await {
            Ok(s) => break s,
            Err(err) => {
                tracing::warn!(group, error = %err, "subscribe failed; retrying");
                if sleep_or_stop(&shutdown, &mut backoff).await {
                    return;
                }
            }
        }
    };
    tracing::info!(group, ?topics, "consumer started");
    loop {
        let batch = tokio::select! {
            _ = shutdown.cancelled() => break,
            batch = subscription.poll(100) => batch,
        };
        let batch = match batch {
            Ok(batch) => {
                backoff = RETRY_MIN;
                batch
            }
            Err(err) => {
                tracing::warn!(group, error = %err, "poll failed; retrying");
                if sleep_or_stop(&shutdown, &mut backoff).await {
                    break;
                }
                continue;
            }
        };
        // Offsets are committed once per batch, for the last message done on each partition.
        let mut done: Vec<&Message> = Vec::new();
        let mut stopped = false;
        for message in &batch {
            if !process(&*bus, group, &*handler, message, &shutdown).await {
                // Stopped mid-batch: the unprocessed rest is read again next time.
                subscription.seek(message);
                stopped = true;
                break;
            }
            match done.iter_mut().find(|m| m.topic == message.topic && m.partition == message.partition) {
                Some(last) => *last = message,
                None => done.push(message),
            }
        }
        for message in done {
            let mut backoff = RETRY_MIN;
            while let Err(err) = subscription.commit(message).await {
                tracing::warn!(group, topic = %message.topic, error = %err, "commit failed; retrying");
                if sleep_or_stop(&shutdown, &mut backoff).await {
                    break;
                }
            }
        }
        if stopped {
            break;
        }
    }
    tracing::info!(group, "consumer stopped");
}

/// Processes one message to completion (handled, or dead-lettered); `false` if shutdown
/// came first.
async fn process(
    bus: &dyn EventBus,
    group: &str,
    handler: &dyn Handler,
    message: &Message,
    shutdown: &CancellationToken,
) -> bool {
    let mut backoff = RETRY_MIN;
    loop {
        if shutdown.is_cancelled() {
            return false;
        }
        let outcome = match check_envelope(message) {
            Ok(header) => handler.handle(message, &header).await,
            Err(reason) => Err(HandleError::Poison(reason)),
        };
        let done = match outcome {
            Ok(()) => Ok(()),
            Err(HandleError::Poison(reason)) => {
                tracing::warn!(group, topic = %message.topic, offset = message.offset, %reason, "dead-lettering");
                dead_letter(bus, group, message, &reason).await
            }
            Err(HandleError::Transient(reason)) => Err(BusError::Broker(reason)),
        };
        match done {
            Ok(()) => return true,
            Err(err) => {
                tracing::warn!(group, topic = %message.topic, offset = message.offset, error = %err, "retrying message");
                if sleep_or_stop(shutdown, &mut backoff).await {
                    return false;
                }
            }
        }
    }
}

fn check_envelope(message: &Message) -> Result<EnvelopeHeader, String> {
    let header: EnvelopeHeader =
        serde_json::from_slice(&message.payload).map_err(|e| format!("not an event envelope: {e}"))?;
    if header.schema_version != SCHEMA_VERSION {
        return Err(format!("unknown schema_version {}", header.schema_version));
    }
    Ok(header)
}

async fn dead_letter(bus: &dyn EventBus, group: &str, message: &Message, reason: &str) -> Result<(), BusError> {
    let mut headers = message.headers.clone();
    headers.push(("x-dead-letter-reason".into(), reason.into()));
    headers.push(("x-original-topic".into(), message.topic.clone()));
    headers.push(("x-original-offset".into(), message.offset.to_string()));
    bus.publish(&[OutgoingMessage {
        topic: topics::dead_letter(group),
        key: message.key.clone(),
        headers,
        payload: message.payload.clone(),
    }])
    .await
}

/// Sleeps for `backoff` (doubling it), `true` if shutdown came first.
async fn sleep_or_stop(shutdown: &CancellationToken, backoff: &mut Duration) -> bool {
    let wait = *backoff;
    *backoff = (*backoff * 2).min(RETRY_MAX);
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}
