//! Events on the bus. Every value is a JSON [`Envelope`]: `event_id` (UUIDv7), `event_type`,
//! `occurred_at`, `schema_version`, plus the original's payload fields at the top level so
//! the original's consumers keep reading them.

use crate::Money;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use time::OffsetDateTime;
use uuid::Uuid;

/// Topic names (Kafka in production, the embedded log in `shop up`).
pub mod topics {
    /// An order was written; key = order id.
    pub const ORDER_PLACED: &str = "order-placed";
    /// An order was cancelled; key = order id.
    pub const ORDER_CANCELLED: &str = "order-cancelled";
    /// Any other status change (shipped, delivered); key = order id.
    pub const ORDER_STATUS_CHANGED: &str = "order-status-changed";
    /// Available stock fell below an item's threshold; key = product id.
    pub const INVENTORY_LOW: &str = "inventory-low";
    /// A product was created, updated or deleted; key = product id.
    pub const PRODUCT_UPDATED: &str = "product-updated";
    /// A personalised email is ready for the notification service.
    pub const AI_NOTIFICATION_READY: &str = "ai-notification-ready";

    /// Every platform topic, created at start-up on brokers that do not create topics.
    pub const ALL: [&str; 6] =
        [ORDER_PLACED, ORDER_CANCELLED, ORDER_STATUS_CHANGED, INVENTORY_LOW, PRODUCT_UPDATED, AI_NOTIFICATION_READY];

    /// The dead-letter topic of a consumer group.
    pub fn dead_letter(group: &str) -> String {
        format!("{group}.dlq")
    }
}

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = 1;

/// A payload that travels on a topic.
pub trait Event: Serialize + DeserializeOwned {
    /// The topic it is published on.
    fn topic(&self) -> &'static str;
    /// The `event_type` written in the envelope.
    fn event_type(&self) -> &'static str;
    /// The message key: what ordering is guaranteed per.
    fn key(&self) -> String;
}

/// The versioned envelope around every payload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope<T> {
    /// Unique per event (UUIDv7); consumers de-duplicate on it.
    pub event_id: Uuid,
    /// `ORDER_PLACED`, `ORDER_CANCELLED`, …
    pub event_type: String,
    /// When the change happened (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Consumers refuse versions they do not know.
    pub schema_version: u32,
    /// The original's name for `occurred_at`, kept for its consumers.
    pub timestamp: String,
    /// The event's own fields, flattened into the envelope.
    #[serde(flatten)]
    pub payload: T,
}

impl<T: Event> Envelope<T> {
    /// Wraps `payload` with a fresh id and the current time.
    pub fn new(payload: T) -> Self {
        let now = OffsetDateTime::now_utc();
        Envelope {
            event_id: Uuid::now_v7(),
            event_type: payload.event_type().to_owned(),
            occurred_at: now,
            schema_version: SCHEMA_VERSION,
            timestamp: original_timestamp(now),
            payload,
        }
    }
}

/// The original's timestamp layout: `2026-02-21T10:00:00.123456+00:00`.
pub fn original_timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

/// The envelope fields every consumer reads before deciding what to do with a message.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvelopeHeader {
    /// See [`Envelope::event_id`].
    pub event_id: Uuid,
    /// See [`Envelope::event_type`].
    pub event_type: String,
    /// See [`Envelope::schema_version`].
    pub schema_version: u32,
}

/// One line of an order event, in the original's field names (`price` is the unit price).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderEventItem {
    /// Catalog product id.
    pub product_id: String,
    /// Catalog name at the time of the order.
    pub product_name: String,
    /// Units ordered.
    pub quantity: i64,
    /// Unit price.
    pub price: Money,
}

/// `order-placed` and `order-cancelled`: the original's OrderEvent plus the order's id and status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderEvent {
    /// Which of the two topics this is.
    #[serde(skip)]
    pub kind: OrderEventKind,
    /// The order's UUID (new: the original had only the number).
    pub order_id: Uuid,
    /// `ORD-YYYYMMDD-XXXXXXXX`.
    pub order_number: String,
    /// Customer's name.
    pub customer_name: String,
    /// Customer's email.
    pub customer_email: String,
    /// Sum of the lines.
    pub total_amount: Money,
    /// Status after the change.
    pub status: String,
    /// The lines.
    pub items: Vec<OrderEventItem>,
}

