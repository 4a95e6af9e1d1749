//! Turning events into emails: one handler for every topic the service consumes. An email
//! is claimed in the record before it is sent, so a redelivered event sends nothing twice;
//! a failed send is retried with backoff and, when it keeps failing, recorded as failed and
//! dead-lettered — never silently dropped.

use crate::emails::{AiNotification, Email, Kind, Templates};
use crate::mailer::Mailer;
use crate::store::{Claim, NotificationStore};
use async_trait::async_trait;
use contracts::events::{EnvelopeHeader, InventoryLow, OrderEvent, OrderStatusChanged, topics};
use kit::bus::Message;
use kit::bus::consumer::{HandleError, Handler};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

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
    /// Attempts per email.
    pub send_attempts: u32,
    /// Wait before the second attempt; doubles after each.
    pub retry_delay: Duration,
}

fn parse<T: DeserializeOwned>(message: &Message) -> Result<T, HandleError> {
    serde_json::from_slice(&message.payload)
        .map_err(|e| HandleError::Poison(format!("{} payload does not fit: {e}", message.topic)))
}

fn render<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, HandleError> {
    result.map_err(|e| HandleError::Poison(e.to_string()))
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

    async fn deliver(&self, event_id: Uuid, kind: Kind, email: &Email) -> Result<(), HandleError> {
        let transient = |e: sqlx::Error| HandleError::Transient(format!("notification store: {e}"));
        let id = match self.store.claim(event_id, kind, &email.to, &email.subject).await.map_err(transient)? {
            Claim::Done => {
                tracing::debug!(%event_id, kind = kind.as_str(), "already sent; skipping");
                return Ok(());
            }
            Claim::Send(id) => id,
        };
        let mut delay = self.retry_delay;
        let mut last_error = String::new();
        for attempt in 1..=self.send_attempts {
            match self.mailer.send(email).await {
                Ok(()) => {
                    self.store.sent(id).await.map_err(transient)?;
                    tracing::info!(%event_id, kind = kind.as_str(), to = %email.to, "email sent");
                    return Ok(());
                }
                Err(err) => {
                    last_error = err.to_string();
                    tracing::warn!(%event_id, kind = kind.as_str(), attempt, error = %err, "sending failed");
                    self.store.attempt_failed(id, &last_error).await.map_err(transient)?;
                    if attempt < self.send_attempts {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
        }
        self.store.failed(id).await.map_err(transient)?;
        Err(HandleError::Poison(format!(
            "{} to {} failed {} times: {last_error}",
            kind.as_str(),
            email.to,
            self.send_attempts
        )))
    }
}

#[async_trait]
impl Handler for Notifier {
    async fn handle(&self, message: &Message, header: &EnvelopeHeader) -> Result<(), HandleError> {
        for (kind, email) in self.emails(message)? {
            self.deliver(header.event_id, kind, &email).await?;
        }
        Ok(())
    }
}
