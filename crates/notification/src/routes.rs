//! `GET /api/notifications?email=`: the record of sent, retrying and failed emails, newest first.

use crate::store::{Notification, NotificationStore};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kit::Problem;
use kit::auth::{AuthError, Caller};
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

/// Staff read anyone's notifications (all of them without `email`); a customer reads only
/// their own, whatever `email` says otherwise.
async fn list(
    Caller(caller): Caller,
    State(store): State<Arc<dyn NotificationStore>>,
    Query(params): Query<Params>,
) -> Result<Json<NotificationPage>, Response> {
    let mut errors = Vec::new();
    let page = kit::paging::Page::parse(params.page, params.page_size, 20, &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into_response());
    }
    let asked = params.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let email = if caller.is_admin() {
        asked.map(str::to_owned)
    } else {
        let own = caller
            .email
            .clone()
            .ok_or_else(|| AuthError::Forbidden("The token names no email address".into()).into_response())?;
        if asked.is_some_and(|a| !a.eq_ignore_ascii_case(&own)) {
            return Err(AuthError::Forbidden("You can read only your own notifications".into()).into_response());
        }
        Some(own)
    };
    let email = email.as_deref();
    let (notifications, total) = store
        .list(email, page.size, page.offset())
        .await
        .map_err(|e| Problem::storage("notification", &e).into_response())?;
    Ok(Json(NotificationPage { notifications, total, page: page.number, page_size: page.size }))
}
