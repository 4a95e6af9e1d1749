//! The shopper's pages: catalog (search, category, paging), product, cart, checkout, my
//! orders (with cancel) and the assistant.

use crate::AppState;
use crate::api::Service;
use crate::render::WebError;
use crate::session::{Cart, Visitor};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// Products per catalog page.
const PAGE_SIZE: i64 = 12;
/// Orders per page.
const ORDERS_PAGE_SIZE: i64 = 20;
/// How long the category list is reused before the catalog is asked again.
const CATEGORIES_MAX_AGE: Duration = Duration::from_secs(30);

/// A redirect after a successful post (POST/redirect/GET).
pub(crate) fn see_other(target: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, HeaderValue::from_str(target).unwrap_or(HeaderValue::from_static("/")))])
        .into_response()
}

/// A page number from a query (1 when absent or nonsense).
pub(crate) fn page_number(raw: Option<&str>) -> i64 {
    raw.and_then(|p| p.parse::<i64>().ok()).filter(|p| (1..=100_000).contains(p)).unwrap_or(1)
}

/// The category list, cached briefly (the catalog has no category endpoint).
#[derive(Default)]
pub struct Categories {
    cached: RwLock<Option<(Vec<String>, Instant)>>,
}

impl Categories {
    async fn get(&self, state: &AppState) -> Vec<String> {
        if let Some((list, at)) = self.cached.read().await.as_ref()
            && at.elapsed() < CATEGORIES_MAX_AGE
        {
            return list.clone();
        }
        let mut found = std::collections::BTreeSet::new();
        for page in 1..=20 {
            let query = [("page", page.to_string()), ("page_size", "100".into()), ("include_stock", "false".into())];
            let Ok(url) = state.api.url(Service::Product, &["api", "products"], &query) else { break };
            let Ok(answer) = state.api.get(url, None).await else { break };
            let products = answer.body.get("products").and_then(Value::as_array).cloned().unwrap_or_default();
            found.extend(products.iter().filter_map(|p| p.get("category")?.as_str().map(str::to_owned)));
            let total = answer.body.get("total").and_then(Value::as_i64).unwrap_or(0);
            if products.is_empty() || page * 100 >= total {
                break;
            }
        }
        let list: Vec<String> = found.into_iter().collect();
        *self.cached.write().await = Some((list.clone(), Instant::now()));
        list
    }
}

/// Catalog filters.
#[derive(Deserialize, Default)]
pub struct CatalogParams {
    q: Option<String>,
    category: Option<String>,
    page: Option<String>,
}

/// `/?q=&category=&page=`: the catalog, or search results.
pub async fn catalog(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(params): Query<CatalogParams>,
) -> Result<Html<String>, WebError> {
    let q = params.q.unwrap_or_default().trim().chars().take(200).collect::<String>();
    let category = params.category.unwrap_or_default().trim().to_owned();
    let page = page_number(params.page.as_deref());
    let token = visitor.token.as_deref();
    let (products, total) = if q.is_empty() {
        let mut query = vec![("page", page.to_string()), ("page_size", PAGE_SIZE.to_string())];
        if !category.is_empty() {
            query.push(("category", category.clone()));
        }
        let answer = state.api.get(state.api.url(Service::Product, &["api", "products"], &query)?, token).await?;
        let total = answer.body.get("total").and_then(Value::as_i64);
        (answer.body.get("products").cloned().unwrap_or(Value::Array(vec![])), total)
    } else {
        let query = [("q", q.clone()), ("page", page.to_string()), ("page_size", PAGE_SIZE.to_string())];
        let answer =
            state.api.get(state.api.url(Service::Product, &["api", "products", "search"], &query)?, token).await?;
        (answer.body, None)
    };
    let shown = products.as_array().map_or(0, Vec::len) as i64;
    let has_next = match total {
        Some(total) => page * PAGE_SIZE < total,
        None => shown == PAGE_SIZE,
    };
    let link = |to: i64| {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        if !q.is_empty() {
            pairs.append_pair("q", &q);
        }
        if !category.is_empty() {
            pairs.append_pair("category", &category);
        }
        pairs.append_pair("page", &to.to_string());
        format!("/?{}", pairs.finish())
    };
    let categories = state.categories.get(&state).await;
    state.pages.render(
        "catalog.html",
        &visitor,
        json!({
            "q": q,
            "category": category,
            "categories": categories,
            "products": products,
            "page": page,
            "total": total,
            "prev_url": (page > 1).then(|| link(page - 1)),
            "next_url": has_next.then(|| link(page + 1)),
        }),
    )
}

