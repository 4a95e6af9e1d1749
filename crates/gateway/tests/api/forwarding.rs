//! What reaches the upstream, and what comes back.

use crate::helpers::{TestResult, echo_gateway, send};
use axum::body::Body;
use axum::http::{Request, StatusCode};

#[tokio::test]
async fn forwards_method_path_raw_query_and_body_to_the_right_service() -> TestResult {
    let gw = echo_gateway().await?;
    let request = Request::post(format!("{}/api/products/abc/def?x=1&y=%20z&x=2", gw.base))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"name":"pen"}"#))?;
    let answer = send(request).await?;
    assert_eq!(answer.status, StatusCode::OK);
    let echo = answer.body;
    assert_eq!(echo["upstream"], "product");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/api/products/abc/def");
    assert_eq!(echo["query"], "x=1&y=%20z&x=2");
    assert_eq!(echo["body"], r#"{"name":"pen"}"#);
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert_eq!(echo["headers"]["content-length"], "14");

    let patch = send(Request::patch(format!("{}/api/orders/42/status", gw.base)).body(Body::from("x"))?).await?;
    let echo = patch.body;
    assert_eq!((echo["upstream"].as_str(), echo["method"].as_str()), (Some("order"), Some("PATCH")));
    assert_eq!(echo["path"], "/api/orders/42/status");
    assert_eq!(echo["query"], serde_json::Value::Null);

    let delete = send(Request::delete(format!("{}/api/inventory", gw.base)).body(Body::empty())?).await?;
    let echo = delete.body;
    assert_eq!((echo["upstream"].as_str(), echo["method"].as_str()), (Some("inventory"), Some("DELETE")));
    assert_eq!(echo["path"], "/api/inventory");
    assert_eq!(echo["body_len"], 0);

    let slash = gw.get("/api/products/").await;
    assert_eq!(slash.body["path"], "/api/products/");
    Ok(())
}

#[tokio::test]
async fn drops_hop_by_hop_headers_and_host_but_keeps_custom_ones() -> TestResult {
    let gw = echo_gateway().await?;
    let request = Request::get(format!("{}/api/products", gw.base))
        .header("connection", "x-secret")
        .header("x-secret", "1")
        .header("te", "trailers")
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("x-custom", "kept")
        .header("accept", "application/json")
        .body(Body::empty())?;
    let answer = send(request).await?;
    let echo = answer.body;
    let headers = echo["headers"].as_object().ok_or("headers not an object")?;
    for dropped in ["connection", "x-secret", "te", "keep-alive", "proxy-authorization", "transfer-encoding"] {
        assert!(!headers.contains_key(dropped), "{dropped} was forwarded: {headers:?}");
    }
    assert_eq!(echo["headers"]["x-custom"], "kept");
    assert_eq!(echo["headers"]["accept"], "application/json");
    assert_eq!(echo["headers"]["x-forwarded-proto"], "http");
    // The gateway's own host header is replaced by the upstream's authority.
    let gateway_host = gw.base.trim_start_matches("http://");
    assert_ne!(echo["headers"]["host"], gateway_host);
    assert!(echo["headers"]["host"].as_str().is_some_and(|h| h.starts_with("127.0.0.1:")));
    Ok(())
}

#[tokio::test]
async fn appends_the_peer_to_x_forwarded_for() -> TestResult {
    let gw = echo_gateway().await?;
    let fresh = gw.get("/api/orders").await.body;
    assert_eq!(fresh["headers"]["x-forwarded-for"], "127.0.0.1");

    let request =
        Request::get(format!("{}/api/orders", gw.base)).header("x-forwarded-for", "10.0.0.1").body(Body::empty())?;
    let chained = send(request).await?.body;
    assert_eq!(chained["headers"]["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
    Ok(())
}

#[tokio::test]
async fn propagates_or_generates_the_request_id() -> TestResult {
    let gw = echo_gateway().await?;
    let request =
        Request::get(format!("{}/api/inventory/1", gw.base)).header("x-request-id", "req-123").body(Body::empty())?;
    let given = send(request).await?;
    assert_eq!(given.body["headers"]["x-request-id"], "req-123");
    assert_eq!(given.header("x-request-id"), Some("req-123"));

    let generated = gw.get("/api/inventory/1").await;
    let upstream_saw = generated.body["headers"]["x-request-id"].as_str().map(str::to_owned);
    assert!(upstream_saw.as_deref().is_some_and(|id| !id.is_empty()));
    assert_eq!(generated.header("x-request-id"), upstream_saw.as_deref());
    Ok(())
}

#[tokio::test]
async fn returns_upstream_status_headers_and_body_minus_hop_by_hop() -> TestResult {
    let gw = echo_gateway().await?;
    let answer = gw.get("/api/orders/teapot").await;
    assert_eq!(answer.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(answer.header("x-upstream"), Some("yes"));
    assert_eq!(answer.text, "short and stout");
    assert_eq!(answer.header("x-internal"), None, "header named by upstream Connection leaked");
    assert_eq!(answer.header("keep-alive"), None);
    Ok(())
}

#[tokio::test]
async fn the_router_works_without_connection_info() -> TestResult {
    use tower::ServiceExt;
    let upstream = crate::helpers::spawn_upstream("product").await?;
    let config = crate::helpers::config(&upstream, &upstream, &upstream, std::time::Duration::from_secs(5));
    let response = gateway::router(&config).oneshot(Request::get("/api/products?q=1").body(Body::empty())?).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body()).await?.to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body)?;
    assert_eq!(echo["query"], "q=1");
    assert_eq!(echo["headers"]["x-forwarded-for"], serde_json::Value::Null);
    Ok(())
}

#[tokio::test]
async fn client_claims_about_its_address_are_replaced() -> TestResult {
    let gw = echo_gateway().await?;
    let request = Request::get(format!("{}/api/orders", gw.base))
        .header("x-real-ip", "10.9.9.9")
        .header("forwarded", "for=10.9.9.9;proto=https")
        .body(Body::empty())?;
    let echo = send(request).await?.body;
    assert_eq!(echo["headers"]["x-real-ip"], "127.0.0.1", "the peer the gateway saw: {echo}");
    assert_eq!(echo["headers"]["forwarded"], serde_json::Value::Null, "{echo}");
    Ok(())
}
