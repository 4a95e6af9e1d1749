//! A MongoDB outage (`TEST_MONGODB_URL`; skipped without it unless
//! `SHOP_REQUIRE_TEST_SERVERS=1`): answered with 503 and `Retry-After`, never 500, and
//! recovered from without a restart. A test binary of its own: a store failure is remembered
//! process-wide for readiness (`kit::db::record_unavailable`), which would make the other
//! tests' `/ready` fail for a few seconds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "api/helpers.rs"]
#[allow(dead_code, unused_imports)] // shared with the api tests, which use all of it
mod helpers;

use helpers::{Backend, product, spawn_app_with};
use http::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use testkit::Stores;
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy in front of MongoDB that a test can cut (dropping every connection and
/// refusing new ones) and restore.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flag, live) = (cut.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                live.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { port, cut, connections }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// MongoDB going away answers 503 with `Retry-After` (not 500) and makes the service unready;
/// when it comes back, writes work again and their events go out, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_answers_503_and_recovers_without_a_restart() {
    let Some(stores) = Stores::new(Backend::Mongo).await else { return };
    let upstream = stores.options("product").url;
    let host = upstream.trim_start_matches("mongodb://").split(['/', '?', ',']).next().unwrap().to_owned();
    let host = host.rsplit_once('@').map_or(host.clone(), |(_, h)| h.to_owned());
    let proxy = Proxy::start(host).await;
    // Direct: the driver must not bypass the proxy for the hosts the server announces.
    let url = format!("mongodb://127.0.0.1:{}/?directConnection=true&serverSelectionTimeoutMS=1000", proxy.port);
    let app = spawn_app_with(stores, Some(url)).await;
    app.create(product("before", json!({}))).await;

    proxy.cut();
    let write = app.post("/api/products", product("during", json!({}))).await;
    write.assert_problem(StatusCode::SERVICE_UNAVAILABLE);
    assert!(write.header("retry-after").is_some(), "Retry-After: {:?}", write.body);
    app.get("/api/products/before").await.assert_problem(StatusCode::SERVICE_UNAVAILABLE);
    app.get("/ready").await.assert_problem(StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore();
    let recovered = testkit::eventually(Duration::from_secs(15), || async {
        app.post("/api/products", product("after", json!({}))).await.status == StatusCode::CREATED
    })
    .await;
    assert!(recovered, "writes work again once MongoDB is back");
    app.get("/api/products/before").await.assert_json(StatusCode::OK);
    assert_eq!(app.get("/api/products/during").await.status, StatusCode::NOT_FOUND, "the failed write left nothing");
    let events = app.events_for("after", 1).await;
    assert_eq!(events[0].payload["event_type"], "PRODUCT_CREATED");
    let ready =
        testkit::eventually(Duration::from_secs(10), || async { app.get("/ready").await.status == StatusCode::OK })
            .await;
    assert!(ready, "ready again");
}
