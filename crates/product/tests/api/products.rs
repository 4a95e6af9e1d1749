//! The behaviours of `/api/products`, each run against every backend (see `main.rs`).

use crate::helpers::{Backend, Body, TestApp, encode, product, spawn_app};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Starts the service, or returns from the test when its backend is unavailable.
macro_rules! app {
    ($backend:expr) => {
        match spawn_app($backend).await {
            Some(app) => app,
            None => return,
        }
    };
}

#[track_caller]
fn timestamp(value: &Value) -> OffsetDateTime {
    let text = value.as_str().unwrap_or_else(|| panic!("timestamp is not a string: {value}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub async fn creates_and_reads_back(backend: Backend) {
    let app = app!(backend);
    let created = app
        .create(json!({
            "id": "prod-001",
            "name": "iPhone 15 Pro",
            "description": "Latest Apple smartphone",
            "price": 999.99,
            "category": "Electronics",
            "tags": ["Apple", "SmartPhone", "apple"],
            "image_url": "https://img.example.com/iphone.png",
            "stock_quantity": 50,
        }))
        .await;

    assert_eq!(created["id"], "prod-001");
    assert_eq!(created["name"], "iPhone 15 Pro");
    assert_eq!(created["description"], "Latest Apple smartphone");
    assert!(created["price"].is_number(), "price is a JSON number: {created}");
    assert_eq!(created["price"], json!(999.99));
    assert_eq!(created["category"], "Electronics");
    assert_eq!(created["tags"], json!(["apple", "smartphone"]), "tags lower-cased, de-duplicated");
    assert_eq!(created["image_url"], "https://img.example.com/iphone.png");
    assert_eq!(created["stock_quantity"], 50);
    let created_at = timestamp(&created["created_at"]);
    assert_eq!(timestamp(&created["updated_at"]), created_at);
    let age = OffsetDateTime::now_utc() - created_at;
    assert!(age.whole_seconds().abs() < 60, "created_at is now, not {created_at}");

    let fetched = app.get("/api/products/prod-001").await.assert_json(StatusCode::OK);
    assert_eq!(fetched, created, "GET returns what POST returned");

    let listed = app.list("").await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["products"], json!([created]));

    // Optional fields take their defaults.
    let minimal = app
        .create(json!({"id": "prod-002", "name": "Pen", "description": "", "price": 1.5, "category": "Office"}))
        .await;
    assert_eq!(minimal["tags"], json!([]));
    assert_eq!(minimal["image_url"], Value::Null);
    assert_eq!(minimal["stock_quantity"], 0);
    assert_eq!(minimal["description"], "");
    assert_eq!(app.get("/api/products/prod-002").await.assert_json(StatusCode::OK), minimal);
}

pub async fn generates_an_id_when_none_is_given(backend: Backend) {
    let app = app!(backend);
    let mut body = product("unused", json!({}));
    if let Some(fields) = body.as_object_mut() {
        fields.remove("id");
    }
    let first = app.create(body.clone()).await;
    let second = app.create(body).await;

    for p in [&first, &second] {
        let id = p["id"].as_str().expect("a generated id");
        assert_eq!(id.len(), 24, "24 hex digits like an ObjectId: {id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "lower-case hex: {id}");
        let fetched = app.get(&format!("/api/products/{id}")).await.assert_json(StatusCode::OK);
        assert_eq!(&fetched, p);
    }
    assert_ne!(first["id"], second["id"]);
    assert_eq!(app.total().await, 2);
}

pub async fn rejects_a_duplicate_id(backend: Backend) {
    let app = app!(backend);
    let original = app.create(product("dup-1", json!({"name": "Original"}))).await;

    let response = app.post("/api/products", product("dup-1", json!({"name": "Impostor"}))).await;
    let detail = response.assert_problem(StatusCode::CONFLICT);
    assert!(detail.contains("dup-1"), "detail names the id: {detail}");
    assert!(response.body["request_id"].is_string(), "problems carry a request id: {}", response.body);

    let stored = app.get("/api/products/dup-1").await.assert_json(StatusCode::OK);
    assert_eq!(stored, original, "the original is untouched");
    assert_eq!(app.total().await, 1);
}

pub async fn rejects_missing_and_invalid_fields_without_storing(backend: Backend) {
    let app = app!(backend);
    app.create(product("keep-1", json!({}))).await;

    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["name", "description", "price", "category"]),
        (json!({"id": "bad-1", "description": "d", "category": "c"}), vec!["name", "price"]),
        (product("bad-2", json!({"name": "   ", "price": -1})), vec!["name", "price"]),
        (product("bad-3", json!({"price": 0})), vec!["price"]),
        (product("bad-4", json!({"price": 10.001})), vec!["price"]),
        (product("bad-5", json!({"category": ""})), vec!["category"]),
        (product("bad-6", json!({"stock_quantity": -1})), vec!["stock_quantity"]),
        (product("bad-7", json!({"image_url": "javascript:alert(1)"})), vec!["image_url"]),
        (product("bad-8", json!({"name": "x".repeat(201)})), vec!["name"]),
        (product("bad id", json!({})), vec!["id"]),
    ];
    for (body, expected) in cases {
        let response = app.post("/api/products", body.clone()).await;
        let fields = response.assert_invalid();
        assert_eq!(fields, strings(&expected), "fields named for {body}");
        let detail = response.body["detail"].as_str().unwrap_or_default();
        for field in &expected {
            assert!(detail.contains(field), "detail {detail:?} names {field}");
        }
        if let Some(id) = body["id"].as_str().filter(|id| !id.contains(' ')) {
            app.get(&format!("/api/products/{id}")).await.assert_problem(StatusCode::NOT_FOUND);
        }
    }
    assert_eq!(app.total().await, 1, "nothing invalid was stored");
}

