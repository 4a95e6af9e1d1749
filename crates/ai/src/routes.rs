//! `/api/ai/*`: chat (JSON or Server-Sent Events), recommendations, natural-language search.

use crate::assistant::{Assistant, ChatEvent};
use crate::domain::{ChatAnswer, ChatRequest, RecommendationParams, Recommendations, SuggestRequest, Suggestions};
use crate::error::AiError;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Json as AxumJson, Router, extract::State};
use futures_util::StreamExt;
use futures_util::stream;
use kit::auth::MaybeCaller;
use kit::openapi::{JsonBody, OptionalToken, ProblemDocument, QueryString};
use kit::problem::{Json, Query};
use std::convert::Infallible;
use std::sync::Arc;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// The assistant.
    pub assistant: Arc<Assistant>,
}

/// The AI operations, each routed by being documented (and documented by being routed).
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(chat)).routes(routes!(recommendations)).routes(routes!(suggest))
}

/// The AI service's document (`/openapi.json`, and what the gateway merges): pure.
pub fn openapi() -> OpenApi {
    let (_, doc) = api().split_for_parts();
    kit::openapi::document(
        "ai-service",
        "The shopping assistant: chat grounded in the catalog (JSON or Server-Sent Events), recommendations \
         and natural-language search.",
        doc,
    )
}

/// The AI routes, `/openapi.json` and `/docs`.
pub fn router(state: AppState) -> Router {
    let (router, _) = api().split_for_parts();
    router.with_state(state).merge(kit::openapi::routes(&openapi()))
}

const TAG: &str = "ai";

fn sse_event(event: ChatEvent) -> Event {
    let built = match event {
        ChatEvent::Delta(text) => Event::default().event("delta").json_data(serde_json::json!({ "text": text })),
        ChatEvent::Done(answer) => Event::default().event("done").json_data(&answer),
    };
    built.unwrap_or_else(|_| Event::default().event("error").data("unserialisable event"))
}

/// One Server-Sent Event of a streamed chat (`"stream": true`): `delta`s, then one `done`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the events are written by `sse_event`
struct ChatStreamEvent {
    /// `delta` (a piece of the reply) or `done` (the whole answer, last).
    #[schema(pattern = "^(delta|done)$")]
    event: String,
    /// JSON: `{"text": …}` for a `delta`; the `ChatAnswer` (`reply`, `products`, `degraded`)
    /// for `done`.
    #[schema(example = "{\"text\":\"Here are three mice under $50.\"}")]
    data: String,
}

// Public, but a token that is sent must be valid (401 otherwise), as through the gateway.
#[utoipa::path(
    post, path = "/api/ai/chat", operation_id = "chat", tag = TAG,
    summary = "Ask the assistant (JSON answer, or Server-Sent Events `delta`s and a `done` with `stream: true`)",
    request_body = ChatRequest,
    security((), ("bearer" = [])),
    responses(
        (status = OK, description = "The answer.", content(
            (ChatAnswer = "application/json"),
            (ChatStreamEvent = "text/event-stream"),
        )),
        JsonBody, OptionalToken,
        (status = INTERNAL_SERVER_ERROR, description = "An unexpected failure; the cause is logged.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = SERVICE_UNAVAILABLE, description = "The catalog is not loaded yet; retry.", body = ProblemDocument, content_type = "application/problem+json")
    )
)]
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

#[utoipa::path(
    get, path = "/api/ai/recommendations", operation_id = "recommendations", tag = TAG,
    summary = "Products to recommend for a product, a name or a category",
    params(RecommendationParams),
    security((), ("bearer" = [])),
    responses(
        (status = OK, description = "Up to five products.", body = Recommendations),
        (status = NOT_FOUND, description = "No such product.", body = ProblemDocument, content_type = "application/problem+json"),
        QueryString, OptionalToken,
        (status = INTERNAL_SERVER_ERROR, description = "An unexpected failure; the cause is logged.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = SERVICE_UNAVAILABLE, description = "The catalog is not loaded yet; retry.", body = ProblemDocument, content_type = "application/problem+json")
    )
)]
async fn recommendations(
    _caller: MaybeCaller,
    State(state): State<AppState>,
    Query(params): Query<RecommendationParams>,
) -> Result<AxumJson<Recommendations>, AiError> {
    let target = params.parse()?;
    Ok(AxumJson(state.assistant.recommend(&target).await?))
}

#[utoipa::path(
    post, path = "/api/ai/suggest", operation_id = "suggest", tag = TAG,
    summary = "Natural-language product search",
    request_body = SuggestRequest,
    security((), ("bearer" = [])),
    responses(
        (status = OK, description = "The matches, best first.", body = Suggestions),
        JsonBody, OptionalToken,
        (status = INTERNAL_SERVER_ERROR, description = "An unexpected failure; the cause is logged.", body = ProblemDocument, content_type = "application/problem+json"),
        (status = SERVICE_UNAVAILABLE, description = "The catalog is not loaded yet; retry.", body = ProblemDocument, content_type = "application/problem+json")
    )
)]
async fn suggest(
    _caller: MaybeCaller,
    State(state): State<AppState>,
    Json(body): Json<SuggestRequest>,
) -> Result<AxumJson<Suggestions>, AiError> {
    let query = body.parse()?;
    Ok(AxumJson(state.assistant.suggest(&query).await?))
}