/// `/products/{id}`: the product, its stock, recommendations and the assistant.
pub async fn product(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    let token = visitor.token.as_deref();
    let product = state.api.get(state.api.url(Service::Product, &["api", "products", &id], &[])?, token).await?.body;
    // Recommendations are a nicety: the page shows without them when the assistant is down.
    let recommendations =
        match state.api.url(Service::Ai, &["api", "ai", "recommendations"], &[("product_id", id.clone())]) {
            Ok(url) => match state.api.get(url, token).await {
                Ok(answer) => answer.body.get("recommendations").cloned().unwrap_or(Value::Array(vec![])),
                Err(err) => {
                    tracing::debug!(error = %err, "no recommendations for the product page");
                    Value::Array(vec![])
                }
            },
            Err(_) => Value::Array(vec![]),
        };
    let in_cart = visitor.cart.lines.iter().find(|l| l.product_id == id).map_or(0, |l| l.quantity);
    state.pages.render(
        "product.html",
        &visitor,
        json!({ "product": product, "recommendations": recommendations, "in_cart": in_cart }),
    )
}

/// A cart form: which product, how many.
#[derive(Deserialize)]
pub struct CartForm {
    product_id: String,
    quantity: Option<String>,
    /// Where to go next (`cart`, default, or `product`).
    back: Option<String>,
}

fn quantity(raw: Option<&str>, allow_zero: bool) -> Result<i64, WebError> {
    let text = raw.unwrap_or("1").trim();
    let quantity: i64 =
        text.parse().map_err(|_| WebError::BadForm(format!("The quantity {text:?} is not a whole number.")))?;
    let least = if allow_zero { 0 } else { 1 };
    if !(least..=crate::session::MAX_CART_QUANTITY).contains(&quantity) {
        return Err(WebError::BadForm(format!(
            "The quantity must be between {least} and {}.",
            crate::session::MAX_CART_QUANTITY
        )));
    }
    Ok(quantity)
}

fn with_cart(visitor: &Visitor, cart: &Cart, target: &str) -> Response {
    let mut response = see_other(target);
    response.headers_mut().append(SET_COOKIE, visitor.cart_cookie(cart));
    response
}

/// `POST /cart/add`.
pub async fn add_to_cart(visitor: Visitor, Form(form): Form<CartForm>) -> Result<Response, WebError> {
    if !crate::session::valid_product_id(&form.product_id) {
        return Err(WebError::BadForm("That is not a product of this shop.".into()));
    }
    let quantity = quantity(form.quantity.as_deref(), false)?;
    let mut cart = visitor.cart.clone();
    if cart.lines.len() >= crate::session::MAX_CART_LINES && !cart.lines.iter().any(|l| l.product_id == form.product_id)
    {
        return Err(WebError::BadForm(format!("A cart holds at most {} products.", crate::session::MAX_CART_LINES)));
    }
    cart.add(&form.product_id, quantity);
    let target = match form.back.as_deref() {
        Some("product") => format!("/products/{}?added=1", kit::problem::encode_query_value(&form.product_id)),
        _ => "/cart".to_owned(),
    };
    Ok(with_cart(&visitor, &cart, &target))
}

/// `POST /cart/update`: a new quantity (0 removes the line).
pub async fn update_cart(visitor: Visitor, Form(form): Form<CartForm>) -> Result<Response, WebError> {
    let quantity = quantity(form.quantity.as_deref(), true)?;
    let mut cart = visitor.cart.clone();
    cart.set(&form.product_id, quantity);
    Ok(with_cart(&visitor, &cart, "/cart"))
}

