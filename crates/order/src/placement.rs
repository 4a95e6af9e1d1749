//! Placing an order, SPEC §3 steps 1–6: validated input, the Idempotency-Key, catalog names
//! and prices, one reservation call, one transaction, and release on failure.
//!
//! An Idempotency-Key is claimed — with the id the order will get — before anything else,
//! so a concurrent retry waits for that order (or is told it is in progress) instead of
//! reserving scarce stock a second time. A retry after a crash takes an abandoned claim over
//! and carries on with the same order id, which the reservation is idempotent on.

use crate::domain::{Order, OrderItem, PlaceOrder, Status, order_number};
use crate::error::OrderError;
use crate::store::{KeyClaim, OrderStore, StoreError};
use contracts::api::{CatalogPage, Reservation, ReservationItem, ReservationRequest};
use http::{Method, StatusCode};
use kit::http::{ClientError, ServiceClient};
use kit::problem::FieldError;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
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
    /// How long a request waits for another request holding its Idempotency-Key before it
    /// answers "in progress".
    pub key_wait: Duration,
    /// After how long a claimed key whose order never appeared is taken over (its request
    /// died).
    pub key_stale: Duration,
}

/// Order-number collisions tolerated before giving up (32 random bits a day).
const NUMBER_ATTEMPTS: usize = 3;

/// A failed placement, and whether its order may have been written after all (the store's
/// answer was lost): then neither its stock hold nor its key may be given up.
struct Failed {
    error: OrderError,
    maybe_written: bool,
}

impl From<OrderError> for Failed {
    fn from(error: OrderError) -> Self {
        Failed { error, maybe_written: false }
    }
}

impl Placement {
    /// Places `request`, or replays the order an earlier request with the same key made.
    pub async fn place(&self, request: PlaceOrder, key: Option<&str>) -> Result<(Order, Placed), OrderError> {
        let fingerprint = request.fingerprint();
        let order_id = match key {
            None => Uuid::now_v7(),
            Some(key) => match self.claim(key, &fingerprint).await? {
                Ok(order_id) => order_id,
                Err(order) => return Ok((order, Placed::Replayed)),
            },
        };
        match self.place_as(order_id, &request).await {
            Ok(placed) => Ok(placed),
            Err(Failed { error, maybe_written }) => {
                if let (Some(key), false) = (key, maybe_written)
                    && let Err(err) = self.store.release_key(key, order_id).await
                {
                    tracing::warn!(%order_id, error = %err, "giving up an idempotency key failed; it goes stale");
                }
                Err(error)
            }
        }
    }

    /// The order id this request may write under `key` (`Ok`), or the order an earlier
    /// request with the key wrote (`Err`).
    async fn claim(&self, key: &str, fingerprint: &str) -> Result<Result<Uuid, Order>, OrderError> {
        let deadline = tokio::time::Instant::now() + self.key_wait;
        let fresh = Uuid::now_v7();
        loop {
            let (held_fingerprint, order_id, claimed_at) = match self.store.claim_key(key, fingerprint, fresh).await? {
                KeyClaim::Claimed => return Ok(Ok(fresh)),
                KeyClaim::Held { fingerprint, order_id, claimed_at } => (fingerprint, order_id, claimed_at),
            };
            if held_fingerprint != fingerprint {
                return Err(OrderError::IdempotencyKeyReused);
            }
            if let Some(order) = self.store.get(order_id).await? {
                return Ok(Err(order));
            }
            let age = time::OffsetDateTime::now_utc() - claimed_at;
            if age > self.key_stale && self.store.take_over_key(key, claimed_at).await? {
                tracing::info!(%order_id, "taking over an abandoned idempotency key");
                return Ok(Ok(order_id));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(OrderError::KeyInProgress);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn place_as(&self, order_id: Uuid, request: &PlaceOrder) -> Result<(Order, Placed), Failed> {
        let mut order = self.priced_order(order_id, request).await?;
        self.reserve(&order).await?;
        let mut attempt = 0;
        let written = loop {
            attempt += 1;
            match self.store.insert(&order).await {
                Err(StoreError::NumberTaken) if attempt < NUMBER_ATTEMPTS => {
                    order.order_number = order_number(order.created_at);
                }
                other => break other,
            }
        };
        match written {
            Ok(()) => Ok((order, Placed::New)),
            // Another attempt under the same key wrote it, or the id was voided because the
            // hold expired first (its stock is released: this order must not be written).
            Err(StoreError::IdTaken) => match self.store.get(order_id).await.map_err(OrderError::from)? {
                Some(existing) => Ok((existing, Placed::Replayed)),
                None => Err(OrderError::HoldExpired.into()),
            },
            Err(StoreError::Database(err)) if kit::db::is_unavailable(&err) => {
                // The commit may have happened with its answer lost: keep the hold and the
                // key. The expiry sweeper voids or confirms the order; a retry with the key
                // finds it.
                tracing::warn!(%order_id, error = %err, "writing the order failed with an unknown outcome");
                Err(Failed { error: StoreError::Database(err).into(), maybe_written: true })
            }
            Err(err) => {
                self.release(order_id).await;
                Err(OrderError::from(err).into())
            }
        }
    }

    /// Builds the order from catalog names and prices; unknown products → 422, a client
    /// price that differs from the catalog → 409.
    async fn priced_order(&self, id: Uuid, request: &PlaceOrder) -> Result<Order, OrderError> {
        let mut ids: Vec<&str> = request.lines.iter().map(|l| l.product_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let page: CatalogPage = self
            .catalog
            .get_json(&format!("/api/products?page_size=100&include_stock=false&ids={}", ids.join(",")))
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

    /// One call holds every line or none. A hold that exists but is no longer held (the
    /// sweeper released it: this order id is void) is as good as none.
    async fn reserve(&self, order: &Order) -> Result<(), Failed> {
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
            Ok(reservation) if matches!(reservation.status.as_str(), "PENDING" | "CONFIRMED") => Ok(()),
            Ok(_) => Err(OrderError::HoldExpired.into()),
            Err(ClientError::Status { status: StatusCode::CONFLICT, detail, .. }) => {
                Err(OrderError::OutOfStock(detail).into())
            }
            Err(err @ ClientError::Timeout { .. }) => {
                // The hold may have been made: give it back (the expiry sweeper would too).
                self.release(order.id).await;
                Err(upstream("Inventory service", err).into())
            }
            Err(err) => Err(upstream("Inventory service", err).into()),
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

/// A peer's failure as the client sees it: down or timing out → 503 naming the peer; a 503
/// from the peer (its store is full, say) → 503 with the peer's own explanation.
fn upstream(service: &'static str, err: ClientError) -> OrderError {
    match err {
        ClientError::Unavailable { .. } | ClientError::Timeout { .. } => {
            tracing::warn!(error = %err, "peer unavailable");
            OrderError::Unavailable(format!("{service} is temporarily unavailable. Please try again later."))
        }
        ClientError::Status { status: StatusCode::SERVICE_UNAVAILABLE, detail, .. } => {
            tracing::warn!(service, %detail, "peer answered 503");
            OrderError::Unavailable(detail)
        }
        ClientError::Status { status, .. } if status.is_server_error() => {
            tracing::warn!(error = %err, "peer failed");
            OrderError::Unavailable(format!("{service} is temporarily unavailable. Please try again later."))
        }
        other => OrderError::Internal(other.to_string()),
    }
}
