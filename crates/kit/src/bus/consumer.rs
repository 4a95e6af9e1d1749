//! The consumer loop every service runs: poll, check the envelope, hand the message to the
//! service's handler, commit only after the handler succeeded (once per batch). Transient
//! failures are retried with backoff (the message is never skipped); poison messages — and
//! messages whose handler panics — go to the group's dead-letter topic so one bad message
//! never stalls the rest. [`ConsumerHealth`] tells readiness whether the loop runs and moves.

use super::{BusError, EventBus, Message, OutgoingMessage, Subscription};
use crate::retry::Backoff;
use async_trait::async_trait;
use contracts::events::{EnvelopeHeader, SCHEMA_VERSION, topics};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
/// Attempts at committing a batch's offsets before moving on without it: the messages are
/// done, so an uncommitted offset only means they may be delivered again (handlers are
/// idempotent), while retrying forever without polling would wedge the consumer (a Kafka
/// consumer that does not poll cannot even complete a rebalance).
const COMMIT_ATTEMPTS: u32 = 3;

/// Whether a consumer loop is alive and making progress, for `/ready`.
#[derive(Debug, Clone)]
pub struct ConsumerHealth {
    group: Arc<str>,
    state: Arc<Mutex<HealthState>>,
    stuck_after: Duration,
}

#[derive(Debug)]
struct HealthState {
    running: bool,
    /// Last time the loop came back from a poll or a retry: older than `stuck_after` means
    /// the loop hangs somewhere (a handler that never returns, a poll that never ends).
    heartbeat: Instant,
    /// Since when the current message keeps failing.
    failing_since: Option<Instant>,
    last_error: Option<String>,
}

impl ConsumerHealth {
    /// The health of group `group`'s loop, stuck when it has not moved for `stuck_after`.
    pub fn new(group: &str, stuck_after: Duration) -> Self {
        ConsumerHealth {
            group: group.into(),
            state: Arc::new(Mutex::new(HealthState {
                running: false,
                heartbeat: Instant::now(),
                failing_since: None,
                last_error: None,
            })),
            stuck_after,
        }
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    fn update(&self, f: impl FnOnce(&mut HealthState)) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state);
    }

    fn alive(&self) {
        self.update(|s| {
            s.running = true;
            s.heartbeat = Instant::now();
        });
    }

    fn progressed(&self) {
        self.update(|s| {
            s.heartbeat = Instant::now();
            s.failing_since = None;
            s.last_error = None;
        });
    }

    fn failing(&self, error: &str) {
        self.update(|s| {
            s.heartbeat = Instant::now();
            s.failing_since.get_or_insert_with(Instant::now);
            s.last_error = Some(error.to_owned());
        });
    }

    fn stopped(&self) {
        self.update(|s| s.running = false);
    }

    /// `Ok` while the loop runs and moves; else why not (stopped, hanging, or failing on
    /// one message for longer than `stuck_after`).
    pub fn check(&self) -> Result<(), String> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let group = &self.group;
        if !state.running {
            return Err(format!("consumer {group} is not running"));
        }
        if state.heartbeat.elapsed() > self.stuck_after {
            return Err(format!("consumer {group} has not moved for {}s", state.heartbeat.elapsed().as_secs()));
        }
        match state.failing_since {
            Some(since) if since.elapsed() > self.stuck_after => Err(format!(
                "consumer {group} has been failing on one message for {}s: {}",
                since.elapsed().as_secs(),
                state.last_error.as_deref().unwrap_or("unknown error")
            )),
            _ => Ok(()),
        }
    }
}

/// Marks the loop stopped however it ends, a panic included.
struct StoppedOnDrop(ConsumerHealth);

impl Drop for StoppedOnDrop {
    fn drop(&mut self) {
        self.0.stopped();
    }
}

/// How long a consumer may stay still before readiness reports it stuck.
pub const STUCK_AFTER: Duration = Duration::from_secs(60);