/// The cart's lines with the catalog's current names, prices and stock.
async fn priced_lines(state: &AppState, visitor: &Visitor) -> Result<(Vec<Value>, f64), WebError> {
    if visitor.cart.lines.is_empty() {
        return Ok((Vec::new(), 0.0));
    }
    let ids: Vec<&str> = visitor.cart.lines.iter().map(|l| l.product_id.as_str()).collect();
    let query = [("ids", ids.join(",")), ("page_size", "100".into())];
    let answer =
        state.api.get(state.api.url(Service::Product, &["api", "products"], &query)?, visitor.token.as_deref()).await?;
    let by_id: HashMap<String, Value> = answer
        .body
        .get("products")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|p| Some((p.get("id")?.as_str()?.to_owned(), p.clone()))).collect())
        .unwrap_or_default();
    let mut total_cents: i64 = 0;
    let lines = visitor
        .cart
        .lines
        .iter()
        .map(|line| match by_id.get(&line.product_id) {
            Some(product) => {
                let price = product.get("price").and_then(Value::as_f64).unwrap_or(0.0);
                let cents = (price * 100.0).round() as i64 * line.quantity;
                total_cents += cents;
                let stock = product.get("stock_quantity").and_then(Value::as_i64).unwrap_or(0);
                json!({
                    "product_id": line.product_id, "name": product.get("name"), "price": price,
                    "quantity": line.quantity, "line_total": cents as f64 / 100.0,
                    "stock": stock, "short": stock < line.quantity, "missing": false,
                })
            }
            None => json!({ "product_id": line.product_id, "quantity": line.quantity, "missing": true }),
        })
        .collect();
    Ok((lines, total_cents as f64 / 100.0))
}

/// `/cart`.
pub async fn cart(State(state): State<AppState>, visitor: Visitor) -> Result<Html<String>, WebError> {
    let (lines, total) = priced_lines(&state, &visitor).await?;
    state.pages.render("cart.html", &visitor, json!({ "lines": lines, "total": total }))
}

