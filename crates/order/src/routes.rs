//! `/api/orders`: place, list, get, by customer email, status changes, cancel.

use crate::domain::{Order, PlaceOrderBody, Status};
use crate::error::OrderError;
use crate::placement::Placement;
use crate::store::StatusOutcome;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Json as AxumJson, Router};
use kit::auth::{AuthError, Caller, Principal, Role};
use kit::problem::{FieldError, Json, Path, Query};
use serde::Deserialize;
use uuid::Uuid;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// The placement workflow (and through it, the store).
    pub placement: Placement,
}

/// The order routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/orders", get(list).post(place))
        .route("/api/orders/me", get(mine))
        .route("/api/orders/user/{email}", get(by_email))
        .route("/api/orders/{id}", get(fetch))
        .route("/api/orders/{id}/status", patch(set_status))
        .route("/api/orders/{id}/cancel", patch(cancel))
        .route("/api/orders/{id}/void", post(void))
        .with_state(state)
}

use kit::paging::Page;
const DEFAULT_PAGE_SIZE: i64 = 50;
const MAX_IDEMPOTENCY_KEY: usize = 255;

async fn place(
    Caller(caller): Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<PlaceOrderBody>,
) -> Result<(StatusCode, AxumJson<Order>), OrderError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => match value.to_str() {
            Ok(key) if !key.trim().is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY => Some(key.trim().to_owned()),
            _ => {
                return Err(OrderError::Invalid(vec![FieldError::new(
                    "Idempotency-Key",
                    format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
                )]));
            }
        },
    };
    let request = body.parse().map_err(OrderError::Invalid)?;
    // A shopper orders for the address their token names; staff for anyone.
    if !caller.may_act_for(&request.customer_email) {
        return Err(AuthError::Forbidden("You can place orders only for your own email address".into()).into());
    }
    let (order, _) = state.placement.place(request, key.as_deref()).await?;
    Ok((StatusCode::CREATED, AxumJson(order)))
}

#[derive(Debug, Deserialize)]
struct PageParams {
    page: Option<i64>,
    page_size: Option<i64>,
}

impl PageParams {
    fn limit_offset(&self) -> Result<(i64, i64), OrderError> {
        let mut errors = Vec::new();
        let page = Page::parse(self.page, self.page_size, DEFAULT_PAGE_SIZE, &mut errors);
        if errors.is_empty() { Ok((page.size, page.offset())) } else { Err(OrderError::Invalid(errors)) }
    }
}

/// The original's bare array, newest first; the total goes in `X-Total-Count`.
async fn listing(
    state: &AppState,
    email: Option<&str>,
    params: &PageParams,
) -> Result<(HeaderMap, AxumJson<Vec<Order>>), OrderError> {
    let (limit, offset) = params.limit_offset()?;
    let (orders, total) = state.placement.store.list(email, limit, offset).await?;
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    Ok((headers, AxumJson(orders)))
}

async fn list(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Query(params): Query<PageParams>,
) -> Result<(HeaderMap, AxumJson<Vec<Order>>), OrderError> {
    caller.require(&[Role::Admin])?;
    listing(&state, None, &params).await
}

async fn by_email(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(email): Path<String>,
    Query(params): Query<PageParams>,
) -> Result<(HeaderMap, AxumJson<Vec<Order>>), OrderError> {
    if !caller.may_act_for(&email) {
        return Err(AuthError::Forbidden("You can list only your own orders".into()).into());
    }
    listing(&state, Some(email.trim()), &params).await
}

/// The signed-in customer's orders (the address in their token).
async fn mine(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Query(params): Query<PageParams>,
) -> Result<(HeaderMap, AxumJson<Vec<Order>>), OrderError> {
    let Some(email) = caller.email else {
        return Err(AuthError::Forbidden("The token names no email address".into()).into());
    };
    listing(&state, Some(&email), &params).await
}

/// The order if the caller may see it: its customer, staff, or another service. Anyone else
/// is told it does not exist, as if it did not.
async fn visible_order(state: &AppState, caller: &Principal, raw: &str) -> Result<Order, OrderError> {
    let id = order_id(raw)?;
    match state.placement.store.get(id).await? {
        Some(order) if caller.may_act_for(&order.customer_email) || caller.has(Role::Service) => Ok(order),
        _ => Err(OrderError::NotFound(raw.to_owned())),
    }
}

fn order_id(raw: &str) -> Result<Uuid, OrderError> {
    Uuid::parse_str(raw).map_err(|_| OrderError::InvalidId)
}

async fn fetch(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<AxumJson<Order>, OrderError> {
    visible_order(&state, &caller, &raw).await.map(AxumJson)
}

#[derive(Debug, Deserialize)]
struct StatusBody {
    status: Status,
}

async fn change(state: &AppState, raw: String, to: Status) -> Result<AxumJson<Order>, OrderError> {
    let id = order_id(&raw)?;
    match state.placement.store.change_status(id, to).await? {
        StatusOutcome::Changed(order) | StatusOutcome::Unchanged(order) => Ok(AxumJson(order)),
        StatusOutcome::Illegal(from) => Err(OrderError::illegal(from, to)),
        StatusOutcome::NotFound => Err(OrderError::NotFound(raw)),
    }
}

async fn set_status(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Json(body): Json<StatusBody>,
) -> Result<AxumJson<Order>, OrderError> {
    caller.require(&[Role::Admin])?;
    change(&state, raw, body.status).await
}

/// Cancelling twice returns the cancelled order and queues no second event. Customers
/// cancel their own orders; staff any.
async fn cancel(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<AxumJson<Order>, OrderError> {
    let order = visible_order(&state, &caller, &raw).await?;
    if !caller.may_act_for(&order.customer_email) {
        // Services may read orders, not cancel them.
        return Err(OrderError::NotFound(raw));
    }
    change(&state, raw, Status::Cancelled).await
}

/// Internal: the inventory's expiry sweeper asks to void the id of an order whose stock hold
/// expired. Voided (now or before) → `{"voided": true}`, and no order with this id can ever
/// be written; an order with the id exists → `{"voided": false}` (the hold must stay).
async fn void(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<AxumJson<serde_json::Value>, OrderError> {
    caller.require(&[Role::Service, Role::Admin])?;
    let id = order_id(&raw)?;
    let voided = state.placement.store.void(id).await? == crate::store::Voided::Voided;
    Ok(AxumJson(serde_json::json!({"order_id": id, "voided": voided})))
}
