//! The gateway's own routes and fallbacks.

use crate::helpers::{TestResult, echo_gateway, send};
use axum::body::Body;
use axum::http::{Request, StatusCode};

#[tokio::test]
async fn health_has_the_original_shape() -> TestResult {
    let gw = echo_gateway().await?;
    let answer = gw.get("/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["status"], "UP");
    assert_eq!(answer.body["service"], "api-gateway");
    assert_eq!(answer.body["auth_enabled"], false, "the original's field; these tests run with AUTH_MODE=off");
    Ok(())
}

#[tokio::test]
async fn unknown_routes_are_404_problems() -> TestResult {
    let gw = echo_gateway().await?;
    // `/` is the web UI (crates/storefront); other unknown paths are problems.
    for path in ["/api/unknown", "/api/productsX", "/nope", "/products"] {
        assert_eq!(gw.get(path).await.assert_problem(StatusCode::NOT_FOUND), "No such route");
    }
    let post = send(Request::post(format!("{}/api/unknown/chat", gw.base)).body(Body::from("{}"))?).await?;
    assert_eq!(post.assert_problem(StatusCode::NOT_FOUND), "No such route");
    Ok(())
}

#[tokio::test]
async fn every_worker_serves_and_a_taken_port_is_refused() -> TestResult {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let gw = echo_gateway().await?;
    let port: u16 = gw.base.rsplit(':').next().unwrap_or_default().parse()?;
    // The kernel spreads new connections over the workers' sockets: one a worker does not
    // serve would hang here.
    let mut answers = Vec::new();
    for _ in 0..32 {
        answers.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            stream.write_all(b"GET /health HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").await?;
            let mut answer = String::new();
            tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_string(&mut answer))
                .await
                .map_err(|_| std::io::Error::other("no answer within 5 s"))??;
            Ok::<_, std::io::Error>(answer)
        }));
    }
    for answer in answers {
        let answer = answer.await??;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // A second gateway on the same port is an error, not a silent share of its traffic.
    let mut config = crate::helpers::config(
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
        std::time::Duration::from_secs(1),
    );
    config.port = port;
    let second = gateway::App::build(config).await;
    assert_eq!(second.err().map(|e| e.kind()), Some(std::io::ErrorKind::AddrInUse));
    Ok(())
}
