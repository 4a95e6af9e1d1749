//! OpenAI-compatible chat completions (`POST {base}/chat/completions`): OpenAI, Groq, vLLM,
//! Ollama's `/v1`. Bearer-token auth; streaming is Server-Sent Events of `delta` chunks
//! ending with `data: [DONE]`.

use super::wire;
use super::{ChatModel, LlmError, Prompt, TextStream};
use crate::config::Secret;
use async_trait::async_trait;
use futures_util::stream::StreamExt;
use serde_json::{Value, json};

/// A client for one OpenAI-compatible endpoint.
pub struct OpenAi {
    /// Shared HTTP client.
    pub http: reqwest::Client,
    /// `https://api.openai.com/v1`, `https://api.groq.com/openai/v1`, …
    pub base_url: String,
    /// Bearer token (self-hosted servers may need none).
    pub api_key: Option<Secret>,
    /// Model name.
    pub model: String,
    /// `openai` or `groq`.
    pub name: &'static str,
}

/// The request body.
pub fn body(model: &str, prompt: &Prompt, stream: bool) -> Value {
    let mut messages = vec![json!({"role": "system", "content": prompt.system})];
    messages.extend(prompt.turns.iter().map(|t| json!({"role": t.role, "content": t.content})));
    json!({
        "model": model,
        "messages": messages,
        "temperature": prompt.temperature,
        "max_tokens": prompt.max_tokens,
        "stream": stream,
    })
}

impl OpenAi {
    async fn post(&self, prompt: &Prompt, stream: bool) -> Result<reqwest::Response, LlmError> {
        let mut request =
            self.http.post(format!("{}/chat/completions", self.base_url)).json(&body(&self.model, prompt, stream));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose());
        }
        wire::send(request).await
    }
}

#[async_trait]
impl ChatModel for OpenAi {
    fn provider(&self) -> &'static str {
        self.name
    }

    async fn complete(&self, prompt: &Prompt) -> Result<String, LlmError> {
        let answer = wire::json(self.post(prompt, false).await?).await?;
        answer["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| LlmError::Decode("no choices[0].message.content".into()))
    }

    async fn stream(&self, prompt: &Prompt) -> Result<TextStream, LlmError> {
        let events = wire::sse_data(wire::lines(self.post(prompt, true).await?));
        Ok(events
            .take_while(|event| std::future::ready(!matches!(event, Ok(data) if data.trim() == "[DONE]")))
            .filter_map(|event| async move {
                match event {
                    Err(err) => Some(Err(err)),
                    Ok(data) => match serde_json::from_str::<Value>(&data) {
                        Err(e) => Some(Err(LlmError::Decode(e.to_string()))),
                        Ok(chunk) if chunk.get("error").is_some() => {
                            Some(Err(LlmError::Decode(format!("error event: {}", chunk["error"]))))
                        }
                        Ok(chunk) => chunk["choices"][0]["delta"]["content"]
                            .as_str()
                            .filter(|t| !t.is_empty())
                            .map(|t| Ok(t.to_owned())),
                    },
                }
            })
            .boxed())
    }
}
