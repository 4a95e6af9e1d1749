//! `/api/products`: create, list (paged, filtered, batch by ids), ranked search, get,
//! partial update, delete.

use crate::domain::{CreateProduct, Product, UpdateProduct, valid_id};
use crate::error::ProductError;
use crate::store::{ListFilter, Page, ProductStore, StoreError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json as AxumJson, Router};
use contracts::Money;
use kit::auth::{Caller, MaybeCaller, Role};
use kit::http::ServiceClient;
use kit::problem::{FieldError, Json, Path, Query};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// Where products live.
    pub store: Arc<dyn ProductStore>,
    /// The inventory service: a product's `stock_quantity` shows its available units.
    pub stock: Option<ServiceClient>,
}

/// One stock record, as the inventory lists it.
#[derive(Deserialize)]
struct StockLevel {
    product_id: String,
    available_qty: i64,
}

impl AppState {
    /// Sets each product's `stock_quantity` to what the inventory can sell now (0 without a
    /// stock record). If the inventory cannot answer, the stored figure stays: reading the
    /// catalog must not fail because stock levels are unavailable.
    async fn with_stock(&self, mut products: Vec<Product>) -> Vec<Product> {
        let Some(stock) = &self.stock else { return products };
        if products.is_empty() {
            return products;
        }
        let ids: Vec<String> = products.iter().map(|p| kit::problem::encode_query_value(&p.id)).collect();
        let path = format!("/api/inventory?page_size={}&product_ids={}", MAX_PAGE_SIZE, ids.join(","));
        match stock.get_json::<Vec<StockLevel>>(&path).await {
            Ok(levels) => {
                let available: std::collections::HashMap<String, i64> =
                    levels.into_iter().map(|l| (l.product_id, l.available_qty)).collect();
                for product in &mut products {
                    product.stock_quantity = available.get(&product.id).copied().unwrap_or(0);
                }
            }
            Err(err) => tracing::warn!(error = %err, "stock levels unavailable; showing stored figures"),
        }
        products
    }
}

/// The product routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/products", get(list).post(create))
        .route("/api/products/search", get(search))
        .route("/api/products/{id}", get(fetch).put(update).patch(update).delete(remove))
        .with_state(state)
}

use kit::paging::MAX_PAGE_SIZE;

#[derive(Debug, Deserialize)]
struct ListParams {
    page: Option<i64>,
    page_size: Option<i64>,
    category: Option<String>,
    tag: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
    ids: Option<String>,
    /// `false` skips asking the inventory for stock levels (the order service only needs
    /// names and prices).
    include_stock: Option<bool>,
}

#[derive(Debug, Serialize)]
struct ProductPage {
    products: Vec<Product>,
    total: i64,
    page: i64,
    page_size: i64,
}

fn price(field: &str, value: Option<String>, errors: &mut Vec<FieldError>) -> Option<Money> {
    value.and_then(|v| match Money::from_decimal_text(&v) {
        Ok(m) => Some(m),
        Err(e) => {
            errors.push(FieldError::new(field, e.to_string()));
            None
        }
    })
}

async fn list(
    _caller: MaybeCaller,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<AxumJson<ProductPage>, ProductError> {
    let mut errors = Vec::new();
    let page = Page::parse(params.page, params.page_size, 10, &mut errors);
    let ids = params
        .ids
        .map(|ids| ids.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>());
    if ids.as_ref().is_some_and(|ids| ids.len() > MAX_PAGE_SIZE as usize) {
        errors.push(FieldError::new("ids", format!("at most {MAX_PAGE_SIZE} ids")));
    }
    let filter = ListFilter {
        category: params.category.filter(|c| !c.trim().is_empty()),
        tag: params.tag.map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()),
        min_price: price("min_price", params.min_price, &mut errors),
        max_price: price("max_price", params.max_price, &mut errors),
        ids,
    };
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let (products, total) = state.store.list(&filter, page).await?;
    let products = if params.include_stock == Some(false) { products } else { state.with_stock(products).await };
    Ok(AxumJson(ProductPage { products, total, page: page.number, page_size: page.size }))
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// Words of a query, lower-cased; punctuation separates words and never reaches the engine.
fn search_terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().chars().take(50).collect::<String>())
        .take(10)
        .collect()
}

async fn search(
    _caller: MaybeCaller,
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<AxumJson<Vec<Product>>, ProductError> {
    let mut errors = Vec::new();
    let q = params.q.unwrap_or_default();
    if q.trim().is_empty() {
        errors.push(FieldError::new("q", "is required and must not be empty"));
    } else if q.chars().count() > 200 {
        errors.push(FieldError::new("q", "must be at most 200 characters"));
    }
    let page = Page::parse(params.page, params.page_size, 20, &mut errors);
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let found = state.store.search(&search_terms(&q), page).await?;
    Ok(AxumJson(state.with_stock(found).await))
}

async fn create(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateProduct>,
) -> Result<(StatusCode, AxumJson<Product>), ProductError> {
    caller.require(&[Role::Admin])?;
    let product = body.parse()?;
    state.store.insert(&product).await.map_err(|e| match e {
        StoreError::Duplicate => ProductError::Duplicate(product.id.clone()),
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, AxumJson(product)))
}

async fn fetch(
    _caller: MaybeCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<AxumJson<Product>, ProductError> {
    if !valid_id(&id) {
        return Err(ProductError::InvalidId);
    }
    let product = state.store.get(&id).await?.ok_or_else(|| ProductError::NotFound(id.clone()))?;
    state.with_stock(vec![product]).await.pop().map(AxumJson).ok_or(ProductError::NotFound(id))
}

async fn update(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UpdateProduct>,
) -> Result<AxumJson<Product>, ProductError> {
    caller.require(&[Role::Admin])?;
    if !valid_id(&id) {
        return Err(ProductError::InvalidId);
    }
    let patch = body.parse()?;
    if patch.is_empty() {
        return Err(ProductError::NoFields);
    }
    state.store.update(&id, &patch).await?.map(AxumJson).ok_or(ProductError::NotFound(id))
}

async fn remove(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<AxumJson<serde_json::Value>, ProductError> {
    caller.require(&[Role::Admin])?;
    if !valid_id(&id) {
        return Err(ProductError::InvalidId);
    }
    if state.store.delete(&id).await? {
        Ok(AxumJson(serde_json::json!({ "message": format!("Product {id} deleted successfully") })))
    } else {
        Err(ProductError::NotFound(id))
    }
}

#[cfg(test)]
mod tests {
    use super::search_terms;

    #[test]
    fn search_terms_drop_query_syntax() {
        assert_eq!(search_terms("iPhone (15) Pro*"), ["iphone", "15", "pro"]);
        assert_eq!(search_terms("\" OR 1=1 --"), ["or", "1", "1"]);
        assert!(search_terms("+-*()").is_empty());
    }
}
