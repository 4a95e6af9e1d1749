//! Bodies stream through in both directions: nothing waits for a whole body.

use crate::helpers::{SLOW, TestResult, client, echo_gateway};
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::time::Duration;

#[tokio::test]
async fn response_body_arrives_before_the_upstream_finishes() -> TestResult {
    let gw = echo_gateway().await?;
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        client().request(Request::get(format!("{}/api/inventory/stream", gw.base)).body(Body::empty())?),
    )
    .await??;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    // The upstream holds its second chunk back for SLOW; the first must not wait for it.
    let frame = tokio::time::timeout(SLOW / 2, body.frame()).await?.ok_or("body ended")??;
    assert_eq!(frame.into_data().ok(), Some(Bytes::from_static(b"first")));
    Ok(())
}

#[tokio::test]
async fn request_body_is_forwarded_before_the_client_finishes_it() -> TestResult {
    let gw = echo_gateway().await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    tx.send(Bytes::from_static(b"hello")).await?;
    let request = Request::post(format!("{}/api/orders/first-chunk", gw.base)).body(Body::from_stream(stream))?;
    // `tx` stays open, so the body is unfinished; a buffering proxy would never answer.
    let response = tokio::time::timeout(SLOW, client().request(request)).await??;
    assert_eq!(response.status(), StatusCode::OK);
    let body = tokio::time::timeout(SLOW, response.into_body().collect()).await??.to_bytes();
    assert_eq!(&body[..], b"hello");
    drop(tx);
    Ok(())
}
