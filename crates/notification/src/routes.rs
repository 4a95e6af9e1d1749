//! `GET /api/notifications?email=`: the record of sent, retrying and failed emails, newest first.

use crate::store::{Notification, NotificationStore};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use kit::Problem;
use kit::problem::Query;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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
struct NotificationPage {
    notifications: Vec<Notification>,
    total: i64,
    page: i64,
    page_size: i64,
}

async fn list(
    State(store): State<Arc<dyn NotificationStore>>,
    Query(params): Query<Params>,
) -> Result<Json<NotificationPage>, Problem> {
    let mut errors = Vec::new();
    let page = kit::paging::Page::parse(params.page, params.page_size, 20, &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let email = params.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let (notifications, total) =
        store.list(email, page.size, page.offset()).await.map_err(|e| Problem::internal(&e))?;
    Ok(Json(NotificationPage { notifications, total, page: page.number, page_size: page.size }))
}
