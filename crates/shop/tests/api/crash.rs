//! `kill -9` of `shop up` in the middle of a storm of orders, cancels and shipments, then a
//! restart and a retry of every unanswered request with its key. Within seconds the books
//! must balance: stock held equals what open orders hold, every order has exactly one
//! confirmation email and every cancelled order one cancellation email, and no
//! Idempotency-Key has two orders.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use testkit::Client;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

const PRODUCTS: [&str; 4] = ["crash-a", "crash-b", "crash-c", "crash-d"];
const STOCK: i64 = 100_000;

struct ShopUp {
    child: Child,
    client: Client,
}

/// A free port (bound, read, released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn start(data_dir: &Path, ports: &[u16; 7]) -> ShopUp {
    let child = Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["up", "--no-demo", "--data-dir"])
        .arg(data_dir)
        .envs(crate::helpers::PORT_VARS.iter().zip(ports).map(|(n, p)| (*n, p.to_string())))
        // The embedded log of its own data directory, whatever the test run's environment.
        .env_remove("KAFKA_BROKERS")
        .env_remove("INSTANCE_ID")
        // Holds whose order died with the process are voided and released within seconds.
        .env("RESERVATION_TTL_SECS", "1")
        .env("RUST_LOG", "warn")
        .env("AI_FOLLOW_UP_EMAILS", "false")
        // One client storming: no per-client budget.
        .env("RATE_LIMIT_PER_MINUTE", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = Client::new(format!("http://127.0.0.1:{}", ports[0]));
    let up = testkit::eventually(Duration::from_secs(20), || async {
        client.try_request(Method::GET, "/health", testkit::Body::Empty, &[]).await.is_ok_and(|r| r.status.is_success())
    })
    .await;
    assert!(up, "shop up did not start");
    // An administrator's token from the development identity provider's key in the data dir.
    let token = Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["token", "--email", "admin@example.com", "--role", "admin", "--data-dir"])
        .arg(data_dir)
        .env("IDENTITY_PORT", ports[6].to_string())
        .output()
        .await
        .unwrap();
    assert!(token.status.success(), "shop token: {}", String::from_utf8_lossy(&token.stderr));
    let stdout = String::from_utf8_lossy(&token.stdout);
    let client = client.with_token(stdout.lines().last().unwrap_or_default().trim());
    ShopUp { child, client }
}

/// What one client did, and what it was told.
#[derive(Debug, Clone)]
enum Op {
    Place { key: String, body: Value, answered: Option<String> },
    Change { order_id: String, path: String, body: Option<Value>, answered: bool },
}

async fn storm(client: Client, worker: usize, ops: Arc<Mutex<Vec<Op>>>) {
    for i in 0.. {
        let key = format!("crash-{worker}-{i}");
        let lines: Vec<Value> = (0..1 + (i % 2))
            .map(|l| json!({"product_id": PRODUCTS[(worker + i + l) % PRODUCTS.len()], "quantity": 1 + (i + l) % 3}))
            .collect();
        let body =
            json!({"customer_name": "Crash Tester", "customer_email": format!("{key}@example.com"), "items": lines});
        let placed = client.try_request(Method::POST, "/api/orders", body.clone(), &[("idempotency-key", &key)]).await;
        let order_id = match &placed {
            Ok(reply) if reply.status == StatusCode::CREATED => reply.body["id"].as_str().map(str::to_owned),
            _ => None,
        };
        ops.lock().await.push(Op::Place { key, body, answered: order_id.clone() });
        let Some(order_id) = order_id else {
            if placed.is_err() {
                return; // the process is gone
            }
            continue;
        };
        let change = match i % 4 {
            0 => Some((format!("/api/orders/{order_id}/cancel"), None)),
            1 => Some((format!("/api/orders/{order_id}/status"), Some(json!({"status": "SHIPPED"})))),
            _ => None,
        };
        if let Some((path, body)) = change {
            let sent = client.try_request(Method::PATCH, &path, body.clone(), &[]).await;
            let answered = sent.as_ref().is_ok_and(|r| r.status == StatusCode::OK);
            ops.lock().await.push(Op::Change { order_id, path, body, answered });
            if sent.is_err() {
                return;
            }
        }
    }
}

/// Every order, all pages.
async fn all_orders(client: &Client) -> Vec<Value> {
    let mut orders = Vec::new();
    for page in 1.. {
        let listed = client.get(&format!("/api/orders?page={page}&page_size=100")).await;
        assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
        let batch = listed.body.as_array().cloned().unwrap_or_default();
        if batch.is_empty() {
            return orders;
        }
        orders.extend(batch);
    }
    orders
}

fn eml_texts(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect()
}

