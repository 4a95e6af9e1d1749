//! `/api/orders`: place, list, get, by customer email, status changes, cancel.

use crate::domain::{Order, PlaceOrderBody, Status};
use crate::error::OrderError;
use crate::placement::Placement;
use crate::store::StatusOutcome;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::{Json as AxumJson, Router};
use kit::auth::{AuthError, Caller, Principal, Role};
use kit::openapi::{Authenticated, JsonBody, PathSegment, ProblemDocument, QueryString, Storage};
use kit::problem::{FieldError, Json, Path, Query};
use serde::Deserialize;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// The placement workflow (and through it, the store).
    pub placement: Placement,
}

/// The order operations, each routed by being documented (and documented by being routed).
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, place))
        .routes(routes!(mine))
        .routes(routes!(by_email))
        .routes(routes!(fetch))
        .routes(routes!(set_status))
        .routes(routes!(cancel))
        .routes(routes!(void))
}

const TAG: &str = "orders";
/// Operations for the other services (the gateway routes them too).
const INTERNAL: &str = "internal";

/// The order service's document (`/openapi.json`, and what the gateway merges): pure.
pub fn openapi() -> OpenApi {
    let (_, doc) = api().split_for_parts();
    let mut doc = kit::openapi::document(
        "order-service",
        "Orders: place (stock held, prices from the catalog, idempotent with `Idempotency-Key`), list, read, \
         change status, cancel.",
        doc,
    );
    let id = [("id", serde_json::Value::from("$response.body#/id"))];
    for to in ["getOrder", "cancelOrder", "setOrderStatus"] {
        kit::openapi::link(&mut doc, "placeOrder", "201", to, &id, None);
    }
    doc
}

/// The order routes, `/openapi.json` and `/docs`.
pub fn router(state: AppState) -> Router {
    let (router, _) = api().split_for_parts();
    router.with_state(state).merge(kit::openapi::routes(&openapi()))
}

use kit::paging::Page;
const DEFAULT_PAGE_SIZE: i64 = 50;
const MAX_IDEMPOTENCY_KEY: usize = 255;

#[utoipa::path(
    post, path = "/api/orders", operation_id = "placeOrder", tag = TAG, summary = "Place an order (for the token's own email; staff for anyone)",
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeating a placement with the same key returns the first order.", max_length = 255)),
    request_body = PlaceOrderBody,
    security(("bearer" = [])),
    responses(
        (status = CREATED, description = "The order.", body = Order),
        (status = NOT_FOUND, description = "A product is not in the catalog.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = CONFLICT, description = "A price differs from the catalog, a product is out of stock, or the same key is in progress.", body = ProblemDocument, content_type = "application/problem+json"),
        JsonBody, Authenticated, Storage
    )
)]
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
    let (order, placed) = state.placement.place(request, key.as_deref()).await?;
    if placed == crate::placement::Placed::New {
        metrics::counter!("orders_placed_total", "service" => "order").increment(1);
    }
    Ok((StatusCode::CREATED, AxumJson(order)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// Page number, from 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// Orders per page (default 50).
    #[param(minimum = 1, maximum = 100)]
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

#[utoipa::path(
    get, path = "/api/orders", operation_id = "listOrders", tag = TAG, summary = "List all orders, newest first (admin)",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "A page of orders.", body = Vec<Order>, headers(("X-Total-Count" = i64, description = "How many orders there are."))),
        QueryString, Authenticated, Storage
    )
)]
async fn list(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Query(params): Query<PageParams>,
) -> Result<(HeaderMap, AxumJson<Vec<Order>>), OrderError> {
    caller.require(&[Role::Admin])?;
    listing(&state, None, &params).await
}

