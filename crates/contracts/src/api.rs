//! Shapes one service reads from another over HTTP.

use crate::Money;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the order service needs of a catalog product: the authoritative name and price.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogEntry {
    /// Product id.
    pub id: String,
    /// Catalog name.
    pub name: String,
    /// Catalog price.
    pub price: Money,
}

/// A page of the product list, as far as other services read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogPage {
    /// The products on this page.
    pub products: Vec<CatalogEntry>,
    /// Products matching the filters, over all pages.
    pub total: i64,
}

/// `POST /api/inventory/reservations`: all items or none, idempotent on `order_id`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ReservationRequest {
    /// The order the stock is held for.
    pub order_id: Uuid,
    /// What to hold.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<ReservationItem>,
}

/// One product and quantity to hold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ReservationItem {
    /// Catalog product id.
    #[schema(min_length = 1, max_length = 64, example = "prod-001")]
    pub product_id: String,
    /// Units to hold.
    #[schema(minimum = 1, maximum = 1_000_000_000, example = 1)]
    pub quantity: i64,
}

/// A reservation as inventory reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Reservation {
    /// The order it holds stock for.
    pub order_id: Uuid,
    /// `PENDING` (held, order not yet seen), `CONFIRMED`, `RELEASED` or `COMMITTED`.
    #[schema(pattern = "^(PENDING|CONFIRMED|RELEASED|COMMITTED)$", example = "PENDING")]
    pub status: String,
    /// What is held.
    pub items: Vec<ReservationItem>,
    /// When a `PENDING` reservation is released unless its order shows up.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
}