/// Which order event an [`OrderEvent`] is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OrderEventKind {
    /// `order-placed`.
    #[default]
    Placed,
    /// `order-cancelled`.
    Cancelled,
}

impl Event for OrderEvent {
    fn topic(&self) -> &'static str {
        match self.kind {
            OrderEventKind::Placed => topics::ORDER_PLACED,
            OrderEventKind::Cancelled => topics::ORDER_CANCELLED,
        }
    }
    fn event_type(&self) -> &'static str {
        match self.kind {
            OrderEventKind::Placed => "ORDER_PLACED",
            OrderEventKind::Cancelled => "ORDER_CANCELLED",
        }
    }
    fn key(&self) -> String {
        self.order_id.to_string()
    }
}

/// `order-status-changed`: every status change other than placement and cancellation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderStatusChanged {
    /// The order's UUID.
    pub order_id: Uuid,
    /// `ORD-YYYYMMDD-XXXXXXXX`.
    pub order_number: String,
    /// Customer's name.
    pub customer_name: String,
    /// Customer's email.
    pub customer_email: String,
    /// Status before.
    pub old_status: String,
    /// Status after (`SHIPPED`, `DELIVERED`).
    pub new_status: String,
    /// Sum of the lines.
    pub total_amount: Money,
    /// The lines.
    pub items: Vec<OrderEventItem>,
}

impl Event for OrderStatusChanged {
    fn topic(&self) -> &'static str {
        topics::ORDER_STATUS_CHANGED
    }
    fn event_type(&self) -> &'static str {
        "ORDER_STATUS_CHANGED"
    }
    fn key(&self) -> String {
        self.order_id.to_string()
    }
}

/// `inventory-low`: available stock crossed below the item's threshold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InventoryLow {
    /// Catalog product id.
    pub product_id: String,
    /// Name on the inventory record.
    pub product_name: String,
    /// Units available (on hand minus reserved) after the change.
    pub available_qty: i64,
    /// The item's threshold.
    pub low_stock_threshold: i64,
}

impl Event for InventoryLow {
    fn topic(&self) -> &'static str {
        topics::INVENTORY_LOW
    }
    fn event_type(&self) -> &'static str {
        "INVENTORY_LOW"
    }
    fn key(&self) -> String {
        self.product_id.clone()
    }
}

/// `product-updated`: the original's ProductEvent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProductEvent {
    /// `PRODUCT_CREATED`, `PRODUCT_UPDATED` or `PRODUCT_DELETED`.
    #[serde(skip)]
    pub change: ProductChange,
    /// The product's id.
    pub product_id: String,
    /// The full product, `null` on delete.
    pub product: Option<serde_json::Value>,
}

/// What happened to a product.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProductChange {
    /// Created.
    #[default]
    Created,
    /// Updated.
    Updated,
    /// Deleted.
    Deleted,
}

impl Event for ProductEvent {
    fn topic(&self) -> &'static str {
        topics::PRODUCT_UPDATED
    }
    fn event_type(&self) -> &'static str {
        match self.change {
            ProductChange::Created => "PRODUCT_CREATED",
            ProductChange::Updated => "PRODUCT_UPDATED",
            ProductChange::Deleted => "PRODUCT_DELETED",
        }
    }
    fn key(&self) -> String {
        self.product_id.clone()
    }
}

/// `ai-notification-ready`: a personalised follow-up email for an order, written by the AI
/// service. The original's fields plus the order's id (the message key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AiNotificationReady {
    /// The order's UUID.
    pub order_id: Uuid,
    /// `ORD-YYYYMMDD-XXXXXXXX`.
    pub order_number: String,
    /// Recipient.
    pub customer_email: String,
    /// Recipient's name.
    pub customer_name: String,
    /// Subject line (plain text).
    pub subject: String,
    /// Body, HTML already sanitised by the producer (the consumer sanitises again).
    pub body_html: String,
}

impl Event for AiNotificationReady {
    fn topic(&self) -> &'static str {
        topics::AI_NOTIFICATION_READY
    }
    fn event_type(&self) -> &'static str {
        "AI_NOTIFICATION_READY"
    }
    fn key(&self) -> String {
        self.order_id.to_string()
    }
}
