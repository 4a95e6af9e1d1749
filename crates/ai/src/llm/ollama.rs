//! Ollama's native API (`POST {base}/api/chat`), no auth; streaming is newline-delimited
//! JSON objects `{"message":{"content":…},"done":false}` ending with `"done":true`.

use super::wire;
use super::{ChatModel, LlmError, Prompt, TextStream};
use async_trait::async_trait;
use futures_util::stream::StreamExt;
use serde_json::{Value, json};

/// An Ollama client.
pub struct Ollama {
    /// Shared HTTP client.
    pub http: reqwest::Client,
    /// `http://127.0.0.1:11434`.
    pub base_url: String,
    /// Model name (`llama3.2`).
    pub model: String,
}

/// The request body.
pub fn body(model: &str, prompt: &Prompt, stream: bool) -> Value {
    let mut messages = vec![json!({"role": "system", "content": prompt.system})];
    messages.extend(prompt.turns.iter().map(|t| json!({"role": t.role, "content": t.content})));
    json!({
        "model": model,
        "messages": messages,
        "stream": stream,
        "options": {"temperature": prompt.temperature, "num_predict": prompt.max_tokens},
    })
}

impl Ollama {
    async fn post(&self, prompt: &Prompt, stream: bool) -> Result<reqwest::Response, LlmError> {
        wire::send(self.http.post(format!("{}/api/chat", self.base_url)).json(&body(&self.model, prompt, stream))).await
    }
}

#[async_trait]
impl ChatModel for Ollama {
    fn provider(&self) -> &'static str {
        "ollama"
    }

    async fn complete(&self, prompt: &Prompt) -> Result<String, LlmError> {
        let answer = wire::json(self.post(prompt, false).await?).await?;
        if let Some(error) = answer["error"].as_str() {
            return Err(LlmError::Decode(format!("error: {error}")));
        }
        answer["message"]["content"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| LlmError::Decode("no message.content".into()))
    }

    async fn stream(&self, prompt: &Prompt) -> Result<TextStream, LlmError> {
        let lines = wire::lines(self.post(prompt, true).await?);
        Ok(lines
            .filter_map(|line| async move {
                match line {
                    Err(err) => Some(Err(err)),
                    Ok(line) if line.trim().is_empty() => None,
                    Ok(line) => match serde_json::from_str::<Value>(&line) {
                        Err(e) => Some(Err(LlmError::Decode(e.to_string()))),
                        Ok(chunk) if chunk["error"].is_string() => {
                            Some(Err(LlmError::Decode(format!("error: {}", chunk["error"]))))
                        }
                        Ok(chunk) => {
                            chunk["message"]["content"].as_str().filter(|t| !t.is_empty()).map(|t| Ok(t.to_owned()))
                        }
                    },
                }
            })
            .boxed())
    }
}
