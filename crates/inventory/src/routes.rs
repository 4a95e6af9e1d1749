//! `/api/inventory`: the original's stock endpoints (add, list, get, check, reduce, restock,
//! update, delete) and reservations (reserve all-or-nothing, read, release).

use crate::domain::{CreateItem, Item, QuantityBody, StockChange, Transition, UpdateItem, parse_reservation};
use crate::error::InventoryError;
use crate::store::{InventoryStore, StoreError};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::{Json as AxumJson, Router};
use contracts::api::{Reservation, ReservationRequest};
use kit::auth::{Caller, Role};
use kit::openapi::{Authenticated, JsonBody, PathSegment, ProblemDocument, QueryString, Storage};
use kit::problem::{FieldError, Json, Path, Query};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// Stock and reservations.
    pub store: Arc<dyn InventoryStore>,
    /// How long a reservation waits for its order.
    pub reservation_ttl: Duration,
}

/// The inventory operations, each routed by being documented (and documented by being routed).
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(reserve))
        .routes(routes!(reservation, release))
        .routes(routes!(fetch, update, remove))
        .routes(routes!(check))
        .routes(routes!(reduce))
        .routes(routes!(restock))
}

const TAG: &str = "inventory";
/// Operations for the other services (the gateway routes them too).
const INTERNAL: &str = "internal";

/// The inventory service's document (`/openapi.json`, and what the gateway merges): pure.
pub fn openapi() -> OpenApi {
    let (_, doc) = api().split_for_parts();
    let mut doc = kit::openapi::document(
        "inventory-service",
        "Stock records (add, list, read, check, reduce, restock, change, delete) and the reservations the order \
         service holds stock with.",
        doc,
    );
    let product = [("product_id", serde_json::Value::from("$response.body#/product_id"))];
    for to in ["getStock", "checkStock", "restockStock", "reduceStock", "updateStock", "deleteStock"] {
        kit::openapi::link(&mut doc, "addStock", "201", to, &product, None);
    }
    let order = [("order_id", serde_json::Value::from("$response.body#/order_id"))];
    kit::openapi::link(&mut doc, "reserveStock", "201", "getReservation", &order, None);
    kit::openapi::link(&mut doc, "reserveStock", "201", "releaseReservation", &order, None);
    doc
}

/// The inventory routes, `/openapi.json` and `/docs`.
pub fn router(state: AppState) -> Router {
    let (router, _) = api().split_for_parts();
    router.with_state(state).merge(kit::openapi::routes(&openapi()))
}

use kit::paging::{MAX_PAGE_SIZE, Page};

/// Stock levels and reservations are staff's business, and the other services' (the order
/// service holds stock, the product service shows availability).
const STAFF_OR_SERVICE: &[Role] = &[Role::Admin, Role::Service];
/// Changing stock is staff's.
const STAFF: &[Role] = &[Role::Admin];

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Page number, from 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// Records per page (default 100).
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
    /// `a,b,c`: only these products' records (at most a page of them).
    product_ids: Option<String>,
}

/// The original returned a bare array: keep it, and put the total in `X-Total-Count`.
/// List stock records (staff or a service); the total is in `X-Total-Count`.
#[utoipa::path(
    get, path = "/api/inventory", operation_id = "listStock", tag = TAG,
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "A page of stock records.", body = Vec<Item>, headers(("X-Total-Count" = i64, description = "How many records there are."))),
        QueryString, Authenticated, Storage
    )
)]
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

/// Add a product's stock record (admin).
#[utoipa::path(
    post, path = "/api/inventory", operation_id = "addStock", tag = TAG,
    request_body = CreateItem,
    security(("bearer" = [])),
    responses(
        (status = CREATED, description = "The stock record.", body = Item),
        (status = CONFLICT, description = "The product has a stock record.", body = ProblemDocument, content_type = "application/problem+json"),
        JsonBody, Authenticated, Storage
    )
)]
async fn add(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateItem>,
) -> Result<(StatusCode, AxumJson<Item>), InventoryError> {
    caller.require(STAFF)?;
    let item = body.parse()?;
    Ok((StatusCode::CREATED, AxumJson(state.store.add(&item).await?)))
}

/// Read a product's stock record (staff or a service).
#[utoipa::path(
    get, path = "/api/inventory/{product_id}", operation_id = "getStock", tag = TAG,
    params(("product_id" = String, Path, description = "The catalog product id.", example = "prod-001")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The stock record.", body = Item),
        (status = NOT_FOUND, description = "No stock record for this product.", body = ProblemDocument, content_type = "application/problem+json"),
        PathSegment, Authenticated, Storage
    )
)]
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

/// Whether a quantity is available.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CheckResult {
    product_id: String,
    requested: i64,
    in_stock: bool,
}

/// Whether a quantity is available (staff or a service).
#[utoipa::path(
    get, path = "/api/inventory/{product_id}/check", operation_id = "checkStock", tag = TAG,
    params(("product_id" = String, Path, description = "The catalog product id.", example = "prod-001"), ("quantity" = i64, Query, description = "Units wanted, > 0.", minimum = 1, maximum = 1_000_000_000)),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "Whether they are in stock.", body = CheckResult),
        (status = NOT_FOUND, description = "No stock record for this product.", body = ProblemDocument, content_type = "application/problem+json"),
        PathSegment, QueryString, Authenticated, Storage
    )
)]
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

