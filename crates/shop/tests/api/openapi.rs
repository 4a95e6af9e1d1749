//! The gateway's aggregated OpenAPI document against the running platform: every operation
//! it documents is served through the gateway, every other method on a documented path is a
//! 405, and it is the document the gateway builds from the services' own.

use crate::helpers::{Options, spawn};
use http::StatusCode;
use testkit::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_documents_every_routed_operation_and_serves_every_documented_one() {
    let Some(platform) = spawn(Backend::Sqlite, Options::default()).await else { return };
    let doc = platform.get("/openapi.json").await.assert_json(StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, gateway::openapi::document(&gateway::openapi::services()), "served = aggregated");
    let checked = testkit::openapi::assert_routes_match(&platform, &doc).await;
    assert!(checked > 30, "{checked} operations");
    // Every service's API operations, and nothing else under /api, are in the gateway's.
    let mut from_services = Vec::new();
    for service in gateway::openapi::services() {
        let service = serde_json::to_value(service).expect("a JSON document");
        from_services
            .extend(testkit::openapi::operations(&service).into_iter().filter(|(_, p)| p.starts_with("/api/")));
    }
    let mut in_gateway: Vec<_> =
        testkit::openapi::operations(&doc).into_iter().filter(|(_, p)| p.starts_with("/api/")).collect();
    from_services.sort();
    in_gateway.sort();
    assert_eq!(in_gateway, from_services);
    let page = platform.get("/docs").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("swagger-ui-bundle.js"));
}
