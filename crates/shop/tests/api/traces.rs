//! One order is one trace: an OTLP receiver on loopback gets the gateway's span, the order
//! and inventory services' spans, the outbox's publish span and the notification consumer's
//! span, all under the trace id the client sent in `traceparent`.

use crate::helpers::{Backend, Options, order_body, spawn};
use http::StatusCode;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every span the receiver got: (trace id, span id, parent span id, name, service attribute).
type Spans = Arc<Mutex<Vec<(String, String, String, String, String)>>>;

fn attribute(span: &Value, key: &str) -> String {
    span["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["key"] == key)
        .and_then(|a| a["value"]["stringValue"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// An OTLP/HTTP (JSON) trace receiver: `POST /v1/traces`.
async fn receiver(spans: Spans) -> String {
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let spans = spans.clone();
            async move {
                let export: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let mut got = spans.lock().unwrap();
                for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        for span in scope["spans"].as_array().into_iter().flatten() {
                            got.push((
                                span["traceId"].as_str().unwrap_or_default().to_lowercase(),
                                span["spanId"].as_str().unwrap_or_default().to_lowercase(),
                                span["parentSpanId"].as_str().unwrap_or_default().to_lowercase(),
                                span["name"].as_str().unwrap_or_default().to_owned(),
                                attribute(span, "service"),
                            ));
                        }
                    }
                }
                axum::Json(serde_json::json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_is_one_trace_from_the_gateway_to_the_notification_consumer() {
    let spans: Spans = Arc::default();
    let endpoint = receiver(spans.clone()).await;
    // The process's provider (other tests' spans go there too; they have other trace ids).
    let provider = kit::trace::install("shop-test", Some(&kit::trace::OtlpConfig { endpoint, json: true }))
        .expect("exporter built");
    let Some(app) = spawn(Backend::Sqlite, Options::default()).await else { return };
    app.stock_product("traced-1", 5.0, 10).await;

    let trace = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    let traceparent = format!("00-{trace}-00f067aa0ba902b7-01");
    let placed = app
        .with_header("traceparent", &traceparent)
        .post("/api/orders", order_body("traced@example.com", &[("traced-1", 1)]))
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    let number = placed.body["order_number"].as_str().unwrap_or_default().to_owned();
    assert!(testkit::eventually(Duration::from_secs(15), || async { !app.emails_with(&[&number]).is_empty() }).await);

    let ours = || -> Vec<(String, String, String, String, String)> {
        spans.lock().unwrap().iter().filter(|s| s.0 == trace).cloned().collect()
    };
    let has = |name: &str, service: &str| ours().iter().any(|s| s.3 == name && s.4 == service);
    let complete = testkit::eventually(Duration::from_secs(20), || {
        let provider = provider.clone();
        async move {
            let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
            has("POST /api/orders", "gateway")
                && has("POST /api/orders", "order")
                && has("POST /api/inventory/reservations", "inventory")
                && has("publish order-placed", "order")
                && has("consume order-placed", "notification")
        }
    })
    .await;
    let got = ours();
    assert!(complete, "spans of trace {trace}: {got:#?}");

    // Parent links: the gateway's span is the client's child; the order service's is the
    // gateway's; the consumer's is the publish's.
    let span = |name: &str, service: &str| got.iter().find(|s| s.3 == name && s.4 == service).cloned().unwrap();
    let gateway = span("POST /api/orders", "gateway");
    assert_eq!(gateway.2, "00f067aa0ba902b7");
    assert_eq!(span("POST /api/orders", "order").2, gateway.1);
    let publish = span("publish order-placed", "order");
    assert_eq!(span("consume order-placed", "notification").2, publish.1);
}
