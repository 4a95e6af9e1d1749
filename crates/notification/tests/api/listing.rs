//! `GET /api/notifications` (paging, filtering, validation) and `/health`.

use crate::helpers::{ADMIN, Backend, CUSTOMER, int, inventory_low, order_placed};
use http::StatusCode;
use serde_json::{Value, json};

fn event_ids(page: &Value) -> Vec<String> {
    page["notifications"]
        .as_array()
        .unwrap_or_else(|| panic!("no notifications[]: {page}"))
        .iter()
        .map(|n| n["event_id"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn lists_in_pages_newest_first(backend: Backend) {
    let app = app!(backend);
    let mut published = Vec::new();
    for _ in 0..5 {
        let event = order_placed();
        app.publish(&event).await;
        published.push(event.event_id.to_string());
    }
    app.wait_for_notifications(CUSTOMER, 5).await;
    // Order across topics is not guaranteed (as on Kafka): publish the alert only after the
    // orders are done, so it is certainly the newest.
    let low = inventory_low("prod-009", "Webcam", 1, 5);
    app.publish(&low).await;
    app.wait_for_event(ADMIN, low.event_id).await;

    let newest_first: Vec<String> = published.iter().rev().cloned().collect();
    let mut seen = Vec::new();
    for page in 1..=3 {
        let body = app.notifications_page(&format!("email={CUSTOMER}&page={page}&page_size=2")).await;
        assert_eq!(int(&body, "total"), 5, "{body}");
        assert_eq!(int(&body, "page"), page, "{body}");
        assert_eq!(int(&body, "page_size"), 2, "{body}");
        let ids = event_ids(&body);
        assert_eq!(ids.len(), if page < 3 { 2 } else { 1 }, "{body}");
        for n in body["notifications"].as_array().unwrap() {
            assert_eq!(n["recipient"], CUSTOMER, "{n}");
        }
        seen.extend(ids);
    }
    assert_eq!(seen, newest_first, "pages cover every notification once, newest first");

    let beyond = app.notifications_page(&format!("email={CUSTOMER}&page=4&page_size=2")).await;
    assert_eq!(event_ids(&beyond), Vec::<String>::new(), "{beyond}");
    assert_eq!(int(&beyond, "total"), 5, "{beyond}");

    // Without a filter: everyone's, newest first; the default page.
    let everyone = app.notifications_page("").await;
    assert_eq!(int(&everyone, "total"), 6, "{everyone}");
    assert_eq!(int(&everyone, "page"), 1, "{everyone}");
    assert_eq!(int(&everyone, "page_size"), 20, "{everyone}");
    assert_eq!(event_ids(&everyone)[0], low.event_id.to_string(), "newest first: {everyone}");
    assert_eq!(event_ids(&everyone)[1..], newest_first[..], "{everyone}");

    let admin = app.notifications_page(&format!("email={ADMIN}")).await;
    assert_eq!(event_ids(&admin), [low.event_id.to_string()], "{admin}");
    let stranger = app.notifications_page("email=nobody@example.com").await;
    assert_eq!(int(&stranger, "total"), 0, "{stranger}");

    let largest = app.notifications_page("page_size=100").await;
    assert_eq!(event_ids(&largest).len(), 6, "{largest}");
}

pub async fn rejects_out_of_range_paging(backend: Backend) {
    let app = app!(backend);
    for (query, field) in [
        ("page_size=101", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=-5", "page_size"),
        ("page=0", "page"),
        ("page=-1&page_size=10", "page"),
    ] {
        let reply = app.get(&format!("/api/notifications?{query}")).await;
        let fields = reply.assert_invalid();
        assert!(fields.iter().any(|f| f == field), "{query} names {field}: {}", reply.body);
    }
    for query in ["page=abc", "page_size=ten"] {
        app.get(&format!("/api/notifications?{query}")).await.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

pub async fn health_and_unknown_routes(backend: Backend) {
    let app = app!(backend);
    let health = app.get("/health").await.assert_json(StatusCode::OK);
    assert_eq!(health, json!({"status": "UP", "service": "notification-service", "auth_enabled": true}));
    let ready = app.get("/ready").await.assert_json(StatusCode::OK);
    assert_eq!(ready["service"], "notification-service", "{ready}");
    app.get("/api/nothing-here").await.assert_problem(StatusCode::NOT_FOUND);
}
