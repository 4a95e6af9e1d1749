//! Stock records, reservations and the parsing of client input into them.

use contracts::api::{ReservationItem, ReservationRequest};
use kit::problem::FieldError;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A stock record in the original's shape, plus the low-stock threshold.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Item {
    /// Record id.
    pub id: Uuid,
    /// Catalog product id.
    pub product_id: String,
    /// Name for people reading stock lists.
    pub product_name: String,
    /// Units on hand (including reserved ones).
    pub quantity: i64,
    /// Units held for orders not yet shipped.
    pub reserved_qty: i64,
    /// `quantity - reserved_qty`: what can still be ordered.
    pub available_qty: i64,
    /// Falling below this emits `inventory-low` once.
    pub low_stock_threshold: i64,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Default `low_stock_threshold`.
pub const DEFAULT_LOW_STOCK_THRESHOLD: i64 = 10;
/// Largest quantity one operation may move, and largest stock level.
pub const MAX_QUANTITY: i64 = 1_000_000_000;
/// Most lines in one reservation (an order's limit).
pub const MAX_RESERVATION_ITEMS: usize = 100;

/// A new stock record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    /// Catalog product id.
    pub product_id: String,
    /// Display name.
    pub product_name: String,
    /// Units on hand.
    pub quantity: i64,
    /// Low-stock threshold.
    pub low_stock_threshold: i64,
}

/// Body of `POST /api/inventory`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateItem {
    /// Required.
    #[schema(required, example = "prod-001")]
    pub product_id: Option<String>,
    /// Required.
    #[schema(required, example = "Wireless Mouse")]
    pub product_name: Option<String>,
    /// Required, ≥ 0.
    #[schema(required, minimum = 0, maximum = 1_000_000_000)]
    #[serde(default, deserialize_with = "kit::input::whole_number")]
    pub quantity: Option<i64>,
    /// Optional, default 10.
    #[schema(minimum = 0)]
    #[serde(default, deserialize_with = "kit::input::whole_number")]
    pub low_stock_threshold: Option<i64>,
}

/// Body of `PUT /api/inventory/{product_id}`; absent fields stay.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct UpdateItem {
    /// New name.
    pub product_name: Option<String>,
    /// New on-hand quantity (not below what is reserved).
    #[serde(default, deserialize_with = "kit::input::whole_number")]
    pub quantity: Option<i64>,
    /// New threshold.
    #[serde(default, deserialize_with = "kit::input::whole_number")]
    pub low_stock_threshold: Option<i64>,
}

/// A validated [`UpdateItem`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ItemPatch {
    /// New name.
    pub product_name: Option<String>,
    /// New on-hand quantity.
    pub quantity: Option<i64>,
    /// New threshold.
    pub low_stock_threshold: Option<i64>,
}

/// Body of `reduce` and `restock`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct QuantityBody {
    /// Units, > 0.
    #[schema(required, minimum = 1, maximum = 1_000_000_000)]
    #[serde(default, deserialize_with = "kit::input::whole_number")]
    pub quantity: Option<i64>,
}

/// A change of on-hand stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    /// Take units out (never below what is reserved).
    Reduce(i64),
    /// Put units in.
    Restock(i64),
}

/// What happens to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Its order exists: stop the expiry clock.
    Confirm,
    /// Give the units back for a cancelled order (pending or confirmed).
    Release,
    /// Give the units back of a hold whose order was never written (it failed, or the order
    /// service voided its id after the hold expired): only a PENDING hold. A confirmed one
    /// belongs to a live order and is released only by cancelling that order.
    Abandon,
    /// The order shipped: the units leave the warehouse.
    Commit,
}

impl Transition {
    /// The status it leads to.
    pub fn target(self) -> &'static str {
        match self {
            Transition::Confirm => "CONFIRMED",
            Transition::Release | Transition::Abandon => "RELEASED",
            Transition::Commit => "COMMITTED",
        }
    }
}

/// `reservations` names the reservation routes, so no product may take it.
const RESERVED_PRODUCT_ID: &str = "reservations";

fn check_product_id(field: &str, id: &str, errors: &mut Vec<FieldError>) {
    if id.trim().is_empty() || id.len() > 64 {
        errors.push(FieldError::new(field, "must be 1 to 64 characters"));
    } else if id == RESERVED_PRODUCT_ID {
        errors.push(FieldError::new(field, "'reservations' is reserved for the reservation routes"));
    }
}

fn check_quantity(field: &str, q: i64, min: i64, errors: &mut Vec<FieldError>) {
    if !(min..=MAX_QUANTITY).contains(&q) {
        errors.push(FieldError::new(field, format!("must be between {min} and {MAX_QUANTITY}")));
    }
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    if let Some(problem) = kit::input::control_characters(name, false) {
        errors.push(FieldError::new("product_name", problem));
    } else if name.trim().is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("product_name", "must be 1 to 200 characters"));
    }
}

