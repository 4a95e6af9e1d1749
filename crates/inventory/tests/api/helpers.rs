//! Starting an inventory service on a fresh store, talking HTTP to it, publishing order
//! events onto its event log the way the order service does, reading what it published, and
//! a fake order service for the expiry sweeper to ask.

use contracts::Money;
use contracts::events::{Envelope, Event, OrderEvent, OrderEventItem, OrderEventKind, OrderStatusChanged};
use http::StatusCode;
use inventory::{App, Config};
use kit::bus::EventBus;
use kit::bus::log::EventLog;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
pub use testkit::{Backend, EVENTUALLY, Reply};
use testkit::{Client, Running, Stores};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The topic low-stock alerts are published on.
pub const INVENTORY_LOW: &str = "inventory-low";

/// A TTL long enough that nothing expires during a test.
pub const LONG_TTL: Duration = Duration::from_secs(600);

/// A running service and what the tests need to observe it.
pub struct TestApp {
    /// The bus the service publishes to and consumes from.
    pub events: EventLog,
    client: Client,
    _running: Running,
    _stores: Stores,
}

impl std::ops::Deref for TestApp {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Starts a service on a fresh store without an order service, or `None` when the backend's
/// server is missing (a skipped test, or a failure under `SHOP_REQUIRE_TEST_SERVERS=1`).
pub async fn spawn_app(backend: Backend, reservation_ttl: Duration) -> Option<TestApp> {
    spawn_app_with(backend, reservation_ttl, None).await
}

/// Like [`spawn_app`], asking the order service at `order_service_url` before releasing an
/// expired reservation.
pub async fn spawn_app_with(
    backend: Backend,
    reservation_ttl: Duration,
    order_service_url: Option<String>,
) -> Option<TestApp> {
    let stores = Stores::new(backend).await?;
    let events = stores.event_log().await;
    let issuer = testkit::tokens::issuer();
    let config = Config {
        host: "127.0.0.1".into(),
        port: 0,
        database: stores.options("inventory"),
        reservation_ttl,
        order_service_url,
        auth: issuer.settings(Some("inventory-service")),
    };
    let app = App::build(config, Arc::new(events.clone())).await.expect("building the inventory service");
    let running = Running::spawn(app.port(), |stop| app.run_until_stopped(stop));
    let client = Client::new(running.base.clone()).with_token(&issuer.admin());
    Some(TestApp { events, client, _running: running, _stores: stores })
}

/// A fake order service: `POST /api/orders/{id}/void` answers `{"voided": false}` for
/// `existing` orders, 503 for `failing` ones and `{"voided": true}` otherwise. Stops when
/// `shutdown` is cancelled. Returns its base URL.
pub async fn spawn_order_service(
    existing: HashSet<Uuid>,
    failing: HashSet<Uuid>,
    shutdown: CancellationToken,
) -> String {
    use axum::extract::{Path, State};
    use axum::response::IntoResponse;

    type Known = Arc<(HashSet<Uuid>, HashSet<Uuid>)>;
    async fn void(State(known): State<Known>, Path(id): Path<Uuid>) -> axum::response::Response {
        let (existing, failing) = &*known;
        if failing.contains(&id) {
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"detail": "down"}))).into_response()
        } else {
            axum::Json(json!({"order_id": id, "voided": !existing.contains(&id)})).into_response()
        }
    }

    let router = axum::Router::new()
        .route("/api/orders/{id}/void", axum::routing::post(void))
        .with_state(Arc::new((existing, failing)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the fake order service");
    let base = format!("http://{}", listener.local_addr().expect("fake order service address"));
    tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await });
    base
}

/// An `i64` field of a JSON object.
#[track_caller]
pub fn int(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_else(|| panic!("{field} is not an integer: {value}"))
}

/// A reservation body.
pub fn reservation(order_id: Uuid, items: &[(&str, i64)]) -> Value {
    json!({
        "order_id": order_id,
        "items": items.iter().map(|(p, q)| json!({"product_id": p, "quantity": q})).collect::<Vec<_>>(),
    })
}

fn order_items(items: &[(&str, i64)]) -> Vec<OrderEventItem> {
    items
        .iter()
        .map(|(p, q)| OrderEventItem {
            product_id: (*p).to_owned(),
            product_name: format!("Product {p}"),
            quantity: *q,
            price: Money::from_cents(1_000),
        })
        .collect()
}

/// An `order-placed` or `order-cancelled` event as the order service writes it.
pub fn order_event(kind: OrderEventKind, order_id: Uuid, items: &[(&str, i64)]) -> Envelope<OrderEvent> {
    let items = order_items(items);
    let total = items.iter().map(|i| i.price.cents() * i.quantity).sum();
    Envelope::new(OrderEvent {
        kind,
        order_id,
        order_number: format!("ORD-20260101-{}", &order_id.simple().to_string()[..8].to_uppercase()),
        customer_name: "Ada Lovelace".into(),
        customer_email: "ada@example.com".into(),
        total_amount: Money::from_cents(total),
        status: match kind {
            OrderEventKind::Placed => "CONFIRMED".into(),
            OrderEventKind::Cancelled => "CANCELLED".into(),
        },
        items,
    })
}