pub async fn rejects_malformed_json_and_wrong_types(backend: Backend) {
    let app = app!(backend);

    for raw in ["{\"name\": ", "not json", "[1, 2]", ""] {
        let response = app.request(Method::POST, "/api/products", Body::Raw("application/json", raw.into()), &[]).await;
        response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }

    let wrong_types = [
        (product("t-1", json!({"price": "abc"})), "price"),
        (product("t-2", json!({"name": 42})), "name"),
        (product("t-3", json!({"tags": "not-a-list"})), "tags"),
        (product("t-4", json!({"stock_quantity": 1.5})), "stock_quantity"),
    ];
    for (body, field) in wrong_types {
        let fields = app.post("/api/products", body.clone()).await.assert_invalid();
        assert_eq!(fields, vec![field.to_owned()], "field named for {body}");
    }

    // A body that is not declared as JSON is refused, not guessed at.
    let response = app
        .request(
            Method::POST,
            "/api/products",
            Body::Empty, // no Content-Type
            &[],
        )
        .await;
    assert!(response.status.is_client_error(), "status {}", response.status);
    assert_eq!(response.content_type(), "application/problem+json");

    // Updates parse the same way.
    app.create(product("t-ok", json!({}))).await;
    let fields = app.put("/api/products/t-ok", json!({"price": "abc"})).await.assert_invalid();
    assert_eq!(fields, vec!["price".to_owned()]);
    let response =
        app.request(Method::PATCH, "/api/products/t-ok", Body::Raw("application/json", b"{".to_vec()), &[]).await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(app.total().await, 1, "only the valid product was stored");
}

pub async fn paginates_in_a_stable_order(backend: Backend) {
    let app = app!(backend);
    let created: Vec<String> = (1..=7).map(|i| format!("page-{i}")).collect();
    for id in &created {
        app.create(product(id, json!({}))).await;
    }

    let mut seen = Vec::new();
    for page in 1..=3 {
        let body = app.list(&format!("page={page}&page_size=3")).await;
        assert_eq!(body["total"], 7);
        assert_eq!(body["page"], page);
        assert_eq!(body["page_size"], 3);
        let ids = crate::helpers::ids(&body["products"]);
        assert_eq!(ids.len(), if page < 3 { 3 } else { 1 }, "page {page}: {ids:?}");
        seen.extend(ids);
    }
    assert_eq!(seen, created, "pages in creation order, no duplicates, none missing");

    let beyond = app.list("page=4&page_size=3").await;
    assert_eq!(beyond["products"], json!([]));
    assert_eq!(beyond["total"], 7);

    // The order is stable across repeated reads.
    for _ in 0..3 {
        assert_eq!(app.list_ids("page=2&page_size=3").await, created[3..6].to_vec());
    }

    // Defaults: page 1, page_size 10.
    let defaults = app.list("").await;
    assert_eq!(defaults["page"], 1);
    assert_eq!(defaults["page_size"], 10);
    assert_eq!(crate::helpers::ids(&defaults["products"]), created);

    // Deleting one shifts later pages without duplicating or skipping.
    app.delete("/api/products/page-2").await.assert_json(StatusCode::OK);
    let mut after = app.list_ids("page=1&page_size=4").await;
    after.extend(app.list_ids("page=2&page_size=4").await);
    let expected: Vec<String> = created.iter().filter(|id| *id != "page-2").cloned().collect();
    assert_eq!(after, expected);
}

