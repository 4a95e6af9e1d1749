//! What the inventory does on events and on its own: order events confirm, release or commit
//! a reservation; a product created with stock gets its stock record; a sweeper releases
//! the holds whose order never materialised.

use crate::domain::Transition;
use crate::store::{InventoryStore, TransitionOutcome};
use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use contracts::api::ReservationItem;
use contracts::events::{EnvelopeHeader, topics};
use kit::bus::Message;
use kit::bus::consumer::{HandleError, Handler};
use kit::http::{ClientError, ServiceClient};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The consumer group of the inventory service.
pub const CONSUMER_GROUP: &str = "inventory-service";
/// The topics it consumes.
pub const TOPICS: [&str; 4] =
    [topics::ORDER_PLACED, topics::ORDER_CANCELLED, topics::ORDER_STATUS_CHANGED, topics::PRODUCT_UPDATED];

/// Applies order events to reservations, and product creations to stock records.
pub struct OrderEvents {
    /// Where reservations live.
    pub store: Arc<dyn InventoryStore>,
}

#[derive(Deserialize)]
struct OrderRef {
    order_id: Uuid,
    new_status: Option<String>,
    #[serde(default)]
    items: Vec<ReservationItem>,
}

/// Redelivered events need no de-duplication table here: every transition only moves a
/// reservation forward, so applying one twice changes nothing.
#[async_trait]
impl Handler for OrderEvents {
    async fn handle(&self, message: &Message, header: &EnvelopeHeader) -> Result<(), HandleError> {
        if message.topic == topics::PRODUCT_UPDATED {
            return self.product_changed(message, header).await;
        }
        let order: OrderRef = serde_json::from_slice(&message.payload)
            .map_err(|e| HandleError::Poison(format!("not an order event: {e}")))?;
        let transition = match (message.topic.as_str(), order.new_status.as_deref()) {
            (topics::ORDER_PLACED, _) => Transition::Confirm,
            (topics::ORDER_CANCELLED, _) => Transition::Release,
            (topics::ORDER_STATUS_CHANGED, Some("SHIPPED")) => Transition::Commit,
            _ => return Ok(()),
        };
        let transient = |e: crate::store::StoreError| HandleError::Transient(e.to_string());
        let mut outcome = self.store.transition(order.order_id, transition).await.map_err(transient)?;
        if transition == Transition::Commit && outcome == TransitionOutcome::NotApplicable {
            // Shipped without a hold (released by mistake, or never made): the units leave
            // the warehouse all the same; never skip the decrement silently.
            outcome = self.store.ship_unheld(order.order_id, &order.items).await.map_err(transient)?;
        }
        tracing::debug!(order_id = %order.order_id, ?transition, ?outcome, "order event applied");
        Ok(())
    }
}

/// The part of a `product-updated` event the inventory reads.
#[derive(Deserialize)]
struct CreatedProduct {
    product_id: String,
    product: Option<ProductFields>,
}

#[derive(Deserialize)]
struct ProductFields {
    name: String,
    #[serde(default)]
    stock_quantity: i64,
}

impl OrderEvents {
    /// A product created with `stock_quantity` > 0 gets a stock record holding that many
    /// units, unless it has one already (a redelivered event, or stock added by hand first).
    async fn product_changed(&self, message: &Message, header: &EnvelopeHeader) -> Result<(), HandleError> {
        if header.event_type != "PRODUCT_CREATED" {
            return Ok(());
        }
        let created: CreatedProduct = serde_json::from_slice(&message.payload)
            .map_err(|e| HandleError::Poison(format!("not a product event: {e}")))?;
        let Some(product) = created.product.filter(|p| p.stock_quantity > 0) else { return Ok(()) };
        let item = crate::domain::NewItem {
            product_id: created.product_id,
            product_name: product.name,
            quantity: product.stock_quantity.min(crate::domain::MAX_QUANTITY),
            low_stock_threshold: crate::domain::DEFAULT_LOW_STOCK_THRESHOLD,
        };
        let added = self
            .store
            .insert_missing(std::slice::from_ref(&item))
            .await
            .map_err(|e| HandleError::Transient(e.to_string()))?;
        if added > 0 {
            tracing::info!(product_id = %item.product_id, quantity = item.quantity, "stock record created for a new product");
        }
        Ok(())
    }
}

/// Releases pending reservations past their expiry whose order was never written. It does
/// not merely ask whether the order exists — an order committing just after the answer
/// would keep no stock — but asks the order service to VOID the order id: from then on that
/// order can never be written. `voided` → release; "the order exists" → confirm; anything
/// else (the order service down) → keep the hold and ask again next sweep.
pub struct ExpirySweeper {
    /// Where reservations live.
    pub store: Arc<dyn InventoryStore>,
    /// The order service; `None` releases without asking (an inventory used on its own).
    pub orders: Option<ServiceClient>,
    /// Time between sweeps.
    pub interval: Duration,
}

/// The order service's answer to a void request.
#[derive(Deserialize)]
struct Voided {
    voided: bool,
}

impl ExpirySweeper {
    /// One sweep; how many reservations were released.
    pub async fn sweep(&self) -> usize {
        let expired = match self.store.expired(time::OffsetDateTime::now_utc(), 100).await {
            Ok(ids) => ids,
            Err(err) => {
                tracing::warn!(error = %err, "reading expired reservations failed");
                return 0;
            }
        };
        let mut released = 0;
        for order_id in expired {
            let transition = match &self.orders {
                None => Transition::Abandon,
                Some(orders) => {
                    let path = format!("/api/orders/{order_id}/void");
                    match orders.send_json::<_, Voided>(Method::POST, &path, &serde_json::json!({})).await {
                        Ok(Voided { voided: true }) => Transition::Abandon,
                        Ok(Voided { voided: false }) => Transition::Confirm,
                        Err(ClientError::Status { status: StatusCode::CONFLICT, .. }) => Transition::Confirm,
                        Err(err) => {
                            tracing::warn!(%order_id, error = %err, "cannot void the order of an expired hold; keeping it");
                            continue;
                        }
                    }
                }
            };
            match self.store.transition(order_id, transition).await {
                Ok(TransitionOutcome::Applied) if transition == Transition::Abandon => {
                    tracing::info!(%order_id, "released expired reservation");
                    released += 1;
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(%order_id, error = %err, "expiring reservation failed"),
            }
        }
        released
    }

    /// Sweeps until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => { self.sweep().await; }
            }
        }
    }
}
