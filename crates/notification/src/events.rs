//! Turning events into emails: one handler for every topic the service consumes. An email is
//! claimed in the record before it is sent, so a redelivered event sends nothing twice. Each
//! delivery makes one attempt; a failure is scheduled for a durable retry (the retry worker,
//! [`crate::retry`], makes the later attempts) and, when the schedule runs out, recorded as
//! failed and dead-lettered through the outbox — never silently dropped. The handler returns
//! (and the consumer commits the event) only once the email is sent, scheduled or
//! dead-lettered.

use crate::config::MAX_RETRY_STEP;
use crate::emails::{AiNotification, Email, Kind, Templates};
use crate::mailer::{Mailer, SendError};
use crate::store::{Claim, Due, NotificationStore, Source, Ticket};
use async_trait::async_trait;
use contracts::events::{EnvelopeHeader, InventoryLow, OrderEvent, OrderStatusChanged, topics};
use kit::bus::consumer::{HandleError, Handler};
use kit::bus::{Message, OutgoingMessage};
use kit::db::Timestamp;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// The consumer group of the notification service.
pub const CONSUMER_GROUP: &str = "notification-service";
/// The topics it consumes.
pub const TOPICS: [&str; 5] = [
    topics::ORDER_PLACED,
    topics::ORDER_CANCELLED,
    topics::ORDER_STATUS_CHANGED,
    topics::INVENTORY_LOW,
    topics::AI_NOTIFICATION_READY,
];

/// Longest wait for one send attempt. The SMTP transport gives up after 10 s by itself; this
/// also bounds a file write on a hung disk, and stays well inside the retry worker's lease.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the emails events ask for.
pub struct Notifier {
    /// The record of emails.
    pub store: Arc<dyn NotificationStore>,
    /// Where emails go.
    pub mailer: Box<dyn Mailer>,
    /// Rendering.
    pub templates: Templates,
    /// Recipient of low-stock alerts.
    pub admin_email: String,
    /// Waits between attempts (see [`crate::Config::retry_schedule`]); never empty.
    pub retry_schedule: Vec<Duration>,
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered and recorded SENT.
    Sent,
    /// Failed; the next attempt is scheduled.
    Retrying,
    /// Failed for good: recorded FAILED, dead letter in the outbox.
    Failed,
    /// A newer attempt owns the record (this one's lease ran out, or another consumer
    /// claimed it meanwhile); that attempt records the outcome.
    Superseded,
}

fn parse<T: DeserializeOwned>(message: &Message) -> Result<T, HandleError> {
    serde_json::from_slice(&message.payload)
        .map_err(|e| HandleError::Poison(format!("{} payload does not fit: {e}", message.topic)))
}

fn render<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, HandleError> {
    result.map_err(|e| HandleError::Poison(e.to_string()))
}

/// One line of at most 1000 characters (the reason travels as a message header).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(1000).collect()
}

/// When an attempt `wait` from now is due. The configuration bounds a step to
/// [`MAX_RETRY_STEP`]; a longer one (a hand-built `Config`) is cut to it rather than
/// overflowing the calendar, which would panic.
fn due_at(wait: Duration) -> Timestamp {
    let now = time::OffsetDateTime::now_utc();
    let wait = time::Duration::try_from(wait.min(MAX_RETRY_STEP)).unwrap_or(time::Duration::ZERO);
    Timestamp::from(now.checked_add(wait).unwrap_or(now))
}

/// The dead letter of an email that could not be sent: the original message with its
/// headers, plus why and where from (what the consumer loop writes for poison messages).
pub fn dead_letter(source: &Source, reason: &str) -> OutgoingMessage {
    // A replayed dead letter that fails again must not carry two reasons.
    let mut headers: Vec<(String, String)> = source
        .headers
        .iter()
        .filter(|(name, _)| {
            let name = name.to_ascii_lowercase();
            !name.starts_with("x-dead-letter-") && !name.starts_with("x-original-")
        })
        .cloned()
        .collect();
    headers.push(("x-dead-letter-reason".into(), reason.to_owned()));
    headers.push(("x-original-topic".into(), source.topic.clone()));
    OutgoingMessage {
        topic: topics::dead_letter(CONSUMER_GROUP),
        key: source.key.clone(),
        headers,
        payload: source.payload.clone(),
    }
}