pub async fn rejects_out_of_range_paging(backend: Backend) {
    let app = app!(backend);
    app.create(product("p-1", json!({}))).await;

    for (query, field) in [
        ("page_size=101", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=-5", "page_size"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page_size=ten", "page_size"),
    ] {
        let fields = app.get(&format!("/api/products?{query}")).await.assert_invalid();
        assert_eq!(fields, vec![field.to_owned()], "for {query}");
    }
    let ok = app.list("page_size=100").await;
    assert_eq!(ok["page_size"], 100);

    let fields = app.get("/api/products/search?q=phone&page_size=101").await.assert_invalid();
    assert_eq!(fields, vec!["page_size".to_owned()]);
    let fields = app.get("/api/products/search?q=phone&page=0").await.assert_invalid();
    assert_eq!(fields, vec!["page".to_owned()]);
}

async fn filter_catalog(app: &TestApp) {
    for body in [
        product(
            "f-a",
            json!({"name": "Earbuds", "category": "Electronics", "price": 10.0, "tags": ["Wireless", "audio"]}),
        ),
        product("f-b", json!({"name": "Novel", "category": "Books", "price": 25.5, "tags": ["paper"]})),
        product("f-c", json!({"name": "Cable", "category": "electronics", "price": 99.99, "tags": ["wired"]})),
        product("f-d", json!({"name": "Toy car", "category": "Toys", "price": 5.0, "tags": ["wireless", "kids"]})),
    ] {
        app.create(body).await;
    }
}

pub async fn filters_by_category_tag_price_and_ids(backend: Backend) {
    let app = app!(backend);
    filter_catalog(&app).await;

    let cases: [(&str, &[&str]); 17] = [
        ("category=Electronics", &["f-a", "f-c"]),
        ("category=ELECTRONICS", &["f-a", "f-c"]),
        ("category=books", &["f-b"]),
        ("category=Garden", &[]),
        ("tag=wireless", &["f-a", "f-d"]),
        ("tag=WIRELESS", &["f-a", "f-d"]),
        ("tag=audio", &["f-a"]),
        ("tag=wire", &[]),
        ("min_price=10", &["f-a", "f-b", "f-c"]),
        ("max_price=10", &["f-a", "f-d"]),
        ("min_price=10.01&max_price=99.99", &["f-b", "f-c"]),
        ("min_price=100", &[]),
        ("ids=f-c,f-a", &["f-a", "f-c"]),
        ("ids=f-b,%20f-d%20,", &["f-b", "f-d"]),
        ("ids=f-a,missing", &["f-a"]),
        ("category=electronics&max_price=50", &["f-a"]),
        ("tag=wireless&category=toys&ids=f-a,f-d", &["f-d"]),
    ];
    for (query, expected) in cases {
        let body = app.list(&format!("{query}&page_size=100")).await;
        assert_eq!(crate::helpers::ids(&body["products"]), strings(expected), "for {query}");
        assert_eq!(body["total"], expected.len(), "total for {query}");
    }

    // Filters page like the full list: the total counts every match, the page holds a slice.
    let first = app.list("tag=wireless&page_size=1").await;
    assert_eq!(first["total"], 2);
    assert_eq!(crate::helpers::ids(&first["products"]), strings(&["f-a"]));
    let second = app.list("tag=wireless&page=2&page_size=1").await;
    assert_eq!(crate::helpers::ids(&second["products"]), strings(&["f-d"]));
}

