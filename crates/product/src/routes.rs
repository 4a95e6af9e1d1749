//! `/api/products`: create, list (paged, filtered, batch by ids), ranked search, get,
//! partial update, delete.

use crate::domain::{CreateProduct, Product, UpdateProduct, valid_id};
use crate::error::ProductError;
use crate::store::{ListFilter, Page, ProductStore, StoreError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json as AxumJson, Router};
use contracts::Money;
use kit::auth::{Caller, MaybeCaller, Role};
use kit::http::ServiceClient;
use kit::openapi::{Authenticated, JsonBody, OptionalToken, PathSegment, QueryString, Storage};
use kit::problem::{FieldError, Json, Path, Query};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// The product operations, each routed by being documented (and documented by being routed).
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(search)).routes(routes!(fetch, update, remove))
}

const TAG: &str = "products";

/// The product service's document (`/openapi.json`, and what the gateway merges): pure.
pub fn openapi() -> OpenApi {
    let (_, doc) = api().split_for_parts();
    let mut doc = kit::openapi::document(
        "product-service",
        "The product catalog: create, list (paged, filtered, by ids), ranked search, read, change and delete products.",
        doc,
    );
    kit::openapi::rename_operation(&mut doc, "PATCH", "/api/products/{id}", "patchProduct");
    kit::openapi::link(&mut doc, "createProduct", "201", "getProduct", &[("id", "$response.body#/id".into())], None);
    kit::openapi::link(&mut doc, "createProduct", "201", "patchProduct", &[("id", "$response.body#/id".into())], None);
    kit::openapi::link(&mut doc, "createProduct", "201", "deleteProduct", &[("id", "$response.body#/id".into())], None);
    doc
}

/// The product routes, `/openapi.json` and `/docs`.
pub fn router(state: AppState) -> Router {
    let (router, _) = api().split_for_parts();
    router.with_state(state).merge(kit::openapi::routes(&openapi()))
}

use kit::paging::MAX_PAGE_SIZE;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Page number, from 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// Products per page (default 10).
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
    /// Only this category.
    category: Option<String>,
    /// Only products with this tag.
    tag: Option<String>,
    /// Lowest price (decimal text, at most two decimals).
    #[param(example = "10.00")]
    min_price: Option<String>,
    /// Highest price (decimal text, at most two decimals).
    #[param(example = "99.99")]
    max_price: Option<String>,
    /// `a,b,c`: only these products (at most 100 ids).
    ids: Option<String>,
    /// `false` skips asking the inventory for stock levels (the order service only needs
    /// names and prices).
    include_stock: Option<bool>,
}

/// A page of products.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// List products, paged and filtered.
#[utoipa::path(
    get, path = "/api/products", operation_id = "listProducts", tag = TAG,
    params(ListParams),
    security((), ("bearer" = [])),
    responses((status = OK, description = "A page of products.", body = ProductPage), QueryString, OptionalToken, Storage)
)]
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchParams {
    /// The words to look for (1–200 characters).
    #[param(required, min_length = 1, max_length = 200, example = "mouse")]
    q: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// Products per page (default 20).
    #[param(minimum = 1, maximum = 100)]
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

/// Search products, best matches first (name above description).
#[utoipa::path(
    get, path = "/api/products/search", operation_id = "searchProducts", tag = TAG,
    params(SearchParams),
    security((), ("bearer" = [])),
    responses((status = OK, description = "The matching products.", body = Vec<Product>), QueryString, OptionalToken, Storage)
)]
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

/// Create a product (admin).
#[utoipa::path(
    post, path = "/api/products", operation_id = "createProduct", tag = TAG,
    request_body = CreateProduct,
    security(("bearer" = [])),
    responses(
        (status = CREATED, description = "The product.", body = Product),
        (status = CONFLICT, description = "A product with this id exists.", body = kit::openapi::ProblemDocument, content_type = "application/problem+json"),
        JsonBody, Authenticated, Storage
    )
)]
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

/// Read a product.
#[utoipa::path(
    get, path = "/api/products/{id}", operation_id = "getProduct", tag = TAG,
    params(("id" = String, Path, description = "The product id.", example = "prod-001")),
    security((), ("bearer" = [])),
    responses(
        (status = OK, description = "The product.", body = Product),
        (status = NOT_FOUND, description = "No such product.", body = kit::openapi::ProblemDocument, content_type = "application/problem+json"),
        PathSegment, OptionalToken, Storage
    )
)]
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

/// Change the given fields of a product (admin); `PUT` and `PATCH` alike.
#[utoipa::path(
    method(put, patch), path = "/api/products/{id}", operation_id = "updateProduct", tag = TAG,
    params(("id" = String, Path, description = "The product id.", example = "prod-001")),
    request_body = UpdateProduct,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The changed product.", body = Product),
        (status = NOT_FOUND, description = "No such product.", body = kit::openapi::ProblemDocument, content_type = "application/problem+json"),
        JsonBody, PathSegment, Authenticated, Storage
    )
)]
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

/// Delete a product (admin).
#[utoipa::path(
    delete, path = "/api/products/{id}", operation_id = "deleteProduct", tag = TAG,
    params(("id" = String, Path, description = "The product id.", example = "prod-001")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "Deleted.", body = Object, example = json!({"message": "Product prod-001 deleted successfully"})),
        (status = NOT_FOUND, description = "No such product.", body = kit::openapi::ProblemDocument, content_type = "application/problem+json"),
        PathSegment, Authenticated, Storage
    )
)]
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
