//! Each provider's wire format against a local server speaking its API: request shape,
//! auth header, response parsing, streaming; and grounding of what the model says.

use crate::helpers::{Backend, Options, TestApp, ids, llm};
use ai::config::ProviderKind;
use http::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPLY: &str = "Try [[prod-050]] for long trips. [[prod-051]] is the lightest.";
const RENDERED: &str =
    "Try Anker Soundcore Q30 Headphones ($79.99) for long trips. JBL Tune 510BT Headphones ($49.95) is the lightest.";

async fn app_with(provider: ProviderKind, server: &MockServer) -> Option<TestApp> {
    crate::helpers::spawn(Backend::Sqlite, Options { llm: llm(provider, &server.uri()), ..Options::default() }).await
}

/// Server-Sent Events of a streamed answer: (event, data) pairs.
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            (!event.is_empty()).then(|| (event, serde_json::from_str(&data).unwrap_or(Value::Null)))
        })
        .collect()
}

async fn stream_chat(app: &TestApp, message: &str) -> (Vec<String>, Value) {
    let reply = app.post("/api/ai/chat", json!({"message": message, "stream": true})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(reply.content_type().starts_with("text/event-stream"), "{}", reply.content_type());
    let events = events(&reply.text);
    let deltas: Vec<String> =
        events.iter().filter(|(e, _)| e == "delta").map(|(_, d)| d["text"].as_str().unwrap().to_owned()).collect();
    let done = events.iter().rev().find(|(e, _)| e == "done").map(|(_, d)| d.clone()).expect("a done event");
    (deltas, done)
}

fn assert_grounded(answer: &Value) {
    assert_eq!(answer["reply"], RENDERED, "{answer}");
    assert_eq!(ids(&answer["products"]), ["prod-050", "prod-051"]);
    assert_eq!(answer["products"][0]["price"], json!(79.99));
    assert_eq!(answer["degraded"], false);
}

fn openai_chunk(text: &str) -> String {
    format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": {"content": text}}]}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openai_compatible_wire_format_and_streaming() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .and(header("authorization", "Bearer test-key-123"))
        .and(body_partial_json(json!({"model": "test-model", "stream": false})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
        })))
        .mount(&server)
        .await;
    let sse = [
        openai_chunk("Try [[prod"),
        openai_chunk("-050]] for long trips. [[prod-051]]"),
        openai_chunk(" is the lightest."),
    ]
    .concat()
        + "data: [DONE]\n\n";
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(
            ResponseTemplate::new(200).insert_header("content-type", "text/event-stream").set_body_string(sse),
        )
        .mount(&server)
        .await;
    let Some(app) = app_with(ProviderKind::OpenAi, &server).await else { return };
    let health = app.get("/health").await.assert_json(StatusCode::OK);
    assert_eq!(health["llm_provider"], "openai");

    assert_grounded(&app.chat("wireless headphones").await);
    let requests = server.received_requests().await.unwrap();
    let body: Value = requests[0].body_json().unwrap();
    assert_eq!(body["messages"][0]["role"], "system");
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("[[prod-050]] | Anker Soundcore Q30 Headphones | $79.99"), "{system}");
    assert!(!system.contains("prod-013"), "the model sees only the retrieved products: {system}");
    assert_eq!(
        body["messages"].as_array().unwrap().last().unwrap(),
        &json!({"role": "user", "content": "wireless headphones"})
    );

    let (deltas, done) = stream_chat(&app, "wireless headphones").await;
    assert!(deltas.len() >= 2, "sentences stream as they complete: {deltas:?}");
    assert_eq!(deltas.concat().trim(), RENDERED);
    assert_grounded(&done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn groq_uses_the_openai_format_with_its_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .and(header("authorization", "Bearer test-key-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"message": {"role": "assistant", "content": REPLY}}],
        })))
        .expect(1)
        .mount(&server)
        .await;
    let Some(app) = app_with(ProviderKind::Groq, &server).await else { return };
    assert_eq!(app.get("/health").await.body["llm_provider"], "groq");
    assert_grounded(&app.chat("wireless headphones").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gemini_wire_format_and_streaming() {
    let server = MockServer::start().await;
    let candidate = |text: &str| json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]});
    Mock::given(method("POST"))
        .and(path("/models/test-model:generateContent"))
        .and(header("x-goog-api-key", "test-key-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(candidate(REPLY)))
        .mount(&server)
        .await;
    let sse = format!(
        "data: {}\r\n\r\ndata: {}\r\n\r\n",
        candidate("Try [[prod-050]] for long trips. "),
        candidate("[[prod-051]] is the lightest.")
    );
    Mock::given(method("POST"))
        .and(path("/models/test-model:streamGenerateContent"))
        .and(wiremock::matchers::query_param("alt", "sse"))
        .and(header("x-goog-api-key", "test-key-123"))
        .respond_with(
            ResponseTemplate::new(200).insert_header("content-type", "text/event-stream").set_body_string(sse),
        )
        .mount(&server)
        .await;
    let Some(app) = app_with(ProviderKind::Gemini, &server).await else { return };
    assert_grounded(&app.chat("wireless headphones").await);
    let requests = server.received_requests().await.unwrap();
    let body: Value = requests[0].body_json().unwrap();
    assert!(body["systemInstruction"]["parts"][0]["text"].as_str().unwrap().contains("[[prod-050]]"));
    assert_eq!(body["contents"], json!([{"role": "user", "parts": [{"text": "wireless headphones"}]}]));
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 256);

    let (deltas, done) = stream_chat(&app, "wireless headphones").await;
    assert_eq!(deltas.concat().trim(), RENDERED);
    assert_grounded(&done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ollama_wire_format_and_streaming() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat"))
        .and(body_partial_json(json!({"model": "test-model", "stream": false})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "model": "test-model", "message": {"role": "assistant", "content": REPLY}, "done": true,
        })))
        .mount(&server)
        .await;
    let line = |text: &str, done: bool| {
        format!("{}\n", json!({"message": {"role": "assistant", "content": text}, "done": done}))
    };
    let ndjson = [
        line("Try [[prod-050]] for", false),
        line(" long trips. [[prod-051]] is the lightest.", false),
        line("", true),
    ]
    .concat();
    Mock::given(method("POST"))
        .and(path("/api/chat"))
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(
            ResponseTemplate::new(200).insert_header("content-type", "application/x-ndjson").set_body_string(ndjson),
        )
        .mount(&server)
        .await;
    let Some(app) = app_with(ProviderKind::Ollama, &server).await else { return };
    assert_grounded(&app.chat("wireless headphones").await);
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].headers.get("authorization").is_none(), "Ollama takes no key");
    let body: Value = requests[0].body_json().unwrap();
    assert_eq!(body["options"]["num_predict"], 256);
    let (deltas, done) = stream_chat(&app, "wireless headphones").await;
    assert_eq!(deltas.concat().trim(), RENDERED);
    assert_grounded(&done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invented_products_and_prices_never_reach_the_shopper() {
    let server = MockServer::start().await;
    let invented = "The [[prod-999]] SuperSound is only $19.99! [[prod-050]] costs just $5. \
                    You could also try prod-777. Everything is $1 today. Enjoy your music.";
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"message": {"role": "assistant", "content": invented}}],
        })))
        .mount(&server)
        .await;
    let Some(app) = app_with(ProviderKind::OpenAi, &server).await else { return };
    let answer = app.chat("wireless headphones").await;
    let reply = answer["reply"].as_str().unwrap();
    for absent in ["prod-999", "SuperSound", "19.99", "$5.", "prod-777", "$1 "] {
        assert!(!reply.contains(absent), "{absent:?} must not appear: {reply}");
    }
    assert_eq!(reply, "Anker Soundcore Q30 Headphones ($79.99) costs just $79.99. Enjoy your music.");
    assert_eq!(ids(&answer["products"]), ["prod-050"]);
    assert_eq!(answer["degraded"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_with_nothing_true_in_it_is_replaced_by_the_offline_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"message": {"role": "assistant", "content": "The [[nope-1]] is great for $3."}}],
        })))
        .mount(&server)
        .await;
    let Some(app) = app_with(ProviderKind::OpenAi, &server).await else { return };
    let answer = app.chat("wireless headphones under $200").await;
    assert_eq!(answer["degraded"], true, "{answer}");
    let reply = answer["reply"].as_str().unwrap();
    assert!(!reply.contains("nope-1") && !reply.contains("$3."), "{reply}");
    assert_eq!(ids(&answer["products"])[0], "prod-050", "{answer}");
}