pub async fn rejects_bad_filters(backend: Backend) {
    let app = app!(backend);
    filter_catalog(&app).await;

    for (query, field) in [
        ("min_price=abc", "min_price"),
        ("max_price=abc", "max_price"),
        ("min_price=-1", "min_price"),
        ("max_price=0.001", "max_price"),
    ] {
        let fields = app.get(&format!("/api/products?{query}")).await.assert_invalid();
        assert_eq!(fields, vec![field.to_owned()], "for {query}");
    }

    let too_many = (0..101).map(|i| format!("id-{i}")).collect::<Vec<_>>().join(",");
    let fields = app.get(&format!("/api/products?ids={too_many}")).await.assert_invalid();
    assert_eq!(fields, vec!["ids".to_owned()]);
}

pub async fn search_ranks_name_matches_above_description_matches(backend: Backend) {
    let app = app!(backend);
    // Created first and with the smaller id, so neither creation order nor id order explains
    // a correct ranking.
    app.create(product(
        "rank-a",
        json!({"name": "Bookshelf speaker", "description": "Pairs well with quantum headphones", "category": "Audio"}),
    ))
    .await;
    app.create(product(
        "rank-b",
        json!({"name": "Quantum headphones", "description": "Noise cancelling", "category": "Audio"}),
    ))
    .await;
    app.create(product("rank-c", json!({"name": "Desk lamp", "description": "Bright", "category": "Home"}))).await;

    for q in ["quantum", "Quantum", "QUANTUM headphones"] {
        assert_eq!(app.search_ids(q).await, strings(&["rank-b", "rank-a"]), "for q={q}");
    }
    assert_eq!(app.search_ids("lamp").await, strings(&["rank-c"]));
    assert_eq!(app.search_ids("nothing-matches-this").await, Vec::<String>::new());

    // Results are full product documents.
    let body = app.get("/api/products/search?q=lamp").await.assert_json(StatusCode::OK);
    let lamp = app.get("/api/products/rank-c").await.assert_json(StatusCode::OK);
    assert_eq!(body, json!([lamp]));
}

pub async fn search_matches_tags_and_category(backend: Backend) {
    let app = app!(backend);
    app.create(product(
        "s-tag",
        json!({"name": "Jacket", "description": "Warm", "category": "Clothing", "tags": ["Waterproof"]}),
    ))
    .await;
    app.create(product("s-cat", json!({"name": "Rake", "description": "Sturdy", "category": "Gardening"}))).await;
    app.create(product("s-none", json!({"name": "Mug", "description": "Ceramic", "category": "Kitchen"}))).await;

    assert_eq!(app.search_ids("waterproof").await, strings(&["s-tag"]));
    assert_eq!(app.search_ids("WATERPROOF").await, strings(&["s-tag"]));
    assert_eq!(app.search_ids("gardening").await, strings(&["s-cat"]));
    assert_eq!(app.search_ids("Clothing").await, strings(&["s-tag"]));
    assert_eq!(app.search_ids("ceramic").await, strings(&["s-none"]), "description is searched too");
    let mut either = app.search_ids("waterproof gardening").await;
    either.sort();
    assert_eq!(either, strings(&["s-cat", "s-tag"]), "any term matches");
}

pub async fn search_treats_regex_syntax_as_text(backend: Backend) {
    let app = app!(backend);
    app.create(product("rx-1", json!({"name": "Alpha widget", "description": "Plain", "category": "Tools"}))).await;

    for q in [
        "(.*",
        "[a-",
        ".*",
        "*",
        "\\",
        "a|b",
        "^$",
        "(?i)",
        "+",
        "\" OR 1=1 --",
        "'; DROP TABLE products; --",
        "NEAR(a b)",
        "name:*",
        "!&|",
        "%",
        "_",
        "😀",
    ] {
        let response = app.get(&format!("/api/products/search?q={}", encode(q))).await;
        assert_eq!(response.status, StatusCode::OK, "q={q:?} answered {}: {}", response.status, response.body);
        let found = response.body.as_array().unwrap_or_else(|| panic!("q={q:?}: not an array: {}", response.body));
        assert!(found.len() <= 1, "q={q:?} matched {found:?}");
    }
    // Regex syntax around a real word still finds it, as text.
    assert_eq!(app.search_ids("(widget.*").await, strings(&["rx-1"]));
    assert_eq!(app.search_ids("[alpha-").await, strings(&["rx-1"]));
    // The catalog is intact.
    assert_eq!(app.total().await, 1);
}

