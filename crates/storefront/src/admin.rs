//! Staff pages (role `admin`): products (create, edit, delete), inventory (restock,
//! thresholds, the low-stock list), all orders with status changes, recent notifications
//! and dead-lettered events.

use crate::AppState;
use crate::api::Service;
use crate::render::WebError;
use crate::session::Visitor;
use crate::shopping::{page_number, see_other};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

const PAGE_SIZE: i64 = 25;
/// Stock records read to find the low ones (a page of 100 at a time).
const LOW_STOCK_SCAN_PAGES: i64 = 20;

/// `?page=&done=`.
#[derive(Deserialize, Default)]
pub struct ListParams {
    page: Option<String>,
    done: Option<String>,
}

fn pager(base: &str, page: i64, total: Option<i64>, size: i64) -> Value {
    json!({
        "prev_url": (page > 1).then(|| format!("{base}?page={}", page - 1)),
        "next_url": total.is_some_and(|t| page * size < t).then(|| format!("{base}?page={}", page + 1)),
        "page": page,
        "total": total,
    })
}

/// What a confirmation code in `?done=` says (codes, not text, so nothing is reflected).
fn done_message(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "The product was created.",
        "updated" => "The product was saved.",
        "deleted" => "The product was deleted.",
        "restocked" => "The stock was added.",
        "threshold" => "The low-stock threshold was saved.",
        "status" => "The order's status was changed.",
        _ => return None,
    })
}

/// Stock records whose available units are at or below their threshold, lowest first.
async fn low_stock(state: &AppState, token: Option<&str>) -> Result<Vec<Value>, WebError> {
    let mut low = Vec::new();
    for page in 1..=LOW_STOCK_SCAN_PAGES {
        let query = [("page", page.to_string()), ("page_size", "100".into())];
        let answer = state.api.get(state.api.url(Service::Inventory, &["api", "inventory"], &query)?, token).await?;
        let items = answer.body.as_array().cloned().unwrap_or_default();
        low.extend(items.iter().filter(|item| is_low(item)).cloned());
        if items.len() < 100 || answer.total.is_some_and(|t| page * 100 >= t) {
            break;
        }
    }
    low.sort_by_key(|item| item.get("available_qty").and_then(Value::as_i64).unwrap_or(0));
    Ok(low)
}

fn is_low(item: &Value) -> bool {
    let available = item.get("available_qty").and_then(Value::as_i64).unwrap_or(0);
    let threshold = item.get("low_stock_threshold").and_then(Value::as_i64).unwrap_or(0);
    available <= threshold
}

/// `/admin`: what needs attention.
pub async fn overview(State(state): State<AppState>, visitor: Visitor) -> Result<Html<String>, WebError> {
    visitor.require_admin("/admin")?;
    let token = visitor.token.as_deref();
    let low = low_stock(&state, token).await?;
    let orders =
        state.api.get(state.api.url(Service::Order, &["api", "orders"], &[("page_size", "5".into())])?, token).await?;
    state.pages.render(
        "admin/overview.html",
        &visitor,
        json!({ "low_stock": low, "recent_orders": orders.body, "order_total": orders.total }),
    )
}

