//! Google Gemini (`POST {base}/models/{model}:generateContent`, key in `x-goog-api-key`);
//! streaming is `:streamGenerateContent?alt=sse`, Server-Sent Events of partial responses.

use super::wire;
use super::{ChatModel, LlmError, Prompt, Role, TextStream};
use crate::config::Secret;
use async_trait::async_trait;
use futures_util::stream::StreamExt;
use serde_json::{Value, json};

/// A Gemini client.
pub struct Gemini {
    /// Shared HTTP client.
    pub http: reqwest::Client,
    /// `https://generativelanguage.googleapis.com/v1beta`.
    pub base_url: String,
    /// API key.
    pub api_key: Option<Secret>,
    /// Model name (`gemini-2.0-flash`).
    pub model: String,
}

/// The request body.
pub fn body(prompt: &Prompt) -> Value {
    let contents: Vec<Value> = prompt
        .turns
        .iter()
        .map(|t| {
            let role = match t.role {
                Role::User => "user",
                Role::Assistant => "model",
            };
            json!({"role": role, "parts": [{"text": t.content}]})
        })
        .collect();
    json!({
        "systemInstruction": {"parts": [{"text": prompt.system}]},
        "contents": contents,
        "generationConfig": {"temperature": prompt.temperature, "maxOutputTokens": prompt.max_tokens},
    })
}

/// The text of a (partial) response: every part of the first candidate.
fn text(answer: &Value) -> Option<String> {
    let parts = answer["candidates"][0]["content"]["parts"].as_array()?;
    Some(parts.iter().filter_map(|p| p["text"].as_str()).collect())
}

impl Gemini {
    async fn post(&self, method: &str, prompt: &Prompt) -> Result<reqwest::Response, LlmError> {
        let mut request =
            self.http.post(format!("{}/models/{}:{method}", self.base_url, self.model)).json(&body(prompt));
        if let Some(key) = &self.api_key {
            request = request.header("x-goog-api-key", key.expose());
        }
        wire::send(request).await
    }
}

#[async_trait]
impl ChatModel for Gemini {
    fn provider(&self) -> &'static str {
        "gemini"
    }

    async fn complete(&self, prompt: &Prompt) -> Result<String, LlmError> {
        let answer = wire::json(self.post("generateContent", prompt).await?).await?;
        text(&answer).ok_or_else(|| LlmError::Decode("no candidates[0].content.parts".into()))
    }

    async fn stream(&self, prompt: &Prompt) -> Result<TextStream, LlmError> {
        let events = wire::sse_data(wire::lines(self.post("streamGenerateContent?alt=sse", prompt).await?));
        Ok(events
            .filter_map(|event| async move {
                match event {
                    Err(err) => Some(Err(err)),
                    Ok(data) => match serde_json::from_str::<Value>(&data) {
                        Err(e) => Some(Err(LlmError::Decode(e.to_string()))),
                        Ok(chunk) if chunk.get("error").is_some() => {
                            Some(Err(LlmError::Decode(format!("error event: {}", chunk["error"]))))
                        }
                        Ok(chunk) => text(&chunk).filter(|t| !t.is_empty()).map(Ok),
                    },
                }
            })
            .boxed())
    }
}