pub async fn search_requires_a_query(backend: Backend) {
    let app = app!(backend);
    for path in ["/api/products/search", "/api/products/search?q=", "/api/products/search?q=%20%20"] {
        let fields = app.get(path).await.assert_invalid();
        assert_eq!(fields, vec!["q".to_owned()], "for {path}");
    }
    let long = "a".repeat(201);
    let fields = app.get(&format!("/api/products/search?q={long}")).await.assert_invalid();
    assert_eq!(fields, vec!["q".to_owned()]);
}

pub async fn search_follows_updates_and_deletes(backend: Backend) {
    let app = app!(backend);
    app.create(product("sf-1", json!({"name": "Walnut table", "tags": ["wood"]}))).await;
    assert_eq!(app.search_ids("walnut").await, strings(&["sf-1"]));

    app.patch("/api/products/sf-1", json!({"name": "Oak table", "tags": ["timber"]})).await.assert_json(StatusCode::OK);
    assert_eq!(app.search_ids("walnut").await, Vec::<String>::new(), "old name forgotten");
    assert_eq!(app.search_ids("wood").await, Vec::<String>::new(), "old tag forgotten");
    assert_eq!(app.search_ids("oak").await, strings(&["sf-1"]));
    assert_eq!(app.search_ids("timber").await, strings(&["sf-1"]));
    let found = app.get("/api/products/search?q=oak").await.assert_json(StatusCode::OK);
    assert_eq!(found[0]["name"], "Oak table", "search returns the current document");

    app.delete("/api/products/sf-1").await.assert_json(StatusCode::OK);
    assert_eq!(app.search_ids("oak").await, Vec::<String>::new());
}

pub async fn put_and_patch_change_only_the_given_fields(backend: Backend) {
    let app = app!(backend);
    let original = app
        .create(product(
            "u-1",
            json!({
                "name": "Lamp", "description": "Bright", "price": 20.0, "category": "Home",
                "tags": ["light"], "image_url": "https://img.example.com/lamp.png", "stock_quantity": 5,
            }),
        ))
        .await;

    let after_put = app.put("/api/products/u-1", json!({"price": 5.5})).await.assert_json(StatusCode::OK);
    let mut expected = original.clone();
    expected["price"] = json!(5.5);
    expected["updated_at"] = after_put["updated_at"].clone();
    assert_eq!(after_put, expected, "PUT changed only the price");
    assert!(timestamp(&after_put["updated_at"]) >= timestamp(&original["updated_at"]));
    assert_eq!(after_put["created_at"], original["created_at"]);
    assert_eq!(app.get("/api/products/u-1").await.assert_json(StatusCode::OK), after_put);

    let after_patch = app
        .patch(
            "/api/products/u-1",
            json!({"tags": ["New", "new", "Shiny"], "stock_quantity": 9, "name": null, "description": ""}),
        )
        .await
        .assert_json(StatusCode::OK);
    let mut expected = after_put.clone();
    expected["tags"] = json!(["new", "shiny"]);
    expected["stock_quantity"] = json!(9);
    expected["description"] = json!("");
    expected["updated_at"] = after_patch["updated_at"].clone();
    assert_eq!(after_patch, expected, "PATCH changed only the given fields; null left the name alone");
    assert_eq!(app.get("/api/products/u-1").await.assert_json(StatusCode::OK), after_patch);

    let renamed = app
        .put("/api/products/u-1", json!({"name": "  Desk lamp  ", "category": "Office"}))
        .await
        .assert_json(StatusCode::OK);
    assert_eq!(renamed["name"], "Desk lamp", "trimmed");
    assert_eq!(renamed["category"], "Office");
    assert_eq!(renamed["price"], json!(5.5));
    assert_eq!(renamed["image_url"], "https://img.example.com/lamp.png");

    // The list shows the update too.
    assert_eq!(app.list("").await["products"], json!([renamed]));
}

