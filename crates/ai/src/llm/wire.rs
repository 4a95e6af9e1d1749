//! What the provider clients share: sending a JSON request, mapping error statuses, and
//! splitting a streamed body into lines (Server-Sent Events and NDJSON are both line-based).

use super::LlmError;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, StreamExt};

/// Longest error text kept from a provider's answer.
const MAX_DETAIL: usize = 300;

/// Sends `request`; a non-success status becomes [`LlmError::Status`].
pub async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, LlmError> {
    let response = request.send().await.map_err(|e| transport(&e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(LlmError::Status { status: status.as_u16(), detail: body.chars().take(MAX_DETAIL).collect() })
}

/// The whole body as JSON.
pub async fn json(response: reqwest::Response) -> Result<serde_json::Value, LlmError> {
    let bytes = response.bytes().await.map_err(|e| transport(&e))?;
    serde_json::from_slice(&bytes).map_err(|e| LlmError::Decode(e.to_string()))
}

pub fn transport(err: &reqwest::Error) -> LlmError {
    LlmError::Transport(kit::http::error_chain(err))
}

/// The body's lines, without line endings, as they arrive.
pub fn lines(response: reqwest::Response) -> BoxStream<'static, Result<String, LlmError>> {
    let body = response.bytes_stream().map(|chunk| chunk.map_err(|e| transport(&e)));
    split_lines(body.boxed())
}

/// Splits a byte stream into lines.
pub fn split_lines(body: BoxStream<'static, Result<Bytes, LlmError>>) -> BoxStream<'static, Result<String, LlmError>> {
    struct State {
        body: BoxStream<'static, Result<Bytes, LlmError>>,
        buffer: BytesMut,
        done: bool,
    }
    stream::unfold(State { body, buffer: BytesMut::new(), done: false }, |mut state| async move {
        loop {
            if let Some(end) = state.buffer.iter().position(|b| *b == b'\n') {
                let line = state.buffer.split_to(end + 1);
                let text = String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_owned();
                return Some((Ok(text), state));
            }
            if state.done {
                if state.buffer.is_empty() {
                    return None;
                }
                let rest = state.buffer.split();
                return Some((Ok(String::from_utf8_lossy(&rest).trim_end_matches('\r').to_owned()), state));
            }
            match state.body.next().await {
                Some(Ok(chunk)) => state.buffer.extend_from_slice(&chunk),
                Some(Err(err)) => {
                    state.done = true;
                    state.buffer.clear();
                    return Some((Err(err), state));
                }
                None => state.done = true,
            }
        }
    })
    .boxed()
}

/// The `data:` payloads of a Server-Sent Events stream (one per event; multi-line data
/// joined with `\n`).
pub fn sse_data(lines: BoxStream<'static, Result<String, LlmError>>) -> BoxStream<'static, Result<String, LlmError>> {
    stream::unfold((lines, Vec::<String>::new(), false), |(mut lines, mut data, mut ended)| async move {
        loop {
            if ended {
                return None;
            }
            match lines.next().await {
                Some(Ok(line)) if line.is_empty() => {
                    if !data.is_empty() {
                        let event = data.join("\n");
                        data.clear();
                        return Some((Ok(event), (lines, data, ended)));
                    }
                }
                Some(Ok(line)) => {
                    if let Some(value) = line.strip_prefix("data:") {
                        data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
                    }
                }
                Some(Err(err)) => {
                    ended = true;
                    return Some((Err(err), (lines, data, ended)));
                }
                None => {
                    ended = true;
                    if !data.is_empty() {
                        let event = data.join("\n");
                        data.clear();
                        return Some((Ok(event), (lines, data, ended)));
                    }
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_and_events_survive_arbitrary_chunking() {
        let chunks: Vec<Result<Bytes, LlmError>> = vec![
            Ok(Bytes::from_static(b"data: {\"a\"")),
            Ok(Bytes::from_static(b":1}\r\n\r\ndata: second\n")),
            Ok(Bytes::from_static(b"\n: comment\n\ndata: [DONE]")),
        ];
        let events: Vec<String> =
            sse_data(split_lines(stream::iter(chunks).boxed())).map(|e| e.unwrap_or_default()).collect().await;
        assert_eq!(events, ["{\"a\":1}", "second", "[DONE]"]);
    }
}
