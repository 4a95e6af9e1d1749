//! Orders, their lines, the status state machine, and parsing of the placement request.

use contracts::events::OrderEventItem;
use contracts::{AmountText, Money};
use kit::problem::FieldError;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// An order in the original's JSON shape.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Order {
    /// UUIDv7.
    pub id: Uuid,
    /// `ORD-YYYYMMDD-XXXXXXXX`.
    pub order_number: String,
    /// Customer's name.
    pub customer_name: String,
    /// Customer's email.
    pub customer_email: String,
    /// Sum of the lines.
    pub total_amount: Money,
    /// Where it is in its life.
    pub status: Status,
    /// The lines, in request order.
    pub items: Vec<OrderItem>,
    /// Placement time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One line of an order; name and price come from the catalog.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct OrderItem {
    /// UUIDv7.
    pub id: Uuid,
    /// Catalog product id.
    pub product_id: String,
    /// Catalog name at placement.
    pub product_name: String,
    /// Units.
    pub quantity: i64,
    /// Catalog price at placement.
    pub unit_price: Money,
    /// `quantity × unit_price`.
    pub total_price: Money,
}

impl Order {
    /// The lines as events carry them.
    pub fn event_items(&self) -> Vec<OrderEventItem> {
        self.items
            .iter()
            .map(|i| OrderEventItem {
                product_id: i.product_id.clone(),
                product_name: i.product_name.clone(),
                quantity: i.quantity,
                price: i.unit_price,
            })
            .collect()
    }
}

/// Order status. CONFIRMED → SHIPPED → DELIVERED; CANCELLED only from PENDING or CONFIRMED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Created, not yet confirmed (unused by placement, kept for the original's clients).
    Pending,
    /// Placed and paid for; stock held.
    Confirmed,
    /// Left the warehouse.
    Shipped,
    /// Arrived.
    Delivered,
    /// Called off; stock released.
    Cancelled,
}

impl Status {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Confirmed => "CONFIRMED",
            Status::Shipped => "SHIPPED",
            Status::Delivered => "DELIVERED",
            Status::Cancelled => "CANCELLED",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Status> {
        [Status::Pending, Status::Confirmed, Status::Shipped, Status::Delivered, Status::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// The statuses an order may move to `self` from.
    pub fn sources(self) -> &'static [Status] {
        match self {
            Status::Pending => &[],
            Status::Confirmed => &[Status::Pending],
            Status::Shipped => &[Status::Confirmed],
            Status::Delivered => &[Status::Shipped],
            Status::Cancelled => &[Status::Pending, Status::Confirmed],
        }
    }

    /// Whether `self → to` is allowed.
    pub fn can_become(self, to: Status) -> bool {
        to.sources().contains(&self)
    }
}

/// Body of `POST /api/orders`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PlaceOrderBody {
    /// Required.
    #[schema(required, example = "Ada Lovelace")]
    pub customer_name: Option<String>,
    /// Required, a valid address.
    #[schema(required, example = "ada@example.com")]
    pub customer_email: Option<String>,
    /// 1 to 100 lines.
    #[schema(required, min_items = 1, max_items = 100)]
    pub items: Option<Vec<PlaceOrderLine>>,
}

/// One requested line. `product_name` and `unit_price` are the original's fields: the
/// catalog decides both; a `unit_price` that differs from the catalog is refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PlaceOrderLine {
    /// Catalog product id.
    #[schema(required, example = "prod-001")]
    pub product_id: Option<String>,
    /// Ignored (the catalog's name is used).
    pub product_name: Option<String>,
    /// 1 to 1000.
    #[schema(required, minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "kit::input::whole_number")]
    pub quantity: Option<i64>,
    /// Optional; must equal the catalog price when given.
    pub unit_price: Option<AmountText>,
}

/// A validated placement request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaceOrder {
    /// Trimmed name.
    pub customer_name: String,
    /// Trimmed address.
    pub customer_email: String,
    /// Lines in request order.
    pub lines: Vec<Line>,
}

/// A validated line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Catalog product id.
    pub product_id: String,
    /// Units.
    pub quantity: i64,
    /// The price the client expects, if it said.
    pub expected_price: Option<Money>,
}

/// Most lines in one order.
pub const MAX_LINES: usize = 100;
/// Most units of one line.
pub const MAX_QUANTITY: i64 = 1000;