async fn checkout_page(
    state: &AppState,
    visitor: &Visitor,
    error: Option<String>,
    form: Option<&CheckoutForm>,
) -> Result<Html<String>, WebError> {
    let (lines, total) = priced_lines(state, visitor).await?;
    let name = form.and_then(|f| f.customer_name.clone()).or_else(|| visitor.display_name()).unwrap_or_default();
    let email = form.and_then(|f| f.customer_email.clone()).unwrap_or_default();
    state.pages.render(
        "checkout.html",
        visitor,
        json!({
            "lines": lines, "total": total, "error": error,
            "customer_name": name, "customer_email": email,
            "idempotency_key": form.and_then(|f| f.idempotency_key.clone()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        }),
    )
}

/// `/checkout`: signed-in visitors confirm their cart.
pub async fn checkout(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    visitor.require_sign_in("/checkout")?;
    if visitor.cart.lines.is_empty() {
        return Ok(see_other("/cart"));
    }
    Ok(checkout_page(&state, &visitor, None, None).await?.into_response())
}

/// The checkout form. The idempotency key was minted with the page, so a double submit or a
/// retry after a lost answer places one order.
#[derive(Deserialize)]
pub struct CheckoutForm {
    customer_name: Option<String>,
    customer_email: Option<String>,
    idempotency_key: Option<String>,
}

/// `POST /checkout`: places the order (the order service prices it from the catalog).
pub async fn place_order(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CheckoutForm>,
) -> Result<Response, WebError> {
    visitor.require_sign_in("/checkout")?;
    if visitor.cart.lines.is_empty() {
        return Ok(see_other("/cart"));
    }
    let email = match visitor.email() {
        Some(own) => own.to_owned(),
        None => form.customer_email.clone().unwrap_or_default().trim().to_owned(),
    };
    let name = form.customer_name.clone().unwrap_or_default().trim().to_owned();
    let items: Vec<Value> =
        visitor.cart.lines.iter().map(|l| json!({ "product_id": l.product_id, "quantity": l.quantity })).collect();
    let body = json!({ "customer_name": name, "customer_email": email, "items": items });
    let key = form.idempotency_key.clone().filter(|k| !k.is_empty() && k.len() <= 255);
    let placed = state
        .api
        .call(
            Method::POST,
            state.api.url(Service::Order, &["api", "orders"], &[])?,
            visitor.token.as_deref(),
            Some(&body),
            key.as_deref(),
        )
        .await;
    match placed {
        Ok(answer) => {
            let number = answer.body.get("order_number").and_then(Value::as_str).unwrap_or("").to_owned();
            let mut target = format!("/orders?placed={}", kit::problem::encode_query_value(&number));
            if visitor.email().is_none() {
                target.push_str(&format!("&email={}", kit::problem::encode_query_value(&email)));
            }
            Ok(with_cart(&visitor, &Cart::default(), &target))
        }
        // Out of stock, a changed price, a bad name: say so on the checkout page itself.
        Err(err @ WebError::Refused { .. }) => {
            let status = err.status();
            let page = checkout_page(&state, &visitor, Some(err.message()), Some(&form)).await?;
            Ok((status, page).into_response())
        }
        Err(other) => Err(other),
    }
}

/// `/orders?page=&placed=&email=`.
#[derive(Deserialize, Default)]
pub struct OrdersParams {
    page: Option<String>,
    placed: Option<String>,
    cancelled: Option<String>,
    /// With auth off, whose orders (there is no signed-in customer).
    email: Option<String>,
}

/// `/orders`: the visitor's orders, newest first.
pub async fn my_orders(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(params): Query<OrdersParams>,
) -> Result<Html<String>, WebError> {
    visitor.require_sign_in("/orders")?;
    let page = page_number(params.page.as_deref());
    let query = [("page", page.to_string()), ("page_size", ORDERS_PAGE_SIZE.to_string())];
    let email = params.email.clone().unwrap_or_default().trim().to_owned();
    let (orders, total) = if visitor.auth_enabled {
        let answer = state
            .api
            .get(state.api.url(Service::Order, &["api", "orders", "me"], &query)?, visitor.token.as_deref())
            .await?;
        (answer.body, answer.total)
    } else if email.is_empty() {
        (Value::Array(vec![]), None)
    } else {
        let answer =
            state.api.get(state.api.url(Service::Order, &["api", "orders", "user", &email], &query)?, None).await?;
        (answer.body, answer.total)
    };
    let email_query =
        if email.is_empty() { String::new() } else { format!("&email={}", kit::problem::encode_query_value(&email)) };
    state.pages.render(
        "orders.html",
        &visitor,
        json!({
            "orders": orders,
            "placed": params.placed,
            "cancelled": params.cancelled.is_some(),
            "email": email,
            "prev_url": (page > 1).then(|| format!("/orders?page={}{email_query}", page - 1)),
            "next_url": total.is_some_and(|t| page * ORDERS_PAGE_SIZE < t).then(|| format!("/orders?page={}{email_query}", page + 1)),
        }),
    )
}

/// `POST /orders/{id}/cancel`.
#[derive(Deserialize)]
pub struct CancelForm {
    email: Option<String>,
}

/// Cancels one of the visitor's orders (the order service checks it is theirs).
pub async fn cancel_order(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CancelForm>,
) -> Result<Response, WebError> {
    visitor.require_sign_in("/orders")?;
    state
        .api
        .send(Method::PATCH, Service::Order, &["api", "orders", &id, "cancel"], visitor.token.as_deref(), None)
        .await?;
    let mut target = "/orders?cancelled=1".to_owned();
    if let Some(email) = form.email.filter(|e| !e.is_empty()) {
        target.push_str(&format!("&email={}", kit::problem::encode_query_value(&email)));
    }
    Ok(see_other(&target))
}

/// `/assistant?q=`: the chat page (a question may be prefilled from a product page).
#[derive(Deserialize, Default)]
pub struct AssistantParams {
    q: Option<String>,
}

/// `GET /assistant`.
pub async fn assistant(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(params): Query<AssistantParams>,
) -> Result<Html<String>, WebError> {
    let question = params.q.unwrap_or_default().chars().take(500).collect::<String>();
    state.pages.render("assistant.html", &visitor, json!({ "question": question, "answer": null }))
}

/// The chat form (without JavaScript; with it, the page streams from `/api/ai/chat`).
#[derive(Deserialize)]
pub struct AskForm {
    message: Option<String>,
}

/// `POST /assistant`: asks and shows the whole answer.
pub async fn ask_assistant(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<AskForm>,
) -> Result<Response, WebError> {
    let message = form.message.unwrap_or_default().trim().to_owned();
    if message.is_empty() {
        return Err(WebError::BadForm("Type a question for the assistant.".into()));
    }
    let answer = state
        .api
        .send(
            Method::POST,
            Service::Ai,
            &["api", "ai", "chat"],
            visitor.token.as_deref(),
            Some(&json!({ "message": message })),
        )
        .await;
    match answer {
        Ok(answer) => Ok(state
            .pages
            .render(
                "assistant.html",
                &visitor,
                json!({ "question": message, "asked": message, "answer": answer.body }),
            )?
            .into_response()),
        Err(err @ WebError::Refused { .. }) => {
            let status = err.status();
            let page = state.pages.render(
                "assistant.html",
                &visitor,
                json!({ "question": message, "answer": null, "error": err.message() }),
            )?;
            Ok((status, page).into_response())
        }
        Err(other) => Err(other),
    }
}