/// Take units off the stock (admin).
#[utoipa::path(
    patch, path = "/api/inventory/{product_id}/reduce", operation_id = "reduceStock", tag = TAG,
    params(("product_id" = String, Path, description = "The catalog product id.", example = "prod-001")),
    request_body = QuantityBody,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The stock record.", body = Item),
        (status = NOT_FOUND, description = "No stock record for this product.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = CONFLICT, description = "The change would break a limit.", body = ProblemDocument, content_type = "application/problem+json"),
        JsonBody, PathSegment, Authenticated, Storage
    )
)]
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

/// Add units to the stock (admin).
#[utoipa::path(
    patch, path = "/api/inventory/{product_id}/restock", operation_id = "restockStock", tag = TAG,
    params(("product_id" = String, Path, description = "The catalog product id.", example = "prod-001")),
    request_body = QuantityBody,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The stock record.", body = Item),
        (status = NOT_FOUND, description = "No stock record for this product.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = CONFLICT, description = "The stock would exceed its limit.", body = ProblemDocument, content_type = "application/problem+json"),
        JsonBody, PathSegment, Authenticated, Storage
    )
)]
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

/// Change a stock record's given fields (admin).
#[utoipa::path(
    put, path = "/api/inventory/{product_id}", operation_id = "updateStock", tag = TAG,
    params(("product_id" = String, Path, description = "The catalog product id.", example = "prod-001")),
    request_body = UpdateItem,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The stock record.", body = Item),
        (status = NOT_FOUND, description = "No stock record for this product.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = CONFLICT, description = "The quantity would fall below what is reserved.", body = ProblemDocument, content_type = "application/problem+json"),
        JsonBody, PathSegment, Authenticated, Storage
    )
)]
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

/// Delete a stock record (admin).
#[utoipa::path(
    delete, path = "/api/inventory/{product_id}", operation_id = "deleteStock", tag = TAG,
    params(("product_id" = String, Path, description = "The catalog product id.", example = "prod-001")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "Deleted.", body = Object, example = json!({"message": "Inventory for product prod-001 deleted successfully"})),
        (status = NOT_FOUND, description = "No stock record for this product.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = CONFLICT, description = "Stock of this product is reserved.", body = ProblemDocument, content_type = "application/problem+json"),
        PathSegment, Authenticated, Storage
    )
)]
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
/// Hold stock for an order, all lines or none (staff or a service); repeating it is harmless.
#[utoipa::path(
    post, path = "/api/inventory/reservations", operation_id = "reserveStock", tag = INTERNAL,
    request_body = ReservationRequest,
    security(("bearer" = [])),
    responses(
        (status = CREATED, description = "The stock is held.", body = Reservation),
        (status = OK, description = "This order's reservation already existed.", body = Reservation),
        (status = NOT_FOUND, description = "A product has no stock record.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = CONFLICT, description = "Not enough stock for a line.", body = ProblemDocument, content_type = "application/problem+json"),
        JsonBody, Authenticated, Storage
    )
)]
async fn reserve(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Json(body): Json<ReservationRequest>,
) -> Result<(StatusCode, AxumJson<Reservation>), InventoryError> {
    caller.require(STAFF_OR_SERVICE)?;
    let request = parse_reservation(body)?;
    let ttl = time::Duration::try_from(state.reservation_ttl).unwrap_or(time::Duration::MINUTE);
    let expires_at = time::OffsetDateTime::now_utc() + ttl;
    let (reservation, created) = match state.store.reserve(&request, expires_at).await {
        Ok(reserved) => reserved,
        Err(e) => {
            if matches!(e, StoreError::Insufficient { .. }) {
                metrics::counter!("reservation_conflicts_total", "service" => "inventory").increment(1);
            }
            return Err(e.into());
        }
    };
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, AxumJson(reservation)))
}

fn order_id(raw: &str) -> Result<Uuid, InventoryError> {
    Uuid::parse_str(raw).map_err(|_| vec![FieldError::new("order_id", "must be a UUID")].into())
}

/// Read an order's reservation (staff or a service).
#[utoipa::path(
    get, path = "/api/inventory/reservations/{order_id}", operation_id = "getReservation", tag = INTERNAL,
    params(("order_id" = String, Path, description = "The order id (a UUID).", example = "0192f0c4-6b1e-7d3a-9a53-4f1f2b3c4d5e")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The reservation.", body = Reservation),
        (status = NOT_FOUND, description = "No reservation for this order.", body = ProblemDocument, content_type = "application/problem+json"),
        QueryString, PathSegment, Authenticated, Storage
    )
)]
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
/// Release the stock held for an order that could not be written (staff or a service).
#[utoipa::path(
    delete, path = "/api/inventory/reservations/{order_id}", operation_id = "releaseReservation", tag = INTERNAL,
    params(("order_id" = String, Path, description = "The order id (a UUID).", example = "0192f0c4-6b1e-7d3a-9a53-4f1f2b3c4d5e")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The released reservation.", body = Reservation),
        (status = NOT_FOUND, description = "No reservation for this order.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = CONFLICT, description = "The stock belongs to a confirmed order.", body = ProblemDocument, content_type = "application/problem+json"),
        QueryString, PathSegment, Authenticated, Storage
    )
)]
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
