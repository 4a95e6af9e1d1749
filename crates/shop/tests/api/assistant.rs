//! The AI assistant through the gateway on `shop up`'s defaults (no provider configured: the
//! offline, retrieval-grounded answers).

use crate::helpers::{Backend, Options, spawn};
use http::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

pub async fn the_assistant_answers_from_the_catalog(backend: Backend) {
    let Some(app) = spawn(backend, Options { seed_demo: true, ..Options::default() }).await else { return };
    let catalog: HashMap<String, Value> =
        app.get("/api/products?page_size=100&include_stock=false").await.body["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_str().unwrap().to_owned(), p.clone()))
            .collect();
    let ready = testkit::eventually(Duration::from_secs(20), || async {
        app.post("/api/ai/suggest", json!({"query": "headphones"})).await.status == StatusCode::OK
    })
    .await;
    assert!(ready, "the assistant read the catalog");

    let found = app.post("/api/ai/suggest", json!({"query": "wireless headphones under $200"})).await;
    assert_eq!(found.status, StatusCode::OK, "{:?}", found.body);
    let matches = found.body["matches"].as_array().unwrap();
    assert!(!matches.is_empty(), "{:?}", found.body);
    for m in matches {
        let id = m["id"].as_str().unwrap();
        let known = catalog.get(id).unwrap_or_else(|| panic!("{id} is not in the catalog"));
        assert_eq!(m["price"], known["price"], "catalog price for {id}");
        assert!(m["price"].as_f64().unwrap() < 200.0, "{id} is over the bound: {m}");
    }
    let first = &catalog[matches[0]["id"].as_str().unwrap()];
    let first_text = format!("{} {}", first["name"], first["tags"]).to_lowercase();
    assert!(
        first_text.contains("headphone") || first_text.contains("earbud") || first_text.contains("airpods"),
        "{first}"
    );

    let chat = app.post("/api/ai/chat", json!({"message": "Which laptop should I buy?"})).await;
    assert_eq!(chat.status, StatusCode::OK, "{:?}", chat.body);
    for p in chat.body["products"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        let known = catalog.get(id).unwrap_or_else(|| panic!("chat named {id}, not in the catalog"));
        assert_eq!((&p["name"], &p["price"]), (&known["name"], &known["price"]));
    }

    let recommended = app.get("/api/ai/recommendations?product_id=prod-001").await;
    assert_eq!(recommended.status, StatusCode::OK, "{:?}", recommended.body);
    let ids: Vec<&str> =
        recommended.body["recommendations"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(!ids.contains(&"prod-001"), "never the product itself");
    assert!(ids.iter().all(|id| catalog.contains_key(*id)));
}
