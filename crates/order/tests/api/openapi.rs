//! The order service's OpenAPI document: served at `/openapi.json` (what
//! `order::routes::openapi()` builds, which the gateway aggregates), with a docs page, and in
//! step with the routes. The service runs alone: no request here reaches its peers.

use http::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use testkit::{Backend, Client, Running, Stores};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let Some(stores) = Stores::new(Backend::Sqlite).await else { return };
    let config = order::Config {
        host: "127.0.0.1".into(),
        port: 0,
        database: stores.options("orders"),
        product_service_url: "http://127.0.0.1:9".into(),
        inventory_service_url: "http://127.0.0.1:9".into(),
        peer_timeout: Duration::from_millis(200),
        auth: kit::auth::AuthSettings::off(),
    };
    let app = order::App::build(config, Arc::new(stores.event_log().await)).await.expect("building the order service");
    let running = Running::spawn(app.port(), |stop| app.run_until_stopped(stop));
    let client = Client::new(running.base.clone());
    let doc = client.get("/openapi.json").await.assert_json(StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, serde_json::to_value(order::routes::openapi()).unwrap(), "served = built for the gateway");
    let checked = testkit::openapi::assert_routes_match(&client, &doc).await;
    assert!(checked >= 8 + 5, "{checked} operations");
    assert_eq!(client.get("/docs").await.status, StatusCode::OK);
}
