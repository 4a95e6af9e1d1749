//! The AI service's consumer (group `ai-service`):
//!
//! - `product-updated` keeps the catalog copy and its indexes current. Each change carries
//!   its version (the product's `updated_at`, or the deletion's time), and an older change
//!   never overwrites a newer one, so replays and races with the start-up build are
//!   harmless.
//! - `order-placed` teaches co-purchase counts and produces the follow-up email on
//!   `ai-notification-ready`, both in one transaction keyed by the event id, so a
//!   redelivered order neither counts twice nor mails twice.

use crate::assistant::Assistant;
use crate::catalog::{Applied, CatalogProduct};
use crate::retrieval::embeddings::SemanticIndex;
use crate::store::AiStore;
use async_trait::async_trait;
use contracts::events::{AiNotificationReady, Envelope, EnvelopeHeader, OrderEvent, ProductEvent, topics};
use kit::bus::Message;
use kit::bus::consumer::{HandleError, Handler};
use serde::Deserialize;
use std::sync::Arc;
use time::OffsetDateTime;

/// The consumer group of the AI service.
pub const CONSUMER_GROUP: &str = "ai-service";
/// The topics it consumes.
pub const TOPICS: [&str; 2] = [topics::PRODUCT_UPDATED, topics::ORDER_PLACED];

/// Reacts to catalog changes and orders.
pub struct AiHandler {
    /// The assistant (its catalog, store and model).
    pub assistant: Arc<Assistant>,
    /// Where co-purchases and the outbox live.
    pub store: Arc<dyn AiStore>,
    /// Semantic vectors to keep current, when a model is configured.
    pub semantic: Option<Arc<SemanticIndex>>,
    /// Whether orders produce follow-up emails.
    pub follow_up_emails: bool,
}

/// The parts of a `product-updated` envelope this service reads.
#[derive(Debug, Deserialize)]
struct ProductChange {
    event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
    #[serde(flatten)]
    payload: ProductEvent,
}

fn poison(message: &Message, err: impl std::fmt::Display) -> HandleError {
    HandleError::Poison(format!("{} payload does not fit: {err}", message.topic))
}

impl AiHandler {
    async fn product_changed(&self, message: &Message) -> Result<(), HandleError> {
        let change: ProductChange = serde_json::from_slice(&message.payload).map_err(|e| poison(message, e))?;
        let catalog = self.assistant.retriever.catalog().clone();
        let id = change.payload.product_id.clone();
        let outcome = match (change.event_type.as_str(), change.payload.product) {
            ("PRODUCT_DELETED", _) | (_, None) => {
                let applied = catalog.remove(&id, change.occurred_at);
                if let (Ok(Applied::Changed), Some(semantic)) = (&applied, &self.semantic) {
                    semantic.remove(&id);
                }
                applied
            }
            (_, Some(value)) => {
                let product: CatalogProduct = serde_json::from_value(value).map_err(|e| poison(message, e))?;
                let applied = catalog.upsert(product);
                if let (Ok(Applied::Changed), Some(semantic)) = (&applied, &self.semantic)
                    && let Some(entry) = catalog.get(&id)
                {
                    let semantic = semantic.clone();
                    let embedded = tokio::task::spawn_blocking(move || semantic.sync(&[entry], false)).await;
                    let failure = match embedded {
                        Ok(Ok(_)) => None,
                        Ok(Err(err)) => Some(err.to_string()),
                        Err(err) => Some(err.to_string()),
                    };
                    if let Some(err) = failure {
                        tracing::warn!(product_id = %id, error = %err, "embedding failed; lexical search still finds it");
                    }
                }
                applied
            }
        };
        let applied = outcome.map_err(|e| HandleError::Transient(e.to_string()))?;
        tracing::debug!(product_id = %id, ?applied, "catalog change");
        Ok(())
    }

    async fn order_placed(&self, message: &Message, header: &EnvelopeHeader) -> Result<(), HandleError> {
        let order: OrderEvent = serde_json::from_slice(&message.payload).map_err(|e| poison(message, e))?;
        let transient = |e: crate::store::StoreError| HandleError::Transient(e.to_string());
        let wants_follow_up = self.follow_up_emails && !order.customer_email.trim().is_empty();
        // `record_order` refuses a replay by itself; asking first only spares composing the
        // follow-up again, so without one it is a round trip saved on every order.
        if wants_follow_up && self.store.is_processed(header.event_id).await.map_err(transient)? {
            return Ok(());
        }
        let product_ids: Vec<String> = order.items.iter().map(|i| i.product_id.clone()).collect();
        let follow_up = if wants_follow_up {
            let (subject, body_html) = self.assistant.follow_up(&order).await;
            Some(kit::outbox::message(&Envelope::new(AiNotificationReady {
                order_id: order.order_id,
                order_number: order.order_number.clone(),
                customer_email: order.customer_email.clone(),
                customer_name: order.customer_name.clone(),
                subject,
                body_html,
            })))
        } else {
            None
        };
        self.store.record_order(header.event_id, &product_ids, follow_up.as_ref()).await.map_err(transient)?;
        Ok(())
    }
}

#[async_trait]
impl Handler for AiHandler {
    async fn handle(&self, message: &Message, header: &EnvelopeHeader) -> Result<(), HandleError> {
        match message.topic.as_str() {
            topics::PRODUCT_UPDATED => self.product_changed(message).await,
            topics::ORDER_PLACED => self.order_placed(message, header).await,
            _ => Ok(()),
        }
    }
}
