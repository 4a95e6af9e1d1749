//! The API contract's edges (issue 8): exact money, problem+json for every error worded in
//! the API's terms, the original's lenient inputs, and what is echoed back.

use crate::helpers::{Backend, Body, product, spawn_app};
use http::{Method, StatusCode};
use serde_json::json;

macro_rules! app {
    ($backend:expr) => {
        match spawn_app($backend).await {
            Some(app) => app,
            None => return,
        }
    };
}

/// A price with more than two decimals is refused, never rounded, on create, update and
/// in filters.
pub async fn prices_are_exact_or_refused(backend: Backend) {
    let app = app!(backend);
    for price in ["999.999", "1234567.899", "100.0000001", "19.999", "0.001"] {
        let body =
            format!(r#"{{"id": "p-1", "name": "Lamp", "description": "", "category": "Home", "price": {price}}}"#);
        let reply =
            app.request(Method::POST, "/api/products", Body::Raw("application/json", body.into_bytes()), &[]).await;
        assert_eq!(reply.assert_invalid(), ["price"], "price {price}: {:?}", reply.body);
        assert!(reply.detail().contains("two decimal"), "{}", reply.detail());
    }
    let created = app.create(product("p-1", json!({"price": 1099.99}))).await;
    assert_eq!(created["price"], json!(1099.99));
    let raw = r#"{"price": 1099.991}"#.as_bytes().to_vec();
    let reply = app.request(Method::PATCH, "/api/products/p-1", Body::Raw("application/json", raw), &[]).await;
    assert_eq!(reply.assert_invalid(), ["price"]);
    assert_eq!(app.get("/api/products/p-1").await.body["price"], json!(1099.99), "nothing was rounded and stored");
    assert_eq!(app.get("/api/products?min_price=1.001").await.assert_invalid(), ["min_price"]);
    assert_eq!(app.list_ids("min_price=1099.99").await, ["p-1"]);
    assert_eq!(app.post("/api/products", product("p-2", json!({"price": "12"}))).await.assert_invalid(), ["price"]);
}

/// Every error is problem+json in the API's words: no Rust type names, no parser positions
/// for values that are valid JSON, the field named as the API names it.
pub async fn errors_speak_the_apis_language(backend: Backend) {
    let app = app!(backend);
    let cases: [(&str, &str, &str); 6] = [
        ("[1, 2]", "body", "must be a JSON object"),
        (r#"{"name": 42}"#, "name", "must be a string"),
        (r#"{"tags": "x"}"#, "tags", "must be an array"),
        (r#"{"stock_quantity": 1.5}"#, "stock_quantity", "must be a whole number"),
        (r#"{"attributes": [1]}"#, "attributes", "must be an object"),
        ("{\"name\": ", "body", "is not valid JSON"),
    ];
    app.create(product("e-1", json!({}))).await;
    for (raw, field, wording) in cases {
        let reply = app
            .request(Method::PUT, "/api/products/e-1", Body::Raw("application/json", raw.as_bytes().to_vec()), &[])
            .await;
        assert_eq!(reply.assert_invalid(), [field], "{raw}: {:?}", reply.body);
        let detail = reply.detail();
        assert!(detail.contains(wording), "{raw}: {detail}");
        for leak in ["struct", "UpdateProduct", "i64", "f64", "Option", "Vec<", "Map<"] {
            assert!(!detail.contains(leak), "{raw}: the detail names a Rust type: {detail}");
        }
        if field != "body" {
            assert!(!detail.contains("line 1"), "{raw}: {detail}");
        }
    }
    // A path segment that is not UTF-8 is a problem too, not plain text.
    for path in ["/api/products/%ff%fe", "/api/products/%c3%28"] {
        let reply = app.get(path).await;
        reply.assert_problem(StatusCode::BAD_REQUEST);
    }
    // A 5,000-character id is not echoed back whole.
    let long = "x".repeat(5_000);
    let reply = app.get(&format!("/api/products/search?q={}", "y".repeat(201))).await;
    assert_eq!(reply.assert_invalid(), ["q"]);
    let created = app.create(product("long-1", json!({}))).await;
    assert_eq!(created["id"], "long-1");
    let reply = app.request(Method::POST, "/api/products", json!({"id": long, "name": "n"}), &[]).await;
    assert!(reply.detail().len() < 1_000, "{}", reply.detail().len());
}

/// The original's lenient inputs: a whole number written `1.0`, a trailing slash, and a
/// query parameter given twice.
pub async fn the_originals_lenient_inputs_work(backend: Backend) {
    let app = app!(backend);
    let created = app.create(product("l-1", json!({"stock_quantity": 5.0}))).await;
    assert_eq!(created["stock_quantity"], 5);
    let redirect = app.get("/api/products/?page_size=1").await;
    assert_eq!(redirect.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(redirect.header("location"), Some("/api/products?page_size=1"));
    app.create(product("l-2", json!({}))).await;
    let page = app.list("page=2&page_size=1&page=1").await;
    assert_eq!(page["page"], 1, "the last value wins: {page}");
}
