//! `GET /api/notifications?email=`: the record of sent (and failed) emails, newest first.

use crate::store::{Notification, NotificationStore};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use kit::Problem;
use kit::problem::{FieldError, Query};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: i64 = 100;

/// The routes.
pub fn router(store: Arc<dyn NotificationStore>) -> Router {
    Router::new().route("/api/notifications", get(list)).with_state(store)
}

#[derive(Debug, Deserialize)]
struct Params {
    email: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Page {
    notifications: Vec<Notification>,
    total: i64,
    page: i64,
    page_size: i64,
}

async fn list(
    State(store): State<Arc<dyn NotificationStore>>,
    Query(params): Query<Params>,
) -> Result<Json<Page>, Problem> {
    let page = params.page.unwrap_or(1);
    let size = params.page_size.unwrap_or(20);
    let mut errors = Vec::new();
    if page < 1 {
        errors.push(FieldError::new("page", "must be 1 or more"));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        errors.push(FieldError::new("page_size", format!("must be between 1 and {MAX_PAGE_SIZE}")));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let email = params.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let (notifications, total) =
        store.list(email, size, (page - 1).saturating_mul(size)).await.map_err(|e| Problem::internal(&e))?;
    Ok(Json(Page { notifications, total, page, page_size: size }))
}
