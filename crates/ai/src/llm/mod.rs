//! Language models behind one trait, [`ChatModel`], chosen by `LLM_PROVIDER`:
//!
//! - [`openai`]: any OpenAI-compatible chat-completions endpoint (OpenAI, Groq, vLLM,
//!   Ollama's `/v1`), streaming by Server-Sent Events.
//! - [`gemini`]: Google's `generateContent` / `streamGenerateContent?alt=sse`.
//! - [`ollama`]: Ollama's native `/api/chat`, streaming newline-delimited JSON.
//! - `offline` has no model at all: the assistant composes answers from retrieval.
//!
//! Every call goes through [`guard::Guarded`]: a deadline, a token-bucket throttle, a
//! circuit breaker and a response cache. Whatever fails there, the caller falls back to the
//! offline answer; a provider failure never becomes an error response.
//!
//! The clients are thin `reqwest` code rather than an SDK crate: each wire format is one
//! request and one response shape, the OpenAI SDK crates cover one provider of the four,
//! and owning the code keeps the timeouts, streaming and error mapping in one place and
//! testable against a local server.

pub mod gemini;
pub mod guard;
pub mod ollama;
pub mod openai;
mod wire;

use crate::config::{LlmConfig, ProviderKind};
use async_trait::async_trait;
use futures_util::stream::BoxStream;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Who said a turn of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The shopper.
    User,
    /// The assistant.
    Assistant,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Turn {
    /// Speaker.
    pub role: Role,
    /// Text.
    pub content: String,
}

/// What a model is asked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prompt {
    /// Instructions and the retrieved products.
    pub system: String,
    /// The conversation, oldest first, ending with the shopper's message.
    pub turns: Vec<Turn>,
    /// Longest answer, in tokens.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
}

/// A failed model call.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum LlmError {
    /// No answer (or no next chunk) within the deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The provider answered with an error status.
    #[error("status {status}: {detail}")]
    Status {
        /// HTTP status.
        status: u16,
        /// What it said (shortened).
        detail: String,
    },
    /// No connection, or it broke.
    #[error("transport: {0}")]
    Transport(String),
    /// The answer was not in the provider's format.
    #[error("unreadable answer: {0}")]
    Decode(String),
    /// Our own throttle refused the call.
    #[error("throttled")]
    Throttled,
    /// The circuit breaker is open.
    #[error("circuit open")]
    CircuitOpen,
}

/// Chunks of an answer as they arrive.
pub type TextStream = BoxStream<'static, Result<String, LlmError>>;

/// A chat model.
#[async_trait]
pub trait ChatModel: Send + Sync + 'static {
    /// The provider's name (metrics label).
    fn provider(&self) -> &'static str;

    /// The whole answer.
    async fn complete(&self, prompt: &Prompt) -> Result<String, LlmError>;

    /// The answer in chunks.
    async fn stream(&self, prompt: &Prompt) -> Result<TextStream, LlmError>;
}

/// The configured model, or `None` for the offline provider.
pub fn build(config: &LlmConfig) -> Result<Option<Arc<dyn ChatModel>>, LlmError> {
    let http = reqwest::Client::builder()
        .connect_timeout(config.timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| LlmError::Transport(e.to_string()))?;
    let key = config.api_key.clone();
    Ok(match config.provider {
        ProviderKind::Offline => None,
        ProviderKind::OpenAi | ProviderKind::Groq => Some(Arc::new(openai::OpenAi {
            http,
            base_url: config.base_url.clone(),
            api_key: key,
            model: config.model.clone(),
            name: config.provider.as_str(),
        })),
        ProviderKind::Gemini => Some(Arc::new(gemini::Gemini {
            http,
            base_url: config.base_url.clone(),
            api_key: key,
            model: config.model.clone(),
        })),
        ProviderKind::Ollama => {
            Some(Arc::new(ollama::Ollama { http, base_url: config.base_url.clone(), model: config.model.clone() }))
        }
    })
}
