//! `GET /api/notifications?email=`: the record of sent, retrying and failed emails, newest first.

use crate::store::{Notification, NotificationStore};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use kit::Problem;
use kit::auth::{AuthError, Caller};
use kit::openapi::{Authenticated, QueryString, Storage};
use kit::problem::Query;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The notification operations, each routed by being documented (and documented by being
/// routed).
fn api() -> OpenApiRouter<Arc<dyn NotificationStore>> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The notification service's document (`/openapi.json`, and what the gateway merges): pure.
pub fn openapi() -> OpenApi {
    let (_, doc) = api().split_for_parts();
    kit::openapi::document(
        "notification-service",
        "The record of the emails sent on the platform's events (sent, retrying, failed), newest first.",
        doc,
    )
}

/// The routes, `/openapi.json` and `/docs`.
pub fn router(store: Arc<dyn NotificationStore>) -> Router {
    let (router, _) = api().split_for_parts();
    router.with_state(store).merge(kit::openapi::routes(&openapi()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Params {
    /// Only this recipient's (staff); a customer always reads only their own.
    #[param(example = "ada@example.com")]
    email: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// Notifications per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

/// A page of notifications.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct NotificationPage {
    notifications: Vec<Notification>,
    total: i64,
    page: i64,
    page_size: i64,
}

/// Staff read anyone's notifications (all of them without `email`); a customer reads only
/// their own, whatever `email` says otherwise.
#[utoipa::path(
    get, path = "/api/notifications", operation_id = "listNotifications", tag = "notifications",
    summary = "List sent, retrying and failed emails, newest first",
    params(Params),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "A page of notifications.", body = NotificationPage),
        QueryString, Authenticated, Storage
    )
)]
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
