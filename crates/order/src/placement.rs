//! Placing an order, SPEC §3 steps 1–6: validated input, the Idempotency-Key, catalog names
//! and prices, one reservation call, one transaction, and release on failure.

use crate::domain::{Order, OrderItem, PlaceOrder, Status, order_number};
use crate::error::OrderError;
use crate::store::{OrderStore, StoreError};
use contracts::api::{CatalogPage, Reservation, ReservationItem, ReservationRequest};
use http::{Method, StatusCode};
use kit::http::{ClientError, ServiceClient};
use kit::problem::FieldError;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Whether a placement created the order or replayed an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Written now.
    New,
    /// Returned from an earlier request with the same Idempotency-Key and body.
    Replayed,
}

/// The order-placing workflow and the peers it calls.
#[derive(Clone)]
pub struct Placement {
    /// Where orders live.
    pub store: Arc<dyn OrderStore>,
    /// The product service (authoritative names and prices).
    pub catalog: ServiceClient,
    /// The inventory service (reservations).
    pub inventory: ServiceClient,
}

/// Order-number collisions tolerated before giving up (32 random bits a day).
const NUMBER_ATTEMPTS: usize = 3;

impl Placement {
    /// Places `request`, or replays the order an earlier request with the same key made.
    pub async fn place(&self, request: PlaceOrder, key: Option<&str>) -> Result<(Order, Placed), OrderError> {
        let fingerprint = request.fingerprint();
        if let Some(key) = key
            && let Some(order) = self.replay(key, &fingerprint).await?
        {
            return Ok((order, Placed::Replayed));
        }

        let order_id = Uuid::now_v7();
        let mut order = self.priced_order(order_id, &request).await?;
        self.reserve(&order).await?;

        let idempotency = key.map(|k| (k, fingerprint.as_str()));
        let mut attempt = 0;
        let written = loop {
            attempt += 1;
            match self.store.insert(&order, idempotency).await {
                Err(StoreError::NumberTaken) if attempt < NUMBER_ATTEMPTS => {
                    order.order_number = order_number(order.created_at);
                }
                other => break other,
            }
        };
        match written {
            Ok(()) => Ok((order, Placed::New)),
            Err(err) => {
                self.release(order_id).await;
                match (err, key) {
                    // A concurrent request with the same key won the race: answer as it did.
                    (StoreError::IdempotencyKeyTaken, Some(key)) => match self.replay(key, &fingerprint).await? {
                        Some(order) => Ok((order, Placed::Replayed)),
                        None => Err(OrderError::Internal("idempotency key vanished".into())),
                    },
                    (err, _) => Err(err.into()),
                }
            }
        }
    }

    async fn replay(&self, key: &str, fingerprint: &str) -> Result<Option<Order>, OrderError> {
        let Some((stored, order_id)) = self.store.idempotent_order(key).await? else { return Ok(None) };
        if stored != fingerprint {
            return Err(OrderError::IdempotencyKeyReused);
        }
        Ok(self.store.get(order_id).await?)
    }

    /// Builds the order from catalog names and prices; unknown products → 422, a client
    /// price that differs from the catalog → 409.
    async fn priced_order(&self, id: Uuid, request: &PlaceOrder) -> Result<Order, OrderError> {
        let mut ids: Vec<&str> = request.lines.iter().map(|l| l.product_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let page: CatalogPage = self
            .catalog
            .get_json(&format!("/api/products?page_size=100&ids={}", ids.join(",")))
            .await
            .map_err(|e| upstream("Product service", e))?;
        let catalog: HashMap<&str, _> = page.products.iter().map(|p| (p.id.as_str(), p)).collect();

        let mut unknown = Vec::new();
        let mut items = Vec::with_capacity(request.lines.len());
        let mut total = contracts::Money::default();
        for (i, line) in request.lines.iter().enumerate() {
            let Some(product) = catalog.get(line.product_id.as_str()) else {
                unknown.push(FieldError::new(
                    format!("items[{i}].product_id"),
                    format!("Product {} not found", line.product_id),
                ));
                continue;
            };
            if let Some(expected) = line.expected_price
                && expected != product.price
            {
                return Err(OrderError::PriceMismatch {
                    product_id: product.id.clone(),
                    catalog: product.price,
                    requested: expected,
                });
            }
            let line_total =
                product.price.times(line.quantity).ok_or_else(|| OrderError::Internal("overflow".into()))?;
            total = total.plus(line_total).ok_or_else(|| OrderError::Internal("overflow".into()))?;
            items.push(OrderItem {
                id: Uuid::now_v7(),
                product_id: product.id.clone(),
                product_name: product.name.clone(),
                quantity: line.quantity,
                unit_price: product.price,
                total_price: line_total,
            });
        }
        if !unknown.is_empty() {
            return Err(OrderError::Invalid(unknown));
        }
        let now = kit::db::Timestamp::now().get();
        Ok(Order {
            id,
            order_number: order_number(now),
            customer_name: request.customer_name.clone(),
            customer_email: request.customer_email.clone(),
            total_amount: total,
            status: Status::Confirmed,
            items,
            created_at: now,
            updated_at: now,
        })
    }

    /// One call holds every line or none.
    async fn reserve(&self, order: &Order) -> Result<(), OrderError> {
        let request = ReservationRequest {
            order_id: order.id,
            items: order
                .items
                .iter()
                .map(|i| ReservationItem { product_id: i.product_id.clone(), quantity: i.quantity })
                .collect(),
        };
        let reserved: Result<Reservation, ClientError> =
            self.inventory.send_json(Method::POST, "/api/inventory/reservations", &request).await;
        match reserved {
            Ok(_) => Ok(()),
            Err(ClientError::Status { status: StatusCode::CONFLICT, detail, .. }) => {
                Err(OrderError::OutOfStock(detail))
            }
            Err(err @ ClientError::Timeout { .. }) => {
                // The hold may have been made: give it back (the expiry sweeper would too).
                self.release(order.id).await;
                Err(upstream("Inventory service", err))
            }
            Err(err) => Err(upstream("Inventory service", err)),
        }
    }

    /// Best effort: a failed release is left to the inventory's expiry sweeper.
    async fn release(&self, order_id: Uuid) {
        if let Err(err) = self.inventory.send(Method::DELETE, &format!("/api/inventory/reservations/{order_id}")).await
        {
            tracing::warn!(%order_id, error = %err, "releasing reservation failed; it will expire");
        }
    }
}

fn upstream(service: &'static str, err: ClientError) -> OrderError {
    match err {
        ClientError::Unavailable { .. } | ClientError::Timeout { .. } => {
            tracing::warn!(error = %err, "peer unavailable");
            OrderError::Unavailable(service)
        }
        ClientError::Status { status, .. } if status.is_server_error() => {
            tracing::warn!(error = %err, "peer failed");
            OrderError::Unavailable(service)
        }
        other => OrderError::Internal(other.to_string()),
    }
}