/// Consumes `topics` as `group` until `shutdown` is cancelled.
pub async fn run(
    bus: Arc<dyn EventBus>,
    group: &str,
    topics: &[&str],
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
) {
    run_reporting(bus, group, topics, handler, ConsumerHealth::new(group, STUCK_AFTER), shutdown).await;
}

/// [`run`], reporting to `health`.
pub async fn run_reporting(
    bus: Arc<dyn EventBus>,
    group: &str,
    topics: &[&str],
    handler: Arc<dyn Handler>,
    health: ConsumerHealth,
    shutdown: CancellationToken,
) {
    health.alive();
    let _stopped = StoppedOnDrop(health.clone());
    let mut backoff = Backoff::new(RETRY_MIN, RETRY_MAX);
    let dead_letters = topics::dead_letter(group);
    while let Err(err) = bus.ensure_topics(&[dead_letters.as_str()]).await {
        tracing::warn!(group, error = %err, "creating the dead-letter topic failed; retrying");
        health.failing(&err.to_string());
        if backoff.sleep_or_stop(&shutdown).await {
            return;
        }
    }
    let mut subscription = loop {
        match bus.subscribe(group, topics).await {
            Ok(s) => break s,
            Err(err) => {
                tracing::warn!(group, error = %err, "subscribe failed; retrying");
                health.failing(&err.to_string());
                if backoff.sleep_or_stop(&shutdown).await {
                    return;
                }
            }
        }
    };
    tracing::info!(group, ?topics, "consumer started");
    let service = crate::metrics::short_name(group);
    let mut lag_reported: Option<Instant> = None;
    loop {
        if lag_reported.is_none_or(|at| at.elapsed() >= LAG_REPORT_EVERY) {
            lag_reported = Some(Instant::now());
            report_lag(&mut *subscription, service, group).await;
        }
        let batch = tokio::select! {
            _ = shutdown.cancelled() => break,
            batch = subscription.poll(100) => batch,
        };
        let batch = match batch {
            Ok(batch) => {
                backoff.reset();
                health.progressed();
                batch
            }
            Err(err) => {
                tracing::warn!(group, error = %err, "poll failed; retrying");
                health.failing(&err.to_string());
                if backoff.sleep_or_stop(&shutdown).await {
                    break;
                }
                continue;
            }
        };
        // Offsets are committed once per batch, for the last message done on each partition.
        let mut done: Vec<&Message> = Vec::new();
        let mut stopped = false;
        for message in &batch {
            if !process(&*bus, group, &*handler, message, &health, &shutdown).await {
                // Stopped mid-batch: the unprocessed rest is read again next time.
                subscription.seek(message);
                stopped = true;
                break;
            }
            health.progressed();
            match done.iter_mut().find(|m| m.topic == message.topic && m.partition == message.partition) {
                Some(last) => *last = message,
                None => done.push(message),
            }
        }
        for message in done {
            let mut backoff = Backoff::new(RETRY_MIN, RETRY_MAX);
            for attempt in 1..=COMMIT_ATTEMPTS {
                match subscription.commit(message).await {
                    Ok(()) => break,
                    Err(err) if attempt == COMMIT_ATTEMPTS => {
                        tracing::warn!(group, topic = %message.topic, offset = message.offset, error = %err,
                            "commit failed; going on (the messages may be delivered again)");
                    }
                    Err(err) => {
                        tracing::warn!(group, topic = %message.topic, error = %err, "commit failed; retrying");
                        if backoff.sleep_or_stop(&shutdown).await {
                            break;
                        }
                    }
                }
            }
        }
        if stopped {
            break;
        }
    }
    tracing::info!(group, "consumer stopped");
}

/// How often a consumer reports `consumer_lag`.
const LAG_REPORT_EVERY: Duration = Duration::from_secs(5);
/// How long a lag measurement may hold up the consumer loop.
const LAG_REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// Sets `consumer_lag{service,group,topic}` (messages behind the end of the topic).
async fn report_lag(subscription: &mut dyn Subscription, service: &str, group: &str) {
    // Bounded: a broker that does not answer must not hold up consumption.
    match tokio::time::timeout(LAG_REPORT_TIMEOUT, subscription.lag()).await {
        Err(_) => tracing::debug!(group, "consumer lag not measured in time"),
        Ok(Err(err)) => tracing::debug!(group, error = %err, "consumer lag not measured"),
        Ok(Ok(lag)) => {
            for (topic, behind) in lag {
                metrics::gauge!("consumer_lag", "service" => service.to_owned(), "group" => group.to_owned(), "topic" => topic)
                    .set(behind as f64);
            }
        }
    }
}

