//! `/api/ai/*`: chat (JSON or Server-Sent Events), recommendations, natural-language search.

use crate::assistant::{Assistant, ChatEvent};
use crate::domain::{ChatAnswer, ChatRequest, RecommendationParams, Recommendations, SuggestRequest, Suggestions};
use crate::error::AiError;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json as AxumJson, Router, extract::State};
use futures_util::StreamExt;
use futures_util::stream;
use kit::auth::MaybeCaller;
use kit::problem::{Json, Query};
use std::convert::Infallible;
use std::sync::Arc;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// The assistant.
    pub assistant: Arc<Assistant>,
}

/// The AI routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/ai/chat", post(chat))
        .route("/api/ai/recommendations", get(recommendations))
        .route("/api/ai/suggest", post(suggest))
        .with_state(state)
}

fn sse_event(event: ChatEvent) -> Event {
    let built = match event {
        ChatEvent::Delta(text) => Event::default().event("delta").json_data(serde_json::json!({ "text": text })),
        ChatEvent::Done(answer) => Event::default().event("done").json_data(&answer),
    };
    built.unwrap_or_else(|_| Event::default().event("error").data("unserialisable event"))
}

// Public, but a token that is sent must be valid (401 otherwise), as through the gateway.
async fn chat(
    _caller: MaybeCaller,
    State(state): State<AppState>,
    Json(body): Json<ChatRequest>,
) -> Result<Response, AiError> {
    let input = body.parse()?;
    if input.stream {
        if !state.assistant.retriever.catalog().is_ready() {
            return Err(AiError::NotReady);
        }
        let events = state.assistant.chat_stream(input);
        let stream = stream::unfold(events, |mut events| async move { events.recv().await.map(|e| (e, events)) })
            .map(|event| Ok::<Event, Infallible>(sse_event(event)));
        return Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response());
    }
    let answer: ChatAnswer = state.assistant.chat(&input).await?;
    Ok(AxumJson(answer).into_response())
}

async fn recommendations(
    _caller: MaybeCaller,
    State(state): State<AppState>,
    Query(params): Query<RecommendationParams>,
) -> Result<AxumJson<Recommendations>, AiError> {
    let target = params.parse()?;
    Ok(AxumJson(state.assistant.recommend(&target).await?))
}

async fn suggest(
    _caller: MaybeCaller,
    State(state): State<AppState>,
    Json(body): Json<SuggestRequest>,
) -> Result<AxumJson<Suggestions>, AiError> {
    let query = body.parse()?;
    Ok(AxumJson(state.assistant.suggest(&query).await?))
}
