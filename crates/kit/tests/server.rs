//! What every service's server does with slow clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::routing::post;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

async fn start() -> (String, CancellationToken) {
    let listener = kit::server::bind("127.0.0.1", 0).await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let router = axum::Router::new().route(
        "/echo",
        post(|kit::problem::Json(body): kit::problem::Json<serde_json::Value>| async move { axum::Json(body) }),
    );
    let stop = CancellationToken::new();
    tokio::spawn(kit::server::serve(listener, router, stop.clone()));
    (address, stop)
}

/// Reads until the peer closes or `needle` shows up; what was read.
async fn read_until(tcp: &mut tokio::net::TcpStream, needle: &str, limit: Duration) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(limit, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&received).contains(needle) {
                break;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn half_a_request_head_is_not_held_forever() {
    let (address, _stop) = start().await;
    let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-ty").await.unwrap();
    let started = Instant::now();
    read_until(&mut tcp, "\r\n\r\n", Duration::from_secs(20)).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(15), "the connection is closed after the head timeout, took {elapsed:?}");
}

#[tokio::test]
async fn a_stalled_body_is_408_problem() {
    let (address, _stop) = start().await;
    let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    tcp.write_all(
        b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 50\r\n\r\n{\"a\":",
    )
    .await
    .unwrap();
    let answer = read_until(&mut tcp, "\"detail\"", Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}

#[tokio::test]
async fn an_overlong_path_is_a_problem_too() {
    let (address, _stop) = start().await;
    for (request, status) in [
        (format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(100_000)), "414"),
        ("GARBAGE\r\n\r\n".to_owned(), "400"),
    ] {
        let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let answer = read_until(&mut tcp, "\"detail\"", Duration::from_secs(5)).await;
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
    }
}
