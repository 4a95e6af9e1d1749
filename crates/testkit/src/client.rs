//! A small HTTP/1.1 client for tests and the assertions on its answers.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client as HyperClient, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::Duration;

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body.
    Empty,
    /// A JSON value, sent as `application/json`.
    Json(Value),
    /// Raw bytes with their content type (for malformed documents and other media types).
    Raw(&'static str, Vec<u8>),
}

impl From<Value> for Body {
    fn from(value: Value) -> Self {
        Body::Json(value)
    }
}

impl From<Option<Value>> for Body {
    fn from(value: Option<Value>) -> Self {
        value.map_or(Body::Empty, Body::Json)
    }
}

/// An answer: status, headers, and the body as JSON (`Null` when empty, a JSON string
/// holding the text when it is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as JSON.
    pub body: Value,
    /// Body as text.
    pub text: String,
}

impl Reply {
    /// The `Content-Type` header.
    pub fn content_type(&self) -> &str {
        self.header(header::CONTENT_TYPE.as_str()).unwrap_or("")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem's `detail` (empty when absent).
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or_default()
    }

    /// Asserts a problem+json answer with `status`; returns its `detail`.
    #[track_caller]
    pub fn assert_problem(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        assert_eq!(self.content_type(), "application/problem+json", "body: {}", self.body);
        assert_eq!(self.body["status"], status.as_u16(), "problem status field: {}", self.body);
        assert!(self.body["title"].is_string(), "problem title: {}", self.body);
        self.body["detail"].as_str().unwrap_or_else(|| panic!("problem without detail: {}", self.body)).to_owned()
    }

    /// Asserts a 422 problem; returns the fields it names in `errors[].field`.
    #[track_caller]
    pub fn assert_invalid(&self) -> Vec<String> {
        self.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        self.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("422 without errors[]: {}", self.body))
            .iter()
            .map(|e| e["field"].as_str().unwrap_or_else(|| panic!("error without field: {e}")).to_owned())
            .collect()
    }

    /// Asserts a JSON answer with `status`; returns the body.
    #[track_caller]
    pub fn assert_json(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        assert!(self.content_type().starts_with("application/json"), "content type {}", self.content_type());
        self.body
    }
}

/// A client for one base URL (`http://127.0.0.1:<port>`), with optional default headers
/// (a bearer token, say) sent on every request.
#[derive(Clone, Debug)]
pub struct Client {
    /// Prefix of relative paths.
    pub base: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

impl Client {
    /// A client for `base`.
    pub fn new(base: impl Into<String>) -> Client {
        Client {
            base: base.into(),
            headers: Vec::new(),
            timeout: Duration::from_secs(20),
            http: HyperClient::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    /// The same client sending `name: value` on every request.
    pub fn with_header(&self, name: &str, value: &str) -> Client {
        let mut client = self.clone();
        client.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        client.headers.push((name.to_owned(), value.to_owned()));
        client
    }

    /// The same client sending `Authorization: Bearer <token>`.
    pub fn with_token(&self, token: &str) -> Client {
        self.with_header("authorization", &format!("Bearer {token}"))
    }

    /// The same client for another base URL.
    pub fn at(&self, base: impl Into<String>) -> Client {
        Client { base: base.into(), ..self.clone() }
    }

    /// Sends a request to `path` (relative to the base, or an absolute `http://` URL) and
    /// reads the whole answer. Panics on a transport failure or after 20 s.
    pub async fn request(&self, method: Method, path: &str, body: impl Into<Body>, headers: &[(&str, &str)]) -> Reply {
        self.try_request(method.clone(), path, body, headers)
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
    }

    /// Like [`Client::request`], but a transport failure is an `Err` (for tests of
    /// shutdowns and crashes).
    pub async fn try_request(
        &self,
        method: Method,
        path: &str,
        body: impl Into<Body>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{}", self.base, path) };
        let mut request = Request::builder().method(method.clone()).uri(url);
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let bytes = match body.into() {
            Body::Empty => Bytes::new(),
            Body::Json(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(&value).expect("serialising a request body"))
            }
            Body::Raw(content_type, bytes) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                Bytes::from(bytes)
            }
        };
        let request = request.body(Full::new(bytes)).map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(self.timeout, self.http.request(request))
            .await
            .map_err(|_| format!("timed out after {:?}", self.timeout))?
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Ok(Reply { status, headers, body, text })
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, Body::Empty, &[]).await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, body, &[]).await
    }

    /// `PUT` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, body, &[]).await
    }

    /// `PATCH` with an optional JSON body.
    pub async fn patch(&self, path: &str, body: impl Into<Body>) -> Reply {
        self.request(Method::PATCH, path, body, &[]).await
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, Body::Empty, &[]).await
    }
}
