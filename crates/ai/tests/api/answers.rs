//! Offline answers: retrieval-grounded chat, suggest and recommendations, and validation.

use crate::helpers::{Backend, TestApp, ids};
use http::StatusCode;
use serde_json::{Value, json};

fn price(product: &Value) -> f64 {
    product["price"].as_f64().unwrap_or_else(|| panic!("price is a number: {product}"))
}

pub async fn price_bounded_search_returns_only_cheaper_headphones_first(backend: Backend) {
    let app: TestApp = crate::app!(backend);
    let answer = app.suggest("wireless headphones under $200").await;
    let matches = answer["matches"].as_array().unwrap();
    assert!(!matches.is_empty(), "{answer}");
    assert!(matches.iter().all(|m| price(m) < 200.0), "only products under $200: {answer}");
    let first: Vec<String> = ids(&answer["matches"]).into_iter().take(2).collect();
    assert!(
        first.iter().all(|id| ["prod-050", "prod-051"].contains(&id.as_str())),
        "the wireless headphones under $200 come first: {answer}"
    );
    assert_eq!(answer["max_price"], json!(199.99));
    assert!(answer["search_tags"].as_array().unwrap().iter().any(|t| t == "headphones"), "{answer}");
    assert!(matches.iter().all(|m| m["match_reason"].as_str().is_some_and(|r| !r.is_empty())));

    let chat = app.chat("wireless headphones under $200").await;
    assert_eq!(chat["degraded"], false);
    let products = chat["products"].as_array().unwrap();
    assert!(!products.is_empty() && products.iter().all(|p| price(p) < 200.0), "{chat}");
    assert_eq!(products[0]["id"], first[0], "{chat}");

    // Nothing in the catalog fits: no products.
    let none = app.suggest("car tires").await;
    assert_eq!(none["matches"], json!([]), "{none}");
    let chat = app.chat("do you sell car tires?").await;
    assert_eq!(chat["products"], json!([]), "{chat}");
}

pub async fn offline_chat_names_only_catalog_products_at_catalog_prices(backend: Backend) {
    let app: TestApp = crate::app!(backend);
    let catalog = app.products.get("/api/products?page_size=100").await.assert_json(StatusCode::OK);
    let by_id: std::collections::HashMap<String, Value> = catalog["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_owned(), p.clone()))
        .collect();
    for message in ["I need a programming book", "something for my coffee", "hedphones", "hello!"] {
        let chat = app.chat(message).await;
        let reply = chat["reply"].as_str().unwrap();
        assert!(!reply.is_empty());
        for product in chat["products"].as_array().unwrap() {
            let stored = &by_id[product["id"].as_str().unwrap()];
            assert_eq!(product["name"], stored["name"]);
            assert_eq!(product["price"], stored["price"]);
            assert!(reply.contains(stored["name"].as_str().unwrap()), "{reply}");
            assert!(reply.contains(&format!("${:.2}", price(stored))), "{reply}");
        }
    }
    let typo = app.chat("hedphones").await;
    assert!(ids(&typo["products"]).iter().any(|id| id == "prod-050"), "typos are tolerated: {typo}");
    let hello = app.chat("hello!").await;
    assert_eq!(hello["products"], json!([]));

    // Validation names the field.
    let fields = app.post("/api/ai/chat", json!({"message": "  "})).await.assert_invalid();
    assert_eq!(fields, ["message"]);
    let fields = app.post("/api/ai/chat", json!({"message": "x".repeat(5000)})).await.assert_invalid();
    assert_eq!(fields, ["message"]);
    let fields = app.post("/api/ai/chat", json!({"message": "hi\u{0}there"})).await.assert_invalid();
    assert_eq!(fields, ["message"]);
    let fields = app.post("/api/ai/chat", json!({})).await.assert_invalid();
    assert_eq!(fields, ["message"]);
    let fields = app.post("/api/ai/suggest", json!({"query": ""})).await.assert_invalid();
    assert_eq!(fields, ["query"]);
    let health = app.get("/health").await.assert_json(StatusCode::OK);
    assert_eq!(
        health,
        json!({"status": "UP", "service": "ai-service", "llm_provider": "offline", "auth_enabled": true})
    );
}

pub async fn recommendations_are_five_other_products_with_reasons(backend: Backend) {
    let app: TestApp = crate::app!(backend);
    for query in ["product_id=prod-001", "product_name=iPhone%2015%20Pro", "product_id=prod-006"] {
        let answer = app.get(&format!("/api/ai/recommendations?{query}")).await.assert_json(StatusCode::OK);
        let recs = answer["recommendations"].as_array().unwrap();
        assert_eq!(recs.len(), 5, "{answer}");
        let seed = if query.contains("006") { "prod-006" } else { "prod-001" };
        assert!(recs.iter().all(|r| r["id"] != seed), "never the product itself: {answer}");
        assert!(recs.iter().all(|r| r["reason"].as_str().is_some_and(|s| !s.is_empty())), "{answer}");
        let distinct: std::collections::HashSet<_> = recs.iter().map(|r| r["id"].to_string()).collect();
        assert_eq!(distinct.len(), 5);
    }
    let books = app.get("/api/ai/recommendations?category=Books").await.assert_json(StatusCode::OK);
    let recs = books["recommendations"].as_array().unwrap();
    assert!(!recs.is_empty() && recs.iter().all(|r| r["category"] == "Books"), "{books}");
    app.get("/api/ai/recommendations?product_id=nope-404").await.assert_problem(StatusCode::NOT_FOUND);
}
