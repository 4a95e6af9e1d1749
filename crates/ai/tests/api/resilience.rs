//! A failing provider: answers degrade to offline within the deadline, the breaker opens
//! after repeated failures and half-opens after its cool-down; no 5xx reaches the shopper.

use crate::helpers::{Backend, Options, llm};
use ai::config::ProviderKind;
use http::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn ok_reply() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"choices": [{"message": {"content": "Try [[prod-050]]."}}]}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_provider_degrades_within_the_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .respond_with(ok_reply().set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let options = Options { llm: llm(ProviderKind::OpenAi, &server.uri()), ..Options::default() };
    let Some(app) = crate::helpers::spawn(Backend::Sqlite, options).await else { return };
    let started = Instant::now();
    let answer = app.chat("wireless headphones under $200").await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2500), "answered within the 700 ms deadline plus slack, took {took:?}");
    assert_eq!(answer["degraded"], true, "{answer}");
    assert!(!answer["products"].as_array().unwrap().is_empty(), "the offline answer still lists products: {answer}");

    let streamed = app.post("/api/ai/chat", json!({"message": "wireless headphones", "stream": true})).await;
    assert_eq!(streamed.status, StatusCode::OK);
    assert!(streamed.text.contains("\"degraded\":true"), "{}", streamed.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_throttle_answers_offline_beyond_the_rate() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/chat/completions")).respond_with(ok_reply()).mount(&server).await;
    let mut config = llm(ProviderKind::OpenAi, &server.uri());
    config.rate_per_minute = 2;
    let Some(app) = crate::helpers::spawn(Backend::Sqlite, Options { llm: config, ..Options::default() }).await else {
        return;
    };
    let answers = [app.chat("headphones").await, app.chat("headphones please").await, app.chat("any headphones").await];
    assert_eq!(answers.iter().map(|a| a["degraded"] == true).collect::<Vec<_>>(), [false, false, true]);
    assert_eq!(server.received_requests().await.unwrap().len(), 2, "the third call never left");
    assert!(!answers[2]["products"].as_array().unwrap().is_empty(), "the offline answer: {}", answers[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_open_the_breaker_which_half_opens_after_the_cool_down() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream exploded"))
        .mount(&server)
        .await;
    let options = Options { llm: llm(ProviderKind::OpenAi, &server.uri()), ..Options::default() };
    let Some(app) = crate::helpers::spawn(Backend::Sqlite, options).await else { return };
    for i in 0..6 {
        let reply = app.post("/api/ai/chat", json!({"message": format!("headphones {i}")})).await;
        assert_eq!(reply.status, StatusCode::OK, "never a 5xx: {}", reply.text);
        assert_eq!(reply.body["degraded"], true);
    }
    let calls = server.received_requests().await.unwrap().len();
    assert_eq!(calls, 3, "the breaker opened after 3 failures; later calls never reached the provider");

    // After the cool-down one trial call goes out; the provider is back, so it closes.
    server.reset().await;
    Mock::given(method("POST")).and(path("/chat/completions")).respond_with(ok_reply()).mount(&server).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let answer = app.chat("headphones").await;
    assert_eq!(answer["degraded"], false, "{answer}");
    assert_eq!(answer["reply"], "Try Anker Soundcore Q30 Headphones ($79.99).");
    let again = app.chat("wireless headphones").await;
    assert_eq!(again["degraded"], false);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}