/// A plausible address: one `@`, non-empty local part, a dotted domain, no spaces, ≤ 254.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Product ids follow the catalog's rule: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_product_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl PlaceOrderBody {
    /// Validates, naming every field at fault.
    pub fn parse(self) -> Result<PlaceOrder, Vec<FieldError>> {
        let mut errors = Vec::new();
        let raw_name = self.customer_name.unwrap_or_default();
        let customer_name = raw_name.trim().to_owned();
        if let Some(problem) = kit::input::control_characters(&raw_name, false) {
            errors.push(FieldError::new("customer_name", problem));
        } else if customer_name.is_empty() || customer_name.chars().count() > 200 {
            errors.push(FieldError::new("customer_name", "is required, 1 to 200 characters"));
        }
        let raw_email = self.customer_email.unwrap_or_default();
        let customer_email = raw_email.trim().to_owned();
        if let Some(problem) = kit::input::control_characters(&raw_email, false) {
            errors.push(FieldError::new("customer_email", problem));
        } else if !valid_email(&customer_email) {
            errors.push(FieldError::new("customer_email", "must be a valid email address"));
        }
        let items = self.items.unwrap_or_default();
        if items.is_empty() || items.len() > MAX_LINES {
            errors.push(FieldError::new("items", format!("must hold 1 to {MAX_LINES} items")));
        }
        let mut lines = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let product_id = item.product_id.unwrap_or_default();
            if !valid_product_id(&product_id) {
                errors.push(FieldError::new(
                    format!("items[{i}].product_id"),
                    "must be 1 to 64 letters, digits, '.', '_' or '-'",
                ));
            }
            if let Some(problem) = item.product_name.as_deref().and_then(|n| kit::input::control_characters(n, false)) {
                errors.push(FieldError::new(format!("items[{i}].product_name"), problem));
            } else if item.product_name.as_ref().is_some_and(|n| n.chars().count() > 200) {
                errors.push(FieldError::new(format!("items[{i}].product_name"), "must be at most 200 characters"));
            }
            let quantity = item.quantity.unwrap_or(0);
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                errors.push(FieldError::new(
                    format!("items[{i}].quantity"),
                    format!("must be between 1 and {MAX_QUANTITY}"),
                ));
            }
            let expected_price = match item.unit_price.map(|p| p.parse()) {
                None => None,
                Some(Ok(price)) if price.cents() > 0 => Some(price),
                Some(Ok(_)) => {
                    errors.push(FieldError::new(format!("items[{i}].unit_price"), "must be greater than 0"));
                    None
                }
                Some(Err(e)) => {
                    errors.push(FieldError::new(format!("items[{i}].unit_price"), e.to_string()));
                    None
                }
            };
            lines.push(Line { product_id, quantity, expected_price });
        }
        if errors.is_empty() { Ok(PlaceOrder { customer_name, customer_email, lines }) } else { Err(errors) }
    }
}

impl PlaceOrder {
    /// A stable digest of the request, compared when an `Idempotency-Key` is reused.
    pub fn fingerprint(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `ORD-<UTC YYYYMMDD>-<8 upper-case hex digits>`, the original's format.
pub fn order_number(at: OffsetDateTime) -> String {
    let random = Uuid::new_v4().simple().to_string();
    format!("ORD-{:04}{:02}{:02}-{}", at.year(), u8::from(at.month()), at.day(), random[..8].to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine_allows_only_the_documented_moves() {
        use Status::*;
        assert!(Confirmed.can_become(Shipped));
        assert!(Shipped.can_become(Delivered));
        assert!(Confirmed.can_become(Cancelled));
        assert!(Pending.can_become(Cancelled));
        assert!(!Shipped.can_become(Cancelled));
        assert!(!Delivered.can_become(Cancelled));
        assert!(!Cancelled.can_become(Confirmed));
        assert!(!Confirmed.can_become(Delivered));
        assert!(!Delivered.can_become(Shipped));
    }

    #[test]
    fn emails_are_checked() {
        assert!(valid_email("yash@example.com"));
        assert!(!valid_email("yash@example"));
        assert!(!valid_email("yash example@x.com"));
        assert!(!valid_email("@x.com"));
        assert!(!valid_email("a@b@c.com"));
    }

    #[test]
    fn order_numbers_have_the_original_shape() {
        let n = order_number(time::macros::datetime!(2026-02-21 10:00 UTC));
        assert!(n.starts_with("ORD-20260221-"));
        assert_eq!(n.len(), 21);
        assert!(n[13..].chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
    }

    #[test]
    fn every_bad_field_is_named() {
        let body: PlaceOrderBody = serde_json::from_value(serde_json::json!({
            "customer_name": "", "customer_email": "nope",
            "items": [{"product_id": "p 1", "quantity": 0, "unit_price": 1.234}]
        }))
        .unwrap_or(PlaceOrderBody { customer_name: None, customer_email: None, items: None });
        let fields: Vec<String> = body.parse().err().unwrap_or_default().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["customer_name", "customer_email", "items[0].product_id", "items[0].quantity", "items[0].unit_price"]
        );
    }
}