pub async fn empty_image_url_clears_the_image(backend: Backend) {
    let app = app!(backend);
    app.create(product("img-1", json!({"image_url": "https://img.example.com/a.png"}))).await;

    let replaced = app
        .patch("/api/products/img-1", json!({"image_url": "https://img.example.com/b.png"}))
        .await
        .assert_json(StatusCode::OK);
    assert_eq!(replaced["image_url"], "https://img.example.com/b.png");

    let cleared = app.put("/api/products/img-1", json!({"image_url": ""})).await.assert_json(StatusCode::OK);
    assert_eq!(cleared["image_url"], Value::Null);
    assert_eq!(cleared["name"], replaced["name"]);
    let fetched = app.get("/api/products/img-1").await.assert_json(StatusCode::OK);
    assert_eq!(fetched["image_url"], Value::Null);

    // null leaves it alone.
    app.patch("/api/products/img-1", json!({"image_url": "https://img.example.com/c.png"}))
        .await
        .assert_json(StatusCode::OK);
    let kept = app
        .patch("/api/products/img-1", json!({"image_url": null, "stock_quantity": 1}))
        .await
        .assert_json(StatusCode::OK);
    assert_eq!(kept["image_url"], "https://img.example.com/c.png");

    // An empty image on create means none.
    let created = app.create(product("img-2", json!({"image_url": ""}))).await;
    assert_eq!(created["image_url"], Value::Null);
}

pub async fn update_rejects_empty_unknown_and_invalid_bodies(backend: Backend) {
    let app = app!(backend);
    let original = app.create(product("ue-1", json!({}))).await;

    for method in [Method::PUT, Method::PATCH] {
        for body in [json!({}), json!({"name": null, "price": null})] {
            let response = app.request(method.clone(), "/api/products/ue-1", Body::Json(body), &[]).await;
            assert_eq!(response.assert_problem(StatusCode::BAD_REQUEST), "No fields to update");
        }

        let response = app.request(method.clone(), "/api/products/nope", Body::Json(json!({"name": "x"})), &[]).await;
        assert_eq!(response.assert_problem(StatusCode::NOT_FOUND), "Product nope not found");

        for (body, field) in [
            (json!({"price": 0}), "price"),
            (json!({"price": -3.5}), "price"),
            (json!({"name": ""}), "name"),
            (json!({"category": "  "}), "category"),
            (json!({"stock_quantity": -1}), "stock_quantity"),
            (json!({"image_url": "ftp://x"}), "image_url"),
            (json!({"tags": [""]}), "tags[0]"),
        ] {
            let response = app.request(method.clone(), "/api/products/ue-1", Body::Json(body.clone()), &[]).await;
            assert_eq!(response.assert_invalid(), vec![field.to_owned()], "{method} {body}");
        }
    }
    let fetched = app.get("/api/products/ue-1").await.assert_json(StatusCode::OK);
    assert_eq!(fetched, original, "failed updates changed nothing");
    app.get("/api/products/nope").await.assert_problem(StatusCode::NOT_FOUND);
}

pub async fn deletes_then_answers_not_found(backend: Backend) {
    let app = app!(backend);
    app.create(product("del-1", json!({}))).await;
    app.create(product("del-2", json!({}))).await;

    let body = app.delete("/api/products/del-1").await.assert_json(StatusCode::OK);
    assert_eq!(body, json!({"message": "Product del-1 deleted successfully"}));

    let response = app.get("/api/products/del-1").await;
    assert_eq!(response.assert_problem(StatusCode::NOT_FOUND), "Product del-1 not found");
    let response = app.delete("/api/products/del-1").await;
    assert_eq!(response.assert_problem(StatusCode::NOT_FOUND), "Product del-1 not found");
    let response = app.put("/api/products/del-1", json!({"name": "Back"})).await;
    assert_eq!(response.assert_problem(StatusCode::NOT_FOUND), "Product del-1 not found");

    assert_eq!(app.list_ids("").await, strings(&["del-2"]));
    assert_eq!(app.total().await, 1);

    // The id is free again.
    app.create(product("del-1", json!({"name": "Reborn"}))).await;
    assert_eq!(app.get("/api/products/del-1").await.assert_json(StatusCode::OK)["name"], "Reborn");
}

pub async fn rejects_invalid_path_ids(backend: Backend) {
    let app = app!(backend);
    app.create(product("valid-1", json!({}))).await;
    let too_long = "a".repeat(65);

    for id in ["bad%20id", "-leading-dash", "a%2Fb", "semi%3Bcolon", "quote%27", too_long.as_str()] {
        let path = format!("/api/products/{id}");
        for (method, body) in [
            (Method::GET, Body::Empty),
            (Method::PUT, Body::Json(json!({"name": "x"}))),
            (Method::PATCH, Body::Json(json!({"name": "x"}))),
            (Method::DELETE, Body::Empty),
        ] {
            let response = app.request(method.clone(), &path, body, &[]).await;
            assert_eq!(response.assert_problem(StatusCode::BAD_REQUEST), "Invalid product ID", "{method} {path}");
        }
    }
    // The longest valid id works.
    let longest = "b".repeat(64);
    app.create(product(&longest, json!({}))).await;
    app.get(&format!("/api/products/{longest}")).await.assert_json(StatusCode::OK);
    assert_eq!(app.total().await, 2);
}