impl Notifier {
    /// The emails `message` asks for.
    fn emails(&self, message: &Message) -> Result<Vec<(Kind, Email)>, HandleError> {
        Ok(match message.topic.as_str() {
            topics::ORDER_PLACED => {
                vec![(Kind::OrderConfirmed, render(self.templates.order_placed(&parse::<OrderEvent>(message)?))?)]
            }
            topics::ORDER_CANCELLED => {
                vec![(Kind::OrderCancelled, render(self.templates.order_cancelled(&parse::<OrderEvent>(message)?))?)]
            }
            topics::ORDER_STATUS_CHANGED => {
                render(self.templates.order_status(&parse::<OrderStatusChanged>(message)?))?.into_iter().collect()
            }
            topics::INVENTORY_LOW => {
                vec![(
                    Kind::LowStock,
                    render(self.templates.low_stock(&parse::<InventoryLow>(message)?, &self.admin_email))?,
                )]
            }
            topics::AI_NOTIFICATION_READY => self
                .templates
                .ai_follow_up(&parse::<AiNotification>(message)?)
                .map(|e| (Kind::AiFollowUp, e))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        })
    }

    /// Makes the attempt `due` stands for and records its outcome. An error means the
    /// outcome could not be recorded (the store failed); the email may have been sent.
    pub async fn attempt(&self, due: &Due) -> Result<Outcome, sqlx::Error> {
        let Due { ticket, event_id, kind, email, source } = due;
        let sent = match tokio::time::timeout(SEND_TIMEOUT, self.mailer.send(ticket.id, email)).await {
            Ok(sent) => sent,
            Err(_) => Err(SendError::Transport(format!("no answer within {SEND_TIMEOUT:?}"))),
        };
        let error = match sent {
            Ok(()) => {
                if !self.store.sent(*ticket).await? {
                    return Ok(Outcome::Superseded);
                }
                tracing::info!(%event_id, kind, attempt = ticket.attempt, "email sent");
                metrics::counter!("emails_sent_total", "service" => "notification", "kind" => kind.clone())
                    .increment(1);
                return Ok(Outcome::Sent);
            }
            Err(error) => error,
        };
        let reason = one_line(&error.to_string());
        let step = usize::try_from(ticket.retry_step).unwrap_or(usize::MAX);
        let wait = if error.is_permanent() { None } else { self.retry_schedule.get(step) };
        let recorded = match wait {
            Some(wait) => {
                let at = due_at(*wait);
                tracing::warn!(%event_id, kind, attempt = ticket.attempt, error = %reason, retry_in = ?wait, "sending failed; retry scheduled");
                self.store.retry_at(*ticket, &reason, at).await?.then_some(Outcome::Retrying)
            }
            None => {
                let why = if error.is_permanent() {
                    format!("{kind} to {} cannot be sent: {reason}", email.to)
                } else {
                    format!("{kind} to {} failed {} times: {reason}", email.to, ticket.attempt)
                };
                tracing::error!(%event_id, kind, attempt = ticket.attempt, error = %reason, "giving up on the email; dead-lettering it");
                let failed = self.store.give_up(*ticket, &reason, &dead_letter(source, &why)).await?;
                if failed {
                    metrics::counter!("emails_failed_total", "service" => "notification", "kind" => kind.clone())
                        .increment(1);
                }
                failed.then_some(Outcome::Failed)
            }
        };
        Ok(recorded.unwrap_or(Outcome::Superseded))
    }

    async fn deliver(
        &self,
        message: &Message,
        event_id: uuid::Uuid,
        kind: Kind,
        email: Email,
    ) -> Result<(), sqlx::Error> {
        let source = Source::from(message);
        let ticket: Ticket = match self.store.claim(event_id, kind, &email, &source).await? {
            Claim::Done => {
                tracing::debug!(%event_id, kind = kind.as_str(), "already sent or scheduled; skipping");
                return Ok(());
            }
            Claim::Send(ticket) => ticket,
        };
        let due = Due { ticket, event_id, kind: kind.as_str().to_owned(), email, source };
        self.attempt(&due).await.map(|_| ())
    }
}

#[async_trait]
impl Handler for Notifier {
    async fn handle(&self, message: &Message, header: &EnvelopeHeader) -> Result<(), HandleError> {
        for (kind, email) in self.emails(message)? {
            // Not committed: the consumer retries the message, and the claim finds the record
            // PENDING and makes the attempt again.
            self.deliver(message, header.event_id, kind, email)
                .await
                .map_err(|e| HandleError::Transient(format!("notification store: {e}")))?;
        }
        Ok(())
    }
}
