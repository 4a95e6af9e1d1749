//! The gateway's own routes and fallbacks.

use crate::helpers::{TestResult, echo_gateway, send};
use axum::body::Body;
use axum::http::{Request, StatusCode};

#[tokio::test]
async fn health_has_the_original_shape() -> TestResult {
    let gw = echo_gateway().await?;
    let answer = gw.get("/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["status"], "UP");
    assert_eq!(answer.body["service"], "api-gateway");
    assert_eq!(answer.body["auth_enabled"], false, "the original's field; these tests run with AUTH_MODE=off");
    Ok(())
}

#[tokio::test]
async fn unknown_routes_are_404_problems() -> TestResult {
    let gw = echo_gateway().await?;
    // `/` is the web UI (crates/storefront); other unknown paths are problems.
    for path in ["/api/unknown", "/api/productsX", "/nope", "/products"] {
        assert_eq!(gw.get(path).await.assert_problem(StatusCode::NOT_FOUND), "No such route");
    }
    let post = send(Request::post(format!("{}/api/unknown/chat", gw.base)).body(Body::from("{}"))?).await?;
    assert_eq!(post.assert_problem(StatusCode::NOT_FOUND), "No such route");
    Ok(())
}