/// What the books should say, or why they do not (yet).
async fn books_balance(client: &Client, mail: &Path) -> Result<usize, String> {
    let orders = all_orders(client).await;
    let mut held: HashMap<&str, i64> = HashMap::new();
    let mut shipped: HashMap<&str, i64> = HashMap::new();
    for order in &orders {
        for line in order["items"].as_array().into_iter().flatten() {
            let product = line["product_id"].as_str().unwrap_or_default();
            let quantity = line["quantity"].as_i64().unwrap_or_default();
            match order["status"].as_str() {
                Some("CONFIRMED") => *held.entry(product).or_default() += quantity,
                Some("SHIPPED") => *shipped.entry(product).or_default() += quantity,
                _ => {}
            }
        }
    }
    for product in PRODUCTS {
        let item = client.get(&format!("/api/inventory/{product}")).await.body;
        let expected =
            (STOCK - shipped.get(product).copied().unwrap_or_default(), held.get(product).copied().unwrap_or_default());
        let actual = (item["quantity"].as_i64().unwrap_or(-1), item["reserved_qty"].as_i64().unwrap_or(-1));
        if actual != expected {
            return Err(format!("{product}: (quantity, reserved) {actual:?}, orders say {expected:?}"));
        }
    }
    let emails = eml_texts(mail);
    for order in &orders {
        let number = order["order_number"].as_str().unwrap_or_default();
        let count = |word: &str| emails.iter().filter(|e| e.contains(number) && e.contains(word)).count();
        if count("Confirmed") != 1 {
            return Err(format!("{number}: {} confirmation emails", count("Confirmed")));
        }
        let cancellations = if order["status"] == "CANCELLED" { 1 } else { 0 };
        if count("Cancelled") != cancellations {
            return Err(format!("{number} ({}): {} cancellation emails", order["status"], count("Cancelled")));
        }
    }
    Ok(orders.len())
}

async fn crash_and_recover(kill_after: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let ports = [free_port(), free_port(), free_port(), free_port(), free_port(), free_port(), free_port()];
    let mut shop = start(&data, &ports).await;
    for product in PRODUCTS {
        let body =
            json!({"id": product, "name": product, "description": "crash test", "price": 3.5, "category": "Test"});
        assert_eq!(shop.client.post("/api/products", body).await.status, StatusCode::CREATED);
        let stock = json!({"product_id": product, "product_name": product, "quantity": STOCK});
        assert_eq!(shop.client.post("/api/inventory", stock).await.status, StatusCode::CREATED);
    }

    let ops = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..12).map(|w| tokio::spawn(storm(shop.client.clone(), w, ops.clone()))).collect();
    // Timed from the storm's first answers, not from its start: on a loaded machine the
    // first requests (keys fetched, tokens checked) can take longer than the earliest kill.
    let under_way = testkit::eventually(Duration::from_secs(20), || async { ops.lock().await.len() > 24 }).await;
    assert!(under_way, "the storm got under way");
    tokio::time::sleep(kill_after).await;
    shop.child.start_kill().unwrap(); // SIGKILL
    shop.child.wait().await.unwrap();
    for worker in workers {
        worker.await.unwrap();
    }

    let shop = start(&data, &ports).await;
    let client = &shop.client;
    let ops = ops.lock().await.clone();
    let mut keys = 0;
    for op in &ops {
        match op {
            Op::Place { key, body, answered } => {
                keys += 1;
                let mut reply =
                    client.request(Method::POST, "/api/orders", body.clone(), &[("idempotency-key", key)]).await;
                // A hold voided by the crash is refused once; the key then starts afresh.
                for _ in 0..20 {
                    if reply.status == StatusCode::CREATED {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    reply =
                        client.request(Method::POST, "/api/orders", body.clone(), &[("idempotency-key", key)]).await;
                }
                assert_eq!(reply.status, StatusCode::CREATED, "{key}: {:?}", reply.body);
                if let Some(id) = answered {
                    assert_eq!(reply.body["id"].as_str(), Some(id.as_str()), "{key}: the retry replays the order");
                }
            }
            Op::Change { order_id, path, body, answered: false } => {
                let reply = client.request(Method::PATCH, path, body.clone(), &[]).await;
                assert_eq!(reply.status, StatusCode::OK, "{order_id} {path}: {:?}", reply.body);
            }
            Op::Change { .. } => {}
        }
    }
    assert!(keys > 12, "the storm was under way before the kill ({keys} orders)");

    let mail = data.join("mail");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match books_balance(client, &mail).await {
            Ok(_) => break,
            Err(why) if tokio::time::Instant::now() > deadline => {
                let kept = dir.keep();
                panic!("5 s after the restart the books do not balance: {why} (data in {})", kept.display())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }

    // No key has two orders: every key's customer has exactly one.
    for op in &ops {
        if let Op::Place { key, .. } = op {
            let mine = client.get(&format!("/api/orders/user/{key}@example.com")).await;
            assert_eq!(mine.body.as_array().map(Vec::len), Some(1), "{key}: {:?}", mine.body);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_early_in_the_storm_loses_and_doubles_nothing() {
    crash_and_recover(Duration::from_millis(150)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_storm_loses_and_doubles_nothing() {
    crash_and_recover(Duration::from_millis(700)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_late_in_the_storm_loses_and_doubles_nothing() {
    crash_and_recover(Duration::from_millis(1_600)).await;
}
