//! `/metrics` on every service: Prometheus text with RED figures per route and the order,
//! event and email counters the dashboards and alert rules read (`deploy/metrics.txt`).

use crate::helpers::{Backend, Options, order_body, spawn};
use http::StatusCode;
use std::time::Duration;
use testkit::Client;

/// The value of the first sample of `name` whose labels contain every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

pub async fn every_service_exports_red_and_business_metrics(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("metrics-1", 2.0, 100).await;
    let placed = app.post("/api/orders", order_body("metrics@example.com", &[("metrics-1", 1)])).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    let number = placed.body["order_number"].as_str().unwrap_or_default().to_owned();
    assert!(testkit::eventually(Duration::from_secs(10), || async { !app.emails_with(&[&number]).is_empty() }).await);
    // Beyond the stock: a reservation conflict.
    let refused = app.post("/api/orders", order_body("metrics@example.com", &[("metrics-1", 1000)])).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);

    assert_eq!(app.get("/api/products/metrics-1").await.status, StatusCode::OK);

    let ports = app.ports();
    for (service, port) in [
        ("gateway", ports.gateway),
        ("product", ports.product),
        ("order", ports.order),
        ("inventory", ports.inventory),
        ("notification", ports.notification),
        ("ai", ports.ai),
    ] {
        // Public, like the original's: no token needed.
        let scraped = Client::new(format!("http://127.0.0.1:{port}")).get("/metrics").await;
        assert_eq!(scraped.status, StatusCode::OK, "{service}: {}", scraped.text);
        assert!(scraped.header("content-type").unwrap_or_default().starts_with("text/plain"), "{service}");
        let text = &scraped.text;
        assert!(text.contains("# TYPE http_requests_total counter"), "{service}: {text}");
        assert!(text.contains("# TYPE http_request_duration_seconds histogram"), "{service}: {text}");
        if let Some(promtool) = promtool() {
            check_with_promtool(&promtool, text, service);
        }
    }
    let text = Client::new(app.base.clone()).get("/metrics").await.text;
    // Routes by template, never by raw path (one series per id would grow without bound).
    let placed_route = ["service=\"order\"", "route=\"/api/orders\"", "method=\"POST\"", "status=\"201\""];
    assert!(sample(&text, "http_requests_total", &placed_route).is_some_and(|n| n >= 1.0), "{text}");
    assert!(!text.contains(&format!("route=\"/api/orders/{}", placed.body["id"].as_str().unwrap_or("-"))), "{text}");
    assert!(text.contains("route=\"/api/products/{id}\""), "product reads by template: {text}");
    let counted = |name: &str, labels: &[&str]| sample(&text, name, labels).is_some_and(|n| n >= 1.0);
    assert!(counted("orders_placed_total", &[]), "{text}");
    assert!(counted("reservation_conflicts_total", &[]), "{text}");
    assert!(counted("events_published_total", &["topic=\"order-placed\""]), "{text}");
    assert!(counted("events_consumed_total", &["group=\"notification-service\""]), "{text}");
    assert!(counted("emails_sent_total", &["kind=\"ORDER_CONFIRMED\""]), "{text}");
    // Gauges every relay reports from its start (0 when the outbox is empty).
    for service in ["product", "order", "inventory", "notification"] {
        let label = format!("service=\"{service}\"");
        assert!(sample(&text, "outbox_backlog", &[&label]).is_some(), "{service}: {text}");
        assert!(sample(&text, "outbox_oldest_age_seconds", &[&label]).is_some_and(|a| a >= 0.0), "{service}: {text}");
    }
}

fn promtool() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file());
    if found.is_none() {
        testkit::missing_server::<()>("promtool", "promtool is not on PATH (Debian's prometheus package has it)");
    }
    found
}

/// `promtool check metrics` reads the exposition from standard input; lint problems (names,
/// help texts) are reported but only a parse failure fails it.
fn check_with_promtool(promtool: &std::path::Path, text: &str, service: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("written");
    let output = child.wait_with_output().expect("promtool ran");
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!said.contains("error while linting"), "{service}: promtool: {said}");
}
