//! The OpenAPI document: served at `/openapi.json` (what `product::routes::openapi()` builds,
//! which the gateway aggregates), with a docs page, and in step with the routes.

use crate::helpers::{Backend, spawn_app};
use http::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let doc = app.get("/openapi.json").await.assert_json(StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc,
        serde_json::to_value(product::routes::openapi()).expect("a JSON document"),
        "served = built for the gateway"
    );
    let checked = testkit::openapi::assert_routes_match(&app, &doc).await;
    assert!(checked >= 7 + 5, "{checked} operations");
    let page = app.get("/docs").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("/docs/swagger-ui-bundle.js"), "{}", page.text);
    let script = app.get("/docs/swagger-initializer.js").await;
    assert!(script.text.contains("/openapi.json"), "{}", script.text);
}