/// `/admin/products`.
pub async fn products(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, WebError> {
    visitor.require_admin("/admin/products")?;
    let page = page_number(params.page.as_deref());
    let query = [("page", page.to_string()), ("page_size", PAGE_SIZE.to_string())];
    let answer =
        state.api.get(state.api.url(Service::Product, &["api", "products"], &query)?, visitor.token.as_deref()).await?;
    let total = answer.body.get("total").and_then(Value::as_i64);
    state.pages.render(
        "admin/products.html",
        &visitor,
        json!({
            "products": answer.body.get("products"),
            "pager": pager("/admin/products", page, total, PAGE_SIZE),
            "done": done_message(params.done.as_deref()),
        }),
    )
}

/// The product editor's fields.
#[derive(Deserialize, Default, serde::Serialize)]
pub struct ProductForm {
    id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    price: Option<String>,
    category: Option<String>,
    tags: Option<String>,
    image_url: Option<String>,
    stock_quantity: Option<String>,
}

impl ProductForm {
    /// The API body: only what the form filled in; the product service validates it all.
    fn body(&self, creating: bool) -> Result<Value, WebError> {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let mut body = serde_json::Map::new();
        if creating && let Some(id) = text(&self.id) {
            body.insert("id".into(), json!(id));
        }
        for (name, value) in [("name", &self.name), ("description", &self.description), ("category", &self.category)] {
            body.insert(name.into(), json!(text(value).unwrap_or_default()));
        }
        if let Some(price) = text(&self.price) {
            // A decimal as the API's number (the service checks it has at most two decimals).
            let number = serde_json::from_str::<serde_json::Number>(&price)
                .map_err(|_| WebError::BadForm(format!("The price {price:?} is not a number like 19.99.")))?;
            body.insert("price".into(), Value::Number(number));
        }
        let tags: Vec<String> = text(&self.tags)
            .map(|t| t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        body.insert("tags".into(), json!(tags));
        body.insert("image_url".into(), text(&self.image_url).map_or(Value::Null, Value::String));
        if creating && let Some(stock) = text(&self.stock_quantity) {
            let units: i64 =
                stock.parse().map_err(|_| WebError::BadForm(format!("The stock {stock:?} is not a whole number.")))?;
            body.insert("stock_quantity".into(), json!(units));
        }
        Ok(Value::Object(body))
    }
}

async fn product_form(
    state: &AppState,
    visitor: &Visitor,
    product: Value,
    creating: bool,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    state.pages.render(
        "admin/product_form.html",
        visitor,
        json!({ "product": product, "creating": creating, "error": error }),
    )
}

/// `/admin/products/new`.
pub async fn new_product(State(state): State<AppState>, visitor: Visitor) -> Result<Html<String>, WebError> {
    visitor.require_admin("/admin/products/new")?;
    product_form(&state, &visitor, json!({}), true, None).await
}

/// `POST /admin/products`: creates a product.
pub async fn create_product(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<ProductForm>,
) -> Result<Response, WebError> {
    visitor.require_admin("/admin/products/new")?;
    let body = form.body(true)?;
    let created = state
        .api
        .send(Method::POST, Service::Product, &["api", "products"], visitor.token.as_deref(), Some(&body))
        .await;
    match created {
        Ok(_) => Ok(see_other("/admin/products?done=created")),
        Err(err @ WebError::Refused { .. }) => {
            let status = err.status();
            let page = product_form(&state, &visitor, json!(form), true, Some(err.message())).await?;
            Ok((status, page).into_response())
        }
        Err(other) => Err(other),
    }
}

/// `/admin/products/{id}`: the editor.
pub async fn edit_product(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    visitor.require_admin("/admin/products")?;
    let mut product = state
        .api
        .get(state.api.url(Service::Product, &["api", "products", &id], &[])?, visitor.token.as_deref())
        .await?
        .body;
    // The form shows tags as one comma-separated field.
    if let Some(tags) = product.get("tags").and_then(Value::as_array) {
        let joined = tags.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ");
        product["tags"] = json!(joined);
    }
    if let Some(price) = product.get("price").and_then(Value::as_f64) {
        product["price"] = json!(format!("{price:.2}"));
    }
    product_form(&state, &visitor, product, false, None).await
}

/// `POST /admin/products/{id}`: saves the editor.
pub async fn update_product(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<ProductForm>,
) -> Result<Response, WebError> {
    visitor.require_admin("/admin/products")?;
    let body = form.body(false)?;
    let saved = state
        .api
        .send(Method::PATCH, Service::Product, &["api", "products", &id], visitor.token.as_deref(), Some(&body))
        .await;
    match saved {
        Ok(_) => Ok(see_other("/admin/products?done=updated")),
        Err(err @ WebError::Refused { .. }) => {
            let status = err.status();
            let mut shown = json!(form);
            shown["id"] = json!(id);
            let page = product_form(&state, &visitor, shown, false, Some(err.message())).await?;
            Ok((status, page).into_response())
        }
        Err(other) => Err(other),
    }
}

/// `POST /admin/products/{id}/delete`.
pub async fn delete_product(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    visitor.require_admin("/admin/products")?;
    state.api.send(Method::DELETE, Service::Product, &["api", "products", &id], visitor.token.as_deref(), None).await?;
    Ok(see_other("/admin/products?done=deleted"))
}

/// `/admin/inventory`: every record (paged) and the low-stock list.
pub async fn inventory(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, WebError> {
    visitor.require_admin("/admin/inventory")?;
    let token = visitor.token.as_deref();
    let page = page_number(params.page.as_deref());
    let query = [("page", page.to_string()), ("page_size", PAGE_SIZE.to_string())];
    let answer = state.api.get(state.api.url(Service::Inventory, &["api", "inventory"], &query)?, token).await?;
    let items: Vec<Value> = answer
        .body
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut item| {
            item["low"] = json!(is_low(&item));
            item
        })
        .collect();
    let low = low_stock(&state, token).await?;
    state.pages.render(
        "admin/inventory.html",
        &visitor,
        json!({
            "items": items,
            "low_stock": low,
            "pager": pager("/admin/inventory", page, answer.total, PAGE_SIZE),
            "done": done_message(params.done.as_deref()),
        }),
    )
}

/// A quantity field.
#[derive(Deserialize)]
pub struct QuantityForm {
    quantity: Option<String>,
}

fn whole(raw: Option<&str>, what: &str) -> Result<i64, WebError> {
    let text = raw.unwrap_or("").trim();
    text.parse().map_err(|_| WebError::BadForm(format!("The {what} {text:?} is not a whole number.")))
}

/// `POST /admin/inventory/{id}/restock`.
pub async fn restock(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<QuantityForm>,
) -> Result<Response, WebError> {
    visitor.require_admin("/admin/inventory")?;
    let quantity = whole(form.quantity.as_deref(), "quantity")?;
    state
        .api
        .send(
            Method::PATCH,
            Service::Inventory,
            &["api", "inventory", &id, "restock"],
            visitor.token.as_deref(),
            Some(&json!({ "quantity": quantity })),
        )
        .await?;
    Ok(see_other("/admin/inventory?done=restocked"))
}

/// `POST /admin/inventory/{id}/threshold`.
pub async fn set_threshold(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<QuantityForm>,
) -> Result<Response, WebError> {
    visitor.require_admin("/admin/inventory")?;
    let threshold = whole(form.quantity.as_deref(), "threshold")?;
    state
        .api
        .send(
            Method::PUT,
            Service::Inventory,
            &["api", "inventory", &id],
            visitor.token.as_deref(),
            Some(&json!({ "low_stock_threshold": threshold })),
        )
        .await?;
    Ok(see_other("/admin/inventory?done=threshold"))
}

/// Where an order may go next from `status` (the order service enforces the same).
fn next_statuses(status: &str) -> &'static [&'static str] {
    match status {
        "PENDING" => &["CANCELLED"],
        "CONFIRMED" => &["SHIPPED", "CANCELLED"],
        "SHIPPED" => &["DELIVERED"],
        _ => &[],
    }
}

/// `/admin/orders`.
pub async fn orders(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, WebError> {
    visitor.require_admin("/admin/orders")?;
    let page = page_number(params.page.as_deref());
    let query = [("page", page.to_string()), ("page_size", PAGE_SIZE.to_string())];
    let answer =
        state.api.get(state.api.url(Service::Order, &["api", "orders"], &query)?, visitor.token.as_deref()).await?;
    let orders: Vec<Value> = answer
        .body
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut order| {
            let status = order.get("status").and_then(Value::as_str).unwrap_or("").to_owned();
            order["next_statuses"] = json!(next_statuses(&status));
            order
        })
        .collect();
    state.pages.render(
        "admin/orders.html",
        &visitor,
        json!({
            "orders": orders,
            "pager": pager("/admin/orders", page, answer.total, PAGE_SIZE),
            "done": done_message(params.done.as_deref()),
        }),
    )
}

/// The status form.
#[derive(Deserialize)]
pub struct StatusForm {
    status: Option<String>,
}

/// `POST /admin/orders/{id}/status`.
pub async fn set_order_status(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, WebError> {
    visitor.require_admin("/admin/orders")?;
    let status = form.status.unwrap_or_default();
    state
        .api
        .send(
            Method::PATCH,
            Service::Order,
            &["api", "orders", &id, "status"],
            visitor.token.as_deref(),
            Some(&json!({ "status": status })),
        )
        .await?;
    Ok(see_other("/admin/orders?done=status"))
}

/// `events_dead_lettered_total` per consumer group, from each consuming service's metrics.
async fn dead_letters(state: &AppState) -> Vec<Value> {
    let mut counts = Vec::new();
    for (name, service) in [
        ("inventory", Service::Inventory),
        ("orders", Service::Order),
        ("notifications", Service::Notification),
        ("assistant", Service::Ai),
        ("catalog", Service::Product),
    ] {
        let Some(text) = state.api.metrics(service).await else {
            counts.push(json!({ "service": name, "count": null }));
            continue;
        };
        let count: f64 = text
            .lines()
            .filter(|line| line.starts_with("events_dead_lettered_total"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        counts.push(json!({ "service": name, "count": count as i64 }));
    }
    counts
}

/// `/admin/notifications`: recent emails (newest first) and dead-lettered events.
pub async fn notifications(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, WebError> {
    visitor.require_admin("/admin/notifications")?;
    let page = page_number(params.page.as_deref());
    let query = [("page", page.to_string()), ("page_size", PAGE_SIZE.to_string())];
    let answer = state
        .api
        .get(state.api.url(Service::Notification, &["api", "notifications"], &query)?, visitor.token.as_deref())
        .await?;
    let total = answer.body.get("total").and_then(Value::as_i64).or(answer.total);
    state.pages.render(
        "admin/notifications.html",
        &visitor,
        json!({
            "notifications": answer.body.get("notifications"),
            "pager": pager("/admin/notifications", page, total, PAGE_SIZE),
            "dead_letters": dead_letters(&state).await,
        }),
    )
}