pub async fn health_and_unknown_routes(backend: Backend) {
    let app = app!(backend);
    let health = app.get("/health").await.assert_json(StatusCode::OK);
    assert_eq!(health, json!({"status": "UP", "service": "product-service", "auth_enabled": true}));

    let ready = app.get("/ready").await.assert_json(StatusCode::OK);
    assert_eq!(ready["status"], "READY");

    app.get("/api/nothing-here").await.assert_problem(StatusCode::NOT_FOUND);
    let response = app.request(Method::POST, "/api/products/x", Body::Json(json!({})), &[]).await;
    response.assert_problem(StatusCode::METHOD_NOT_ALLOWED);
    let response = app.request(Method::DELETE, "/api/products", Body::Empty, &[]).await;
    response.assert_problem(StatusCode::METHOD_NOT_ALLOWED);
}

#[track_caller]
fn assert_envelope(event: &crate::helpers::Event, event_type: &str, product_id: &str) {
    let p = &event.payload;
    assert_eq!(event.topic, crate::helpers::PRODUCT_UPDATED);
    assert_eq!(event.key, product_id, "message key is the product id");
    assert_eq!(p["event_type"], event_type, "{p}");
    assert_eq!(p["schema_version"], 1, "{p}");
    assert_eq!(p["product_id"], product_id, "{p}");
    let event_id = p["event_id"].as_str().unwrap_or_else(|| panic!("event_id missing: {p}"));
    let event_id = uuid::Uuid::parse_str(event_id).unwrap_or_else(|e| panic!("event_id {event_id}: {e}"));
    assert_eq!(event_id.get_version_num(), 7, "event ids are UUIDv7");
    timestamp(&p["occurred_at"]);
    assert!(p["timestamp"].is_string(), "the original's timestamp field: {p}");
}

pub async fn every_change_publishes_an_event(backend: Backend) {
    let app = app!(backend);
    let created = app.create(product("ev-1", json!({"tags": ["A"]}))).await;
    let events = app.events_for("ev-1", 1).await;
    assert_envelope(&events[0], "PRODUCT_CREATED", "ev-1");
    assert_eq!(events[0].payload["product"], created, "the event carries the created product");

    let updated = app.put("/api/products/ev-1", json!({"price": 1.5})).await.assert_json(StatusCode::OK);
    let patched = app.patch("/api/products/ev-1", json!({"name": "Renamed"})).await.assert_json(StatusCode::OK);
    let events = app.events_for("ev-1", 3).await;
    assert_envelope(&events[1], "PRODUCT_UPDATED", "ev-1");
    assert_eq!(events[1].payload["product"], updated);
    assert_envelope(&events[2], "PRODUCT_UPDATED", "ev-1");
    assert_eq!(events[2].payload["product"], patched);

    app.delete("/api/products/ev-1").await.assert_json(StatusCode::OK);
    let events = app.events_for("ev-1", 4).await;
    assert_eq!(events.len(), 4, "{events:#?}");
    assert_envelope(&events[3], "PRODUCT_DELETED", "ev-1");
    assert_eq!(events[3].payload["product"], Value::Null);

    // A generated id is the key too.
    let generated = app.create(json!({"name": "Anonymous", "description": "", "price": 2.0, "category": "Misc"})).await;
    let id = generated["id"].as_str().expect("generated id");
    let events = app.events_for(id, 1).await;
    assert_envelope(&events[0], "PRODUCT_CREATED", id);

    let mut event_ids: Vec<Value> = app.all_events().await.iter().map(|e| e.payload["event_id"].clone()).collect();
    let count = event_ids.len();
    event_ids.sort_by_key(Value::to_string);
    event_ids.dedup();
    assert_eq!(event_ids.len(), count, "event ids are unique");
    assert_eq!(count, 5);
}