impl CreateItem {
    /// Validates, naming every field at fault.
    pub fn parse(self) -> Result<NewItem, Vec<FieldError>> {
        let mut errors = Vec::new();
        let product_id = self.product_id.unwrap_or_default();
        if product_id.is_empty() {
            errors.push(FieldError::new("product_id", "is required"));
        } else {
            check_product_id("product_id", &product_id, &mut errors);
        }
        let product_name = self.product_name.unwrap_or_default();
        check_name(&product_name, &mut errors);
        let quantity = match self.quantity {
            Some(q) => {
                check_quantity("quantity", q, 0, &mut errors);
                q
            }
            None => {
                errors.push(FieldError::new("quantity", "is required"));
                0
            }
        };
        let low_stock_threshold = self.low_stock_threshold.unwrap_or(DEFAULT_LOW_STOCK_THRESHOLD);
        check_quantity("low_stock_threshold", low_stock_threshold, 0, &mut errors);
        if errors.is_empty() {
            Ok(NewItem { product_id, product_name: product_name.trim().to_owned(), quantity, low_stock_threshold })
        } else {
            Err(errors)
        }
    }
}

impl UpdateItem {
    /// Validates, naming every field at fault.
    pub fn parse(self) -> Result<ItemPatch, Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(name) = &self.product_name {
            check_name(name, &mut errors);
        }
        if let Some(q) = self.quantity {
            check_quantity("quantity", q, 0, &mut errors);
        }
        if let Some(t) = self.low_stock_threshold {
            check_quantity("low_stock_threshold", t, 0, &mut errors);
        }
        if errors.is_empty() {
            Ok(ItemPatch {
                product_name: self.product_name.map(|n| n.trim().to_owned()),
                quantity: self.quantity,
                low_stock_threshold: self.low_stock_threshold,
            })
        } else {
            Err(errors)
        }
    }
}

impl QuantityBody {
    /// The positive quantity.
    pub fn parse(self) -> Result<i64, Vec<FieldError>> {
        let mut errors = Vec::new();
        match self.quantity {
            Some(q) => check_quantity("quantity", q, 1, &mut errors),
            None => errors.push(FieldError::new("quantity", "is required")),
        }
        if errors.is_empty() { Ok(self.quantity.unwrap_or_default()) } else { Err(errors) }
    }
}

/// Validates a reservation and merges repeated products, sorted by product id so concurrent
/// reservations lock rows in one order (no deadlocks).
pub fn parse_reservation(request: ReservationRequest) -> Result<ReservationRequest, Vec<FieldError>> {
    let mut errors = Vec::new();
    if request.items.is_empty() || request.items.len() > MAX_RESERVATION_ITEMS {
        errors.push(FieldError::new("items", format!("must hold 1 to {MAX_RESERVATION_ITEMS} items")));
    }
    let mut merged: Vec<ReservationItem> = Vec::with_capacity(request.items.len());
    for (i, item) in request.items.into_iter().enumerate() {
        check_product_id(&format!("items[{i}].product_id"), &item.product_id, &mut errors);
        check_quantity(&format!("items[{i}].quantity"), item.quantity, 1, &mut errors);
        match merged.iter_mut().find(|m| m.product_id == item.product_id) {
            Some(existing) => existing.quantity = existing.quantity.saturating_add(item.quantity),
            None => merged.push(item),
        }
    }
    merged.sort_by(|a, b| a.product_id.cmp(&b.product_id));
    if errors.is_empty() { Ok(ReservationRequest { order_id: request.order_id, items: merged }) } else { Err(errors) }
}

/// Whether `available` units are below the item's low-stock `threshold`. The alert fires
/// once when an item is low and not yet alerted (a flag stored with the item); a restock or
/// an update that brings it back to the threshold re-arms it, a released hold does not.
pub fn is_low(available: i64, threshold: i64) -> bool {
    available < threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_items_are_merged_and_sorted() {
        let order_id = Uuid::now_v7();
        let item = |p: &str, q| ReservationItem { product_id: p.into(), quantity: q };
        let parsed =
            parse_reservation(ReservationRequest { order_id, items: vec![item("b", 1), item("a", 2), item("b", 3)] });
        assert_eq!(parsed.map(|r| r.items), Ok(vec![item("a", 2), item("b", 4)]));
        let empty = parse_reservation(ReservationRequest { order_id, items: vec![] });
        assert!(empty.is_err());
        let zero = parse_reservation(ReservationRequest { order_id, items: vec![item("a", 0)] });
        assert_eq!(zero.err().map(|e| e[0].field.clone()), Some("items[0].quantity".into()));
    }

    #[test]
    fn low_means_below_the_threshold() {
        assert!(is_low(9, 10));
        assert!(!is_low(10, 10));
        assert!(is_low(0, 1));
        assert!(!is_low(0, 0));
    }
}
