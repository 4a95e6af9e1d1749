//! A rough throughput check, ignored by default because it measures rather than asserts.
//! Run it optimised, alone:
//! `cargo test -p gateway --release --test api -- --ignored --nocapture throughput`.
//!
//! Load generator, gateway and upstream share this machine's cores, so raw req/s here is a
//! floor. The gateway therefore runs on its own runtime whose threads are named, and the
//! CPU those threads burn per request (from `/proc`, Linux only) estimates what the gateway
//! alone could serve.

use crate::helpers::{TestResult, client, config, spawn_upstream};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use gateway::App;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const CONNECTIONS: usize = 64;
const RUN: Duration = Duration::from_secs(3);
const GATEWAY_THREAD: &str = "gw-bench";

/// Completed requests for `CONNECTIONS` keep-alive loops on `url` during `RUN`.
async fn load(url: String) -> Result<u64, crate::helpers::Error> {
    let client = client();
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + RUN;
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, url, done) = (client.clone(), url.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let request = Request::get(&url).body(Body::empty())?;
                let response = client.request(request).await?;
                if response.status() != StatusCode::OK {
                    return Err::<(), crate::helpers::Error>(format!("status {}", response.status()).into());
                }
                response.into_body().collect().await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(done.load(Ordering::Relaxed))
}

/// Mean latency of one connection doing `count` requests back to back (no queueing).
async fn sequential_latency(url: &str, count: u32) -> Result<Duration, crate::helpers::Error> {
    let client = client();
    let started = Instant::now();
    for _ in 0..count {
        let response = client.request(Request::get(url).body(Body::empty())?).await?;
        response.into_body().collect().await?;
    }
    Ok(started.elapsed() / count)
}

/// CPU seconds (user + system) used so far by this process's threads named `name`.
fn thread_cpu_seconds(name: &str) -> f64 {
    let ticks_per_second = 100.0; // USER_HZ, fixed at 100 on Linux.
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(name) {
            continue;
        }
        // Fields after the name: state is the 3rd field, utime the 14th, stime the 15th.
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        ticks += fields.get(11).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        ticks += fields.get(12).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    }
    ticks as f64 / ticks_per_second
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --release --ignored"]
async fn throughput() -> TestResult {
    let upstream = spawn_upstream("product").await?;
    let direct_url = format!("{upstream}/api/products/ping");
    let direct = load(direct_url.clone()).await?;
    let direct_single = sequential_latency(&direct_url, 5000).await?;

    // The gateway on its own two-thread runtime, so its CPU can be told apart.
    let shutdown = CancellationToken::new();
    let (port_tx, port_rx) = tokio::sync::oneshot::channel();
    let gateway_config = config(&upstream, &upstream, &upstream, Duration::from_secs(5));
    let stop = shutdown.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(GATEWAY_THREAD)
        .enable_all()
        .build()?;
    let gateway_thread = std::thread::spawn(move || {
        runtime.block_on(async move {
            let app = App::build(gateway_config).await?;
            let _ = port_tx.send(app.port());
            app.run_until_stopped(stop).await
        })
    });
    let port = port_rx.await?;
    let cpu_before = thread_cpu_seconds(GATEWAY_THREAD);
    let proxied_url = format!("http://127.0.0.1:{port}/api/products/ping");
    let proxied = load(proxied_url.clone()).await?;
    let cpu = thread_cpu_seconds(GATEWAY_THREAD) - cpu_before;
    let proxied_single = sequential_latency(&proxied_url, 5000).await?;
    shutdown.cancel();
    let _ = gateway_thread.join();

    let rps = |count: u64| count as f64 / RUN.as_secs_f64();
    let latency = |count: u64| Duration::from_secs_f64(CONNECTIONS as f64 * RUN.as_secs_f64() / count as f64);
    println!("direct:  {:>8.0} req/s, mean latency {:?}", rps(direct), latency(direct));
    println!("gateway: {:>8.0} req/s, mean latency {:?}", rps(proxied), latency(proxied));
    println!(
        "one connection: direct {direct_single:?}, via gateway {proxied_single:?}, added {:?}",
        proxied_single.saturating_sub(direct_single)
    );
    if cpu > 0.0 {
        let per_request = cpu / proxied as f64;
        println!(
            "gateway CPU: {:.1} µs/request → ~{:.0} req/s if it had 2 cores to itself",
            per_request * 1e6,
            2.0 / per_request
        );
    }
    Ok(())
}
