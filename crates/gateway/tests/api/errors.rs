//! Upstream failures and oversized bodies become problem+json answers that leak nothing.

use crate::helpers::{SLOW, TestResult, closed_port_url, config, send, spawn_gateway, spawn_upstream};
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn upstream_down_is_503_naming_the_service() -> TestResult {
    let up = spawn_upstream("product").await?;
    let gw = spawn_gateway(config(&up, &closed_port_url().await?, &up, Duration::from_secs(5))).await?;
    let answer = gw.get("/api/orders/1").await;
    assert_eq!(answer.assert_problem(StatusCode::SERVICE_UNAVAILABLE), "Service unavailable: orders");
    let text = answer.text.to_lowercase();
    assert!(!text.contains("refused") && !text.contains("tcp"), "internal error leaked: {text}");
    // The other services are unaffected.
    assert_eq!(gw.get("/api/products").await.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn slow_upstream_is_504_after_the_upstream_timeout() -> TestResult {
    let up = spawn_upstream("inventory").await?;
    let gw = spawn_gateway(config(&up, &up, &up, Duration::from_millis(200))).await?;
    let started = Instant::now();
    let answer = gw.get("/api/inventory/slow").await;
    let elapsed = started.elapsed();
    assert_eq!(answer.assert_problem(StatusCode::GATEWAY_TIMEOUT), "Service timeout: inventory");
    assert!(elapsed >= Duration::from_millis(200) && elapsed < SLOW, "took {elapsed:?}");
    Ok(())
}

#[tokio::test]
async fn declared_body_over_10_mib_is_413_without_reading_it() -> TestResult {
    let up = spawn_upstream("product").await?;
    let gw = spawn_gateway(config(&up, &up, &up, Duration::from_secs(5))).await?;
    // Raw TCP: announce 10 MiB + 1 and send none of it; the answer must come anyway.
    let mut tcp = tokio::net::TcpStream::connect(gw.base.trim_start_matches("http://")).await?;
    let head = format!(
        "POST /api/products HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        10 * 1024 * 1024 + 1
    );
    tcp.write_all(head.as_bytes()).await?;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read_answer = async {
        while !String::from_utf8_lossy(&received).contains("\"detail\"") {
            let n = tcp.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(5), read_answer).await??;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    Ok(())
}

#[tokio::test]
async fn streamed_body_over_10_mib_is_413_and_under_it_passes() -> TestResult {
    let gw = crate::helpers::echo_gateway().await?;
    let chunked = |total: usize| {
        let chunk = Bytes::from(vec![b'a'; 64 * 1024]);
        let count = total.div_ceil(chunk.len());
        Body::from_stream(futures_util::stream::iter(
            (0..count).map(move |_| Ok::<_, std::convert::Infallible>(chunk.clone())),
        ))
    };
    let under = send(Request::post(format!("{}/api/products", gw.base)).body(chunked(3 * 1024 * 1024))?).await?;
    assert_eq!(under.status, StatusCode::OK);
    assert_eq!(under.body["body_len"], 3 * 1024 * 1024);
    assert_eq!(under.body["headers"]["transfer-encoding"], "chunked");

    let over = send(Request::post(format!("{}/api/products", gw.base)).body(chunked(11 * 1024 * 1024))?).await?;
    assert_eq!(over.assert_problem(StatusCode::PAYLOAD_TOO_LARGE), "Request body exceeds the limit of 10485760 bytes");
    Ok(())
}

#[tokio::test]
async fn upstream_hanging_up_without_answering_is_502() -> TestResult {
    // Accepts connections and closes them at once: connected, but no response.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let rude = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let up = spawn_upstream("order").await?;
    let gw = spawn_gateway(config(&rude, &up, &up, Duration::from_secs(5))).await?;
    let answer = gw.get("/api/products/1").await;
    assert_eq!(answer.assert_problem(StatusCode::BAD_GATEWAY), "Gateway error");
    Ok(())
}

#[tokio::test]
async fn a_client_that_stops_sending_its_body_gets_408_not_an_upstream_timeout() -> TestResult {
    let gw = crate::helpers::echo_gateway().await?;
    let mut tcp = tokio::net::TcpStream::connect(gw.base.trim_start_matches("http://")).await?;
    let head = "POST /api/products HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"name\":";
    tcp.write_all(head.as_bytes()).await?;
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read_answer = async {
        while !String::from_utf8_lossy(&received).contains("\"detail\"") {
            let n = tcp.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(15), read_answer).await??;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("not received in time"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(9), "before the upstream timeout: {:?}", started.elapsed());
    Ok(())
}

/// The web UI with a service or the identity provider down: a 503 page that says what is
/// missing without connection details, and `Retry-After`; the rest keeps working.
#[tokio::test]
async fn web_pages_with_a_peer_down_are_503_pages_that_leak_nothing() -> TestResult {
    let up = spawn_upstream("order").await?;
    let mut settings = config(&closed_port_url().await?, &up, &up, Duration::from_secs(5));
    settings.auth = kit::auth::AuthSettings {
        mode: kit::auth::AuthMode::On,
        issuer: format!("{}/realms/microservices", closed_port_url().await?),
        audience: kit::auth::DEFAULT_AUDIENCE.into(),
        client: None,
    };
    let gw = spawn_gateway(settings).await?;
    for (path, missing) in [("/", "A service the page needs"), ("/signin", "The identity provider")] {
        let answer = gw.get(path).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(answer.content_type().starts_with("text/html"), "{path}: {}", answer.content_type());
        assert_eq!(answer.header("retry-after"), Some("5"), "{path}");
        assert!(answer.text.contains(&format!("{missing} is not answering")), "{path}: {}", answer.text);
        let text = answer.text.to_lowercase();
        assert!(!text.contains("refused") && !text.contains("tcp") && !text.contains("127.0.0.1"), "{path}: {text}");
    }
    // Pages that need no peer still answer.
    assert_eq!(gw.get("/cart").await.status, StatusCode::OK);
    assert_eq!(gw.get("/assets/shop.css").await.status, StatusCode::OK);
    Ok(())
}
