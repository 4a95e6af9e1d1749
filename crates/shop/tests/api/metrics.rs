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
    let mut every = String::new();
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
        // Its own series only: under `shop up` the six share one recorder, and a scraper of
        // every port must not count a figure six times.
        let labelled: Vec<&str> = text.lines().filter_map(|l| l.split("service=\"").nth(1)).collect();
        assert!(!labelled.is_empty(), "{service}: {text}");
        assert!(labelled.iter().all(|rest| rest.starts_with(&format!("{service}\""))), "{service}: {text}");
        every.push_str(text);
    }
    let text = every;
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
    // Each consumer reports how far behind it is: caught up once the email is out.
    for (group, topic) in [("notification-service", "order-placed"), ("inventory-service", "order-cancelled")] {
        let labels = [format!("group=\"{group}\""), format!("topic=\"{topic}\"")];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        assert!(sample(&text, "consumer_lag", &labels).is_some_and(|lag| lag >= 0.0), "{group} {topic}: {text}");
    }
}

/// A real Prometheus (Debian's) scrapes every service of a running platform and evaluates the
/// alert rules of `deploy/prometheus/alerts.yml` against what it scraped: every target up,
/// every rule healthy (a rule naming a label or function the series do not fit fails here).
#[tokio::test]
async fn prometheus_scrapes_every_service_and_evaluates_the_alert_rules() {
    let Some(prometheus) = on_path("prometheus") else {
        testkit::missing_server::<()>("prometheus", "prometheus is not on PATH (Debian's prometheus package)");
        return;
    };
    let Some(app) = spawn(Backend::Sqlite, Options::default()).await else { return };
    app.stock_product("scrape-1", 2.0, 10).await;
    let placed = app.post("/api/orders", order_body("scrape@example.com", &[("scrape-1", 1)])).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);

    let ports = app.ports();
    let targets = [ports.gateway, ports.product, ports.order, ports.inventory, ports.notification, ports.ai]
        .map(|port| format!("\"127.0.0.1:{port}\""))
        .join(", ");
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus/alerts.yml");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             rule_files: [{rules:?}]\n\
             scrape_configs:\n  - job_name: shop\n    static_configs:\n      - targets: [{targets}]\n"
        ),
    )
    .expect("config written");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("port").port();
    let mut server = std::process::Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).expect("log file"))
        .spawn()
        .expect("prometheus starts");
    let listening = testkit::eventually(Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    if !listening {
        let _ = server.kill();
        let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
        panic!("prometheus did not listen on {port}: {log}");
    }
    let api = Client::new(format!("http://127.0.0.1:{port}"));

    let scraped = testkit::eventually(Duration::from_secs(60), || async {
        let up = api.get("/api/v1/query?query=up").await;
        let series = up.body["data"]["result"].as_array().cloned().unwrap_or_default();
        series.len() == 6 && series.iter().all(|s| s["value"][1] == "1")
    })
    .await;
    let rules_healthy = testkit::eventually(Duration::from_secs(30), || async {
        let reply = api.get("/api/v1/rules").await;
        let rules: Vec<serde_json::Value> = reply.body["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        !rules.is_empty() && rules.iter().all(|r| r["health"] == "ok")
    })
    .await;
    // Each port shows only its own service's series, so the sum over every target is the
    // order service's count, not six times it.
    let orders = api.get("/api/v1/query?query=sum(orders_placed_total)").await;
    let order_targets = api.get("/api/v1/query?query=count(orders_placed_total)").await;
    let targets = api.get("/api/v1/targets").await;
    let rules = api.get("/api/v1/rules").await;
    let _ = server.kill();
    let _ = server.wait();
    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    assert!(scraped, "not every service was scraped: {}\n{log}", targets.text);
    assert!(rules_healthy, "alert rules did not evaluate cleanly: {}", rules.text);
    // Other tests in this process place orders too (one recorder per process): at least ours.
    let placed: f64 = orders.body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    assert!(placed >= 1.0, "{}", orders.text);
    assert_eq!(
        order_targets.body["data"]["result"][0]["value"][1], "1",
        "one target exports it: {}",
        order_targets.text
    );
}

fn on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn promtool() -> Option<std::path::PathBuf> {
    let found = on_path("promtool");
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