/// Processes one message to completion (handled, or dead-lettered); `false` if shutdown
/// came first.
async fn process(
    bus: &dyn EventBus,
    group: &str,
    handler: &dyn Handler,
    message: &Message,
    health: &ConsumerHealth,
    shutdown: &CancellationToken,
) -> bool {
    let mut backoff = Backoff::new(RETRY_MIN, RETRY_MAX);
    loop {
        if shutdown.is_cancelled() {
            return false;
        }
        let outcome = match check_envelope(message) {
            Ok(header) => {
                let describe = || {
                    let attributes = vec![
                        crate::trace::Attribute::new("service", crate::metrics::short_name(group).to_owned()),
                        crate::trace::Attribute::new("messaging.consumer.group.name", group.to_owned()),
                        crate::trace::Attribute::new("messaging.destination.name", message.topic.clone()),
                    ];
                    (format!("consume {}", message.topic), attributes)
                };
                let work = handle_guarded(handler, message, &header);
                crate::trace::event_span(crate::trace::Kind::Consumer, &message.headers, describe, work).await
            }
            Err(reason) => Err(HandleError::Poison(reason)),
        };
        let service = crate::metrics::short_name(group).to_owned();
        let labels = [("service", service), ("group", group.to_owned()), ("topic", message.topic.clone())];
        let done = match outcome {
            Ok(()) => {
                metrics::counter!("events_consumed_total", &labels).increment(1);
                Ok(())
            }
            Err(HandleError::Poison(reason)) => {
                tracing::warn!(group, topic = %message.topic, offset = message.offset, %reason, "dead-lettering");
                let sent = dead_letter(bus, group, message, &reason).await;
                if sent.is_ok() {
                    metrics::counter!("events_dead_lettered_total", &labels).increment(1);
                }
                sent
            }
            Err(HandleError::Transient(reason)) => Err(BusError::Broker(reason)),
        };
        match done {
            Ok(()) => return true,
            Err(err) => {
                tracing::warn!(group, topic = %message.topic, offset = message.offset, error = %err, "retrying message");
                health.failing(&err.to_string());
                if backoff.sleep_or_stop(shutdown).await {
                    return false;
                }
            }
        }
    }
}

/// Runs the handler, turning a panic into a poison message: a bug triggered by one message
/// (a library that panics on odd input) must not kill the loop for every later message, nor
/// crash it again at the same offset after each restart.
async fn handle_guarded(handler: &dyn Handler, message: &Message, header: &EnvelopeHeader) -> Result<(), HandleError> {
    match AssertUnwindSafe(handler.handle(message, header)).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            tracing::error!(topic = %message.topic, offset = message.offset, %reason, "handler panicked");
            Err(HandleError::Poison(format!("handler panicked: {reason}")))
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

/// The dead letter of `message`: its key, payload and headers, plus why and where from.
pub fn dead_letter_message(group: &str, message: &Message, reason: &str) -> OutgoingMessage {
    let mut headers = message.headers.clone();
    headers.push(("x-dead-letter-reason".into(), reason.into()));
    headers.push(("x-original-topic".into(), message.topic.clone()));
    headers.push(("x-original-offset".into(), message.offset.to_string()));
    OutgoingMessage {
        topic: topics::dead_letter(group),
        key: message.key.clone(),
        headers,
        payload: message.payload.clone(),
    }
}

async fn dead_letter(bus: &dyn EventBus, group: &str, message: &Message, reason: &str) -> Result<(), BusError> {
    bus.publish(&[dead_letter_message(group, message, reason)]).await
}