#[utoipa::path(
    get, path = "/api/orders/user/{email}", operation_id = "listOrdersByEmail", tag = TAG, summary = "List a customer's orders (the customer or staff)",
    params(("email" = String, Path, description = "The customer's email.", example = "ada@example.com"), PageParams),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "A page of orders.", body = Vec<Order>, headers(("X-Total-Count" = i64, description = "How many orders there are."))),
        PathSegment, QueryString, Authenticated, Storage
    )
)]
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
#[utoipa::path(
    get, path = "/api/orders/me", operation_id = "listMyOrders", tag = TAG, summary = "List the signed-in customer's orders",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "A page of orders.", body = Vec<Order>, headers(("X-Total-Count" = i64, description = "How many orders there are."))),
        QueryString, Authenticated, Storage
    )
)]
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

#[utoipa::path(
    get, path = "/api/orders/{id}", operation_id = "getOrder", tag = TAG, summary = "Read an order (its customer, staff or a service)",
    params(("id" = String, Path, description = "The order id (a UUID).", example = "0192f0c4-6b1e-7d3a-9a53-4f1f2b3c4d5e")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The order.", body = Order),
        (status = NOT_FOUND, description = "No such order (or not the caller's).", body = ProblemDocument, content_type = "application/problem+json"),
        PathSegment, Authenticated, Storage
    )
)]
async fn fetch(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<AxumJson<Order>, OrderError> {
    visible_order(&state, &caller, &raw).await.map(AxumJson)
}

/// Body of `PATCH /api/orders/{id}/status`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StatusBody {
    /// The new status.
    status: Status,
}

async fn change(state: &AppState, raw: String, to: Status) -> Result<AxumJson<Order>, OrderError> {
    let id = order_id(&raw)?;
    match state.placement.store.change_status(id, to).await? {
        StatusOutcome::Changed(order) => {
            let status = format!("{to:?}").to_uppercase();
            if to == Status::Cancelled {
                metrics::counter!("orders_cancelled_total", "service" => "order").increment(1);
            }
            metrics::counter!("order_status_changes_total", "service" => "order", "status" => status).increment(1);
            Ok(AxumJson(order))
        }
        StatusOutcome::Unchanged(order) => Ok(AxumJson(order)),
        StatusOutcome::Illegal(from) => Err(OrderError::illegal(from, to)),
        StatusOutcome::NotFound => Err(OrderError::NotFound(raw)),
    }
}

#[utoipa::path(
    patch, path = "/api/orders/{id}/status", operation_id = "setOrderStatus", tag = TAG, summary = "Change an order's status (admin)",
    params(("id" = String, Path, description = "The order id (a UUID).", example = "0192f0c4-6b1e-7d3a-9a53-4f1f2b3c4d5e")),
    request_body = StatusBody,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The order.", body = Order),
        (status = NOT_FOUND, description = "No such order.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = CONFLICT, description = "The order cannot move to this status.", body = ProblemDocument, content_type = "application/problem+json"),
        JsonBody, PathSegment, Authenticated, Storage
    )
)]
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
#[utoipa::path(
    patch, path = "/api/orders/{id}/cancel", operation_id = "cancelOrder", tag = TAG, summary = "Cancel an order (its customer or staff); cancelling twice is harmless",
    params(("id" = String, Path, description = "The order id (a UUID).", example = "0192f0c4-6b1e-7d3a-9a53-4f1f2b3c4d5e")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The cancelled order.", body = Order),
        (status = NOT_FOUND, description = "No such order (or not the caller's).", body = ProblemDocument, content_type = "application/problem+json"),
        (status = CONFLICT, description = "The order can no longer be cancelled.", body = ProblemDocument, content_type = "application/problem+json"),
        PathSegment, Authenticated, Storage
    )
)]
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
#[utoipa::path(
    post, path = "/api/orders/{id}/void", operation_id = "voidOrder", tag = INTERNAL, summary = "Void the id of an order whose stock hold expired (a service or staff)",
    params(("id" = String, Path, description = "The order id (a UUID).", example = "0192f0c4-6b1e-7d3a-9a53-4f1f2b3c4d5e")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "Whether the id is voided (false: an order with it exists).", body = Object, example = json!({"order_id": "0192f0c4-6b1e-7d3a-9a53-4f1f2b3c4d5e", "voided": true})),
        PathSegment, Authenticated, Storage
    )
)]
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