/// An `order-status-changed` event as the order service writes it.
pub fn status_changed(order_id: Uuid, old: &str, new: &str, items: &[(&str, i64)]) -> Envelope<OrderStatusChanged> {
    let items = order_items(items);
    let total = items.iter().map(|i| i.price.cents() * i.quantity).sum();
    Envelope::new(OrderStatusChanged {
        order_id,
        order_number: "ORD-20260101-ABCDEF12".into(),
        customer_name: "Ada Lovelace".into(),
        customer_email: "ada@example.com".into(),
        old_status: old.into(),
        new_status: new.into(),
        total_amount: Money::from_cents(total),
        items,
    })
}

/// One `inventory-low` message, as read back from the log.
#[derive(Debug, Clone)]
pub struct LowStock {
    /// The message key.
    pub key: String,
    /// The decoded JSON value.
    pub payload: Value,
}

impl TestApp {
    /// Adds a stock record with the default threshold, asserting 201.
    pub async fn add(&self, product_id: &str, quantity: i64) -> Value {
        self.add_body(
            json!({"product_id": product_id, "product_name": format!("Product {product_id}"), "quantity": quantity}),
        )
        .await
    }

    /// Adds a stock record with `low_stock_threshold`, asserting 201.
    pub async fn add_with_threshold(&self, product_id: &str, quantity: i64, threshold: i64) -> Value {
        self.add_body(json!({
            "product_id": product_id,
            "product_name": format!("Product {product_id}"),
            "quantity": quantity,
            "low_stock_threshold": threshold,
        }))
        .await
    }

    async fn add_body(&self, body: Value) -> Value {
        self.post("/api/inventory", body).await.assert_json(StatusCode::CREATED)
    }

    /// The stock record of `product_id`, asserting 200.
    pub async fn item(&self, product_id: &str) -> Value {
        self.get(&format!("/api/inventory/{product_id}")).await.assert_json(StatusCode::OK)
    }

    /// `(quantity, reserved_qty, available_qty)` of `product_id`, checking that they add up.
    pub async fn levels(&self, product_id: &str) -> (i64, i64, i64) {
        let item = self.item(product_id).await;
        let levels = (int(&item, "quantity"), int(&item, "reserved_qty"), int(&item, "available_qty"));
        assert_eq!(levels.2, levels.0 - levels.1, "available = quantity - reserved: {item}");
        levels
    }

    /// `POST /api/inventory/reservations`.
    pub async fn reserve(&self, order_id: Uuid, items: &[(&str, i64)]) -> Reply {
        self.post("/api/inventory/reservations", reservation(order_id, items)).await
    }

    /// A reservation that must be created (201); returns it.
    pub async fn reserve_ok(&self, order_id: Uuid, items: &[(&str, i64)]) -> Value {
        self.reserve(order_id, items).await.assert_json(StatusCode::CREATED)
    }

    /// `GET /api/inventory/reservations/{order_id}`, asserting 200.
    pub async fn reservation(&self, order_id: Uuid) -> Value {
        self.get(&format!("/api/inventory/reservations/{order_id}")).await.assert_json(StatusCode::OK)
    }

    /// Appends `envelope` to the event log, as the order service's outbox relay would.
    pub async fn publish<T: Event>(&self, envelope: &Envelope<T>) {
        self.events.publish(&[kit::outbox::message(envelope)]).await.expect("publishing an event");
    }

    /// Polls the reservation of `order_id` until its status is `status`; fails after
    /// [`EVENTUALLY`]. Returns it.
    pub async fn wait_for_status(&self, order_id: Uuid, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        loop {
            // Not there yet (404) counts as "not yet".
            let found = self.get(&format!("/api/inventory/reservations/{order_id}")).await.body;
            if found["status"] == status {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "reservation {order_id} did not become {status} within {EVENTUALLY:?}; last seen {found}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Every `inventory-low` message published so far.
    pub async fn low_stock_events(&self) -> Vec<LowStock> {
        self.events
            .read_all(INVENTORY_LOW)
            .await
            .expect("reading the event log")
            .into_iter()
            .map(|m| LowStock {
                key: m.key,
                payload: serde_json::from_slice(&m.payload).expect("event payloads are JSON"),
            })
            .collect()
    }

    /// The `inventory-low` messages, once at least `count` have been published (the relay
    /// publishes asynchronously); fails after [`EVENTUALLY`].
    pub async fn wait_for_low_stock(&self, count: usize) -> Vec<LowStock> {
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        loop {
            let events = self.low_stock_events().await;
            if events.len() >= count {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} inventory-low events within {EVENTUALLY:?}, got {events:#?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
