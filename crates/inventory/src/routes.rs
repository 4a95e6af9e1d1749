//! `/api/inventory`: the original's stock endpoints (add, list, get, check, reduce, restock,
//! update, delete) and reservations (reserve all-or-nothing, read, release).

use crate::domain::{CreateItem, Item, QuantityBody, StockChange, Transition, UpdateItem, parse_reservation};
use crate::error::InventoryError;
use crate::store::{InventoryStore, StoreError};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Json as AxumJson, Router};
use contracts::api::{Reservation, ReservationRequest};
use kit::auth::{Caller, Role};
use kit::problem::{FieldError, Json, Path, Query};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// Stock and reservations.
    pub store: Arc<dyn InventoryStore>,
    /// How long a reservation waits for its order.
    pub reservation_ttl: Duration,
}

/// The inventory routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/inventory", get(list).post(add))
        .route("/api/inventory/reservations", post(reserve))
        .route("/api/inventory/reservations/{order_id}", get(reservation).delete(release))
        .route("/api/inventory/{product_id}", get(fetch).put(update).delete(remove))
        .route("/api/inventory/{product_id}/check", get(check))
        .route("/api/inventory/{product_id}/reduce", patch(reduce))
        .route("/api/inventory/{product_id}/restock", patch(restock))
        .with_state(state)
}

use kit::paging::{MAX_PAGE_SIZE, Page};

/// Stock levels and reservations are staff's business, and the other services' (the order
/// service holds stock, the product service shows availability).
const STAFF_OR_SERVICE: &[Role] = &[Role::Admin, Role::Service];
/// Changing stock is staff's.
const STAFF: &[Role] = &[Role::Admin];

#[derive(Debug, Deserialize)]
struct ListParams {
    page: Option<i64>,
    page_size: Option<i64>,
    /// `a,b,c`: only these products' records (at most a page of them).
    product_ids: Option<String>,
}

/// The original returned a bare array: keep it, and put the total in `X-Total-Count`.
async fn list(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<(HeaderMap, AxumJson<Vec<Item>>), InventoryError> {
    caller.require(STAFF_OR_SERVICE)?;
    let mut errors = Vec::new();
    let page = Page::parse(params.page, params.page_size, MAX_PAGE_SIZE, &mut errors);
    let ids: Option<Vec<String>> = params
        .product_ids
        .map(|ids| ids.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect());
    if ids.as_ref().is_some_and(|ids| ids.len() > MAX_PAGE_SIZE as usize) {
        errors.push(FieldError::new("product_ids", format!("at most {MAX_PAGE_SIZE} ids")));
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let (items, total) = match ids {
        Some(ids) => {
            let items = state.store.get_many(&ids).await?;
            let total = items.len() as i64;
            (items, total)
        }
        None => state.store.list(page.size, page.offset()).await?,
    };
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    Ok((headers, AxumJson(items)))
}

async fn add(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateItem>,
) -> Result<(StatusCode, AxumJson<Item>), InventoryError> {
    caller.require(STAFF)?;
    let item = body.parse()?;
    Ok((StatusCode::CREATED, AxumJson(state.store.add(&item).await?)))
}

async fn fetch(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(product_id): Path<String>,
) -> Result<AxumJson<Item>, InventoryError> {
    caller.require(STAFF_OR_SERVICE)?;
    state.store.get(&product_id).await?.map(AxumJson).ok_or(StoreError::NotFound(product_id).into())
}

#[derive(Debug, Deserialize)]
struct CheckParams {
    quantity: Option<i64>,
}

#[derive(Debug, Serialize)]
struct CheckResult {
    product_id: String,
    requested: i64,
    in_stock: bool,
}

async fn check(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(product_id): Path<String>,
    Query(params): Query<CheckParams>,
) -> Result<AxumJson<CheckResult>, InventoryError> {
    caller.require(STAFF_OR_SERVICE)?;
    let requested = QuantityBody { quantity: params.quantity }.parse()?;
    let item = state.store.get(&product_id).await?.ok_or_else(|| StoreError::NotFound(product_id.clone()))?;
    Ok(AxumJson(CheckResult { product_id, requested, in_stock: item.available_qty >= requested }))
}

async fn reduce(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(product_id): Path<String>,
    Json(body): Json<QuantityBody>,
) -> Result<AxumJson<Item>, InventoryError> {
    caller.require(STAFF)?;
    let quantity = body.parse()?;
    match state.store.change_stock(&product_id, StockChange::Reduce(quantity)).await {
        Ok(item) => Ok(AxumJson(item)),
        Err(StoreError::Insufficient { available, requested, .. }) => {
            Err(InventoryError::ReduceShortage { available, requested })
        }
        Err(err) => Err(err.into()),
    }
}

async fn restock(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(product_id): Path<String>,
    Json(body): Json<QuantityBody>,
) -> Result<AxumJson<Item>, InventoryError> {
    caller.require(STAFF)?;
    let quantity = body.parse()?;
    Ok(AxumJson(state.store.change_stock(&product_id, StockChange::Restock(quantity)).await?))
}

async fn update(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(product_id): Path<String>,
    Json(body): Json<UpdateItem>,
) -> Result<AxumJson<Item>, InventoryError> {
    caller.require(STAFF)?;
    let patch = body.parse()?;
    Ok(AxumJson(state.store.update(&product_id, &patch).await?))
}

async fn remove(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(product_id): Path<String>,
) -> Result<AxumJson<serde_json::Value>, InventoryError> {
    caller.require(STAFF)?;
    state.store.delete(&product_id).await?;
    Ok(AxumJson(serde_json::json!({
        "message": format!("Inventory for product {product_id} deleted successfully")
    })))
}

/// 201 when the stock is newly held, 200 when this order's reservation already existed.
async fn reserve(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Json(body): Json<ReservationRequest>,
) -> Result<(StatusCode, AxumJson<Reservation>), InventoryError> {
    caller.require(STAFF_OR_SERVICE)?;
    let request = parse_reservation(body)?;
    let ttl = time::Duration::try_from(state.reservation_ttl).unwrap_or(time::Duration::MINUTE);
    let expires_at = time::OffsetDateTime::now_utc() + ttl;
    let (reservation, created) = state.store.reserve(&request, expires_at).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, AxumJson(reservation)))
}

fn order_id(raw: &str) -> Result<Uuid, InventoryError> {
    Uuid::parse_str(raw).map_err(|_| vec![FieldError::new("order_id", "must be a UUID")].into())
}

async fn reservation(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<AxumJson<Reservation>, InventoryError> {
    caller.require(STAFF_OR_SERVICE)?;
    let order_id = order_id(&raw)?;
    state.store.reservation(order_id).await?.map(AxumJson).ok_or(InventoryError::ReservationNotFound(order_id))
}

/// Releases the hold of an order that could not be written. Releasing twice is harmless; a
/// hold that belongs to a live (confirmed) order is refused with 409 — it is released only by
/// cancelling that order, so its stock can never vanish from under it.
async fn release(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<AxumJson<Reservation>, InventoryError> {
    caller.require(STAFF_OR_SERVICE)?;
    let order_id = order_id(&raw)?;
    state.store.transition(order_id, Transition::Abandon).await?;
    let reservation = state.store.reservation(order_id).await?.ok_or(InventoryError::ReservationNotFound(order_id))?;
    if reservation.status == Transition::Confirm.target() {
        return Err(InventoryError::HeldForLiveOrder(order_id));
    }
    Ok(AxumJson(reservation))
}
