//! The OpenAPI document: served at `/openapi.json` (what `notification::routes::openapi()`
//! builds, which the gateway aggregates), with a docs page, and in step with the routes.

use crate::helpers::{Setup, spawn};
use http::StatusCode;
use testkit::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let Some(app) = spawn(Backend::Sqlite, Setup::default()).await else { return };
    let doc = app.get("/openapi.json").await.assert_json(StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let built = serde_json::to_value(notification::routes::openapi()).expect("a JSON document");
    assert_eq!(doc, built, "served = built for the gateway");
    let checked = testkit::openapi::assert_routes_match(&app, &doc).await;
    assert!(checked >= 6, "{checked} operations: 1 of its own and 5 shared");
    assert_eq!(app.get("/docs").await.status, StatusCode::OK);
}