pub async fn failed_writes_publish_nothing(backend: Backend) {
    let app = app!(backend);
    app.create(product("fw-1", json!({}))).await;

    app.post("/api/products", product("fw-1", json!({}))).await.assert_problem(StatusCode::CONFLICT);
    app.post("/api/products", product("fw-bad", json!({"price": 0}))).await.assert_invalid();
    app.put("/api/products/fw-1", json!({})).await.assert_problem(StatusCode::BAD_REQUEST);
    app.put("/api/products/fw-1", json!({"price": -1})).await.assert_invalid();
    app.patch("/api/products/fw-missing", json!({"name": "x"})).await.assert_problem(StatusCode::NOT_FOUND);
    app.delete("/api/products/fw-missing").await.assert_problem(StatusCode::NOT_FOUND);
    app.delete("/api/products/bad%20id").await.assert_problem(StatusCode::BAD_REQUEST);

    // The relay publishes in commit order: once the marker's event is out, any event a failed
    // write had committed would be out too.
    app.create(product("fw-marker", json!({}))).await;
    app.events_for("fw-marker", 1).await;

    let events = app.all_events().await;
    let about: Vec<&str> = events.iter().filter_map(|e| e.payload["product_id"].as_str()).collect();
    assert_eq!(about, ["fw-1", "fw-marker"], "only the two successful creates published");
    assert_envelope(&events[0], "PRODUCT_CREATED", "fw-1");
}

/// Products created within one second must still list in creation order. Seeded with chosen
/// timestamps whose fractions differ in length (`:05Z`, `:05.1Z`, `:05.12Z`, …), and with ids
/// in the opposite order so the id tie-break cannot hide a wrong timestamp order.
pub async fn lists_in_creation_order_within_a_second(backend: Backend) {
    let base = OffsetDateTime::now_utc().replace_nanosecond(0).expect("a whole second");
    let offsets_us = [0, 100_000, 120_000, 123_456, 500_000, 1_000_000];
    let seed: Vec<product::domain::Product> = offsets_us
        .iter()
        .enumerate()
        .map(|(i, us)| {
            let at = base + time::Duration::microseconds(*us);
            product::domain::Product {
                id: format!("seq-{}", offsets_us.len() - i),
                name: format!("Seeded {i}"),
                description: String::new(),
                price: contracts::Money::from_cents(100),
                category: "Seeded".into(),
                tags: Vec::new(),
                image_url: None,
                stock_quantity: 0,
                attributes: serde_json::Map::new(),
                created_at: at,
                updated_at: at,
            }
        })
        .collect();
    let Some(app) = crate::helpers::spawn_app_seeded(backend, &seed).await else {
        return;
    };
    let expected: Vec<String> = seed.iter().map(|p| p.id.clone()).collect();

    assert_eq!(app.list_ids("page_size=100").await, expected, "creation order");
    let mut paged = app.list_ids("page=1&page_size=4").await;
    paged.extend(app.list_ids("page=2&page_size=4").await);
    assert_eq!(paged, expected, "creation order across pages");
    assert_eq!(app.list_ids("category=seeded&page_size=100").await, expected, "filtered lists too");
}

/// Control characters break emails, headers and logs: refused in one-line fields, and in a
/// description allowed only as line breaks and tabs.
pub async fn rejects_control_characters(backend: Backend) {
    let app = app!(backend);
    let refused = [
        (product("c-1", json!({"name": "Lamp\u{0}"})), "name"),
        (product("c-2", json!({"name": "Lamp\nBcc: x@evil.test"})), "name"),
        (product("c-3", json!({"category": "Lights\r"})), "category"),
        (product("c-4", json!({"tags": ["ok", "bad\u{1b}[31m"]})), "tags[1]"),
        (product("c-5", json!({"description": "fine\u{0}"})), "description"),
        (product("c-6", json!({"image_url": "https://x.test/a\n.png"})), "image_url"),
    ];
    for (body, field) in refused {
        assert_eq!(app.post("/api/products", body.clone()).await.assert_invalid(), [field], "{body}");
    }
    let multiline = app.create(product("c-ok", json!({"description": "Line one\nLine two\tindented"}))).await;
    assert_eq!(multiline["description"], "Line one\nLine two\tindented");
    let fields = app.put("/api/products/c-ok", json!({"name": "a\u{7}b"})).await.assert_invalid();
    assert_eq!(fields, ["name"]);
    assert_eq!(app.total().await, 1, "only the clean product was stored");
}
