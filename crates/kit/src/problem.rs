//! `application/problem+json` (RFC 9457) errors, the request id they carry, and extractors
//! that turn malformed input into a 422 naming the offending field.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

tokio::task_local! {
    /// The id of the request being served; set by [`crate::server`]'s middleware.
    pub static REQUEST_ID: String;
}

/// The current request's id, if called while serving one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// One field that failed validation.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(example = json!({"field": "items[0].quantity", "message": "must be between 1 and 1000"}))]
pub struct FieldError {
    /// Dotted path of the field (`items[0].quantity`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// An error response. `detail` is the original's field and always present.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

impl Problem {
    /// A problem with `status` and a client-facing `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem { status, detail: detail.into(), errors: Vec::new(), retry_after: None, headers: Vec::new() }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 409.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 422 for one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    /// 422 listing every field at fault; `detail` names them too.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        Problem { errors, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail) }
    }

    /// 422 without a single field to blame.
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// 500 with a generic detail: the cause is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }

    /// A database failure of the `store` store: 503 with `Retry-After` when the store is
    /// unavailable for now (full disk, connection lost, locked; see
    /// [`crate::db::is_unavailable`]) — the same request may be retried as it is — else
    /// 500. The cause is logged, never sent.
    pub fn storage(store: &str, err: &sqlx::Error) -> Self {
        if crate::db::is_unavailable(err) {
            tracing::warn!(store, error = %err, "store unavailable");
            crate::db::record_unavailable(store);
            Self::unavailable(format!("The {store} store is temporarily unavailable. Please retry shortly."), 1)
        } else {
            Self::internal(&format_args!("{store} store: {err}"))
        }
    }

    /// 503 with a `Retry-After`.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Problem { retry_after: Some(retry_after_secs), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, detail) }
    }

    /// The same problem with one more response header (`WWW-Authenticate`, `RateLimit-*`);
    /// a value that is not a valid header is left out.
    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The client-facing detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.detail)
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Body {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            request_id: current_request_id(),
            errors: &self.errors,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

/// A JSON body extractor whose rejections are problem+json 422s naming the field in the
/// API's terms (`items[0].quantity: must be a whole number`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_content = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !json_content {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected a request with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                return Problem::new(
                    status,
                    format!("The request body is larger than {} bytes", crate::server::BODY_LIMIT),
                );
            }
            if crate::server::is_body_timeout(&rejection) {
                return Problem::new(StatusCode::REQUEST_TIMEOUT, "The request body was not received in time");
            }
            Problem::bad_request("The request body could not be read")
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses JSON, reporting the path of the first field that does not fit, worded for the
/// API's users: no Rust type names, no parser positions except for malformed JSON.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // Every body of this API is an object; serde would read an array positionally into a
    // struct and blame "[0]".
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(Problem::invalid_field("body", "must be a JSON object"));
        }
        _ => return Err(Problem::invalid_field("body", "is not valid JSON (expected an object)")),
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    if parsed.is_ok() {
        // Text after the document (`{} {}`) is malformed too.
        de.end().map_err(|e| Problem::invalid_field("body", format!("is not valid JSON ({e})")))?;
    }
    parsed.map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let syntax = matches!(inner.classify(), serde_json::error::Category::Syntax | serde_json::error::Category::Eof);
        if syntax || inner.classify() == serde_json::error::Category::Io {
            return Problem::invalid_field("body", format!("is not valid JSON ({inner})"));
        }
        let field = if path == "." || path.contains('?') { "body".to_owned() } else { path };
        let (field, message) = explain(&field, &inner.to_string());
        Problem::invalid_field(field, message)
    })
}

/// A serde message in the API's words: `(field, what is wrong)`.
fn explain(field: &str, message: &str) -> (String, String) {
    // serde appends a position: useless for a value that parsed as JSON but does not fit.
    let message = message.split(" at line ").next().unwrap_or(message);
    if let Some(missing) = message.strip_prefix("missing field `") {
        let name = missing.trim_end_matches('`');
        let field = if field == "body" { name.to_owned() } else { format!("{field}.{name}") };
        return (field, "is required".to_owned());
    }
    if let Some(duplicate) = message.strip_prefix("duplicate field `") {
        let name = duplicate.trim_end_matches('`');
        let field = if field == "body" { name.to_owned() } else { format!("{field}.{name}") };
        return (field, "appears more than once".to_owned());
    }
    if message.starts_with("unknown variant") {
        let allowed = message.split_once("expected one of ").map(|(_, list)| list.replace('`', ""));
        return (field.to_owned(), allowed.map_or("is not an allowed value".into(), |l| format!("must be one of {l}")));
    }
    if !message.starts_with("invalid type")
        && !message.starts_with("invalid length")
        && !message.starts_with("invalid value")
    {
        // Our own checks (`must be …`) already speak the API's language.
        return (field.to_owned(), message.to_owned());
    }
    let expected = message.rsplit_once("expected ").map_or("", |(_, e)| e);
    let wanted = if field == "body" && (expected.starts_with("struct") || expected.contains("map")) {
        "must be a JSON object"
    } else if ["i64", "i32", "u64", "u32", "u16", "u8", "usize", "a whole number", "integer"]
        .iter()
        .any(|t| expected.starts_with(t))
    {
        "must be a whole number"
    } else if expected.starts_with("f64") || expected.starts_with("f32") {
        "must be a number"
    } else if expected.contains("string") || expected.starts_with("char") {
        "must be a string"
    } else if expected.contains("sequence") || expected.starts_with("tuple") {
        "must be an array"
    } else if expected.contains("struct") || expected.contains("map") {
        "must be an object"
    } else if expected.contains("bool") {
        "must be true or false"
    } else if expected.contains("UUID") || expected.contains("uuid") {
        "must be a UUID"
    } else {
        "has a value of the wrong type"
    };
    (field.to_owned(), wanted.to_owned())
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query-string extractor whose rejections are problem+json 422s. A parameter given twice
/// (`?page=1&page=2`) takes its last value, as the original did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Parses a query string (last value of a repeated name wins), naming the bad parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, Problem> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        pairs.retain(|(n, _)| n.as_str() != name);
        pairs.push((name.into_owned(), value.into_owned()));
    }
    let deduplicated = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(deduplicated.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        let field = if path == "." || path.contains('?') { "query".to_owned() } else { path };
        let message = if message.contains("invalid digit") || message.contains("cannot parse integer") {
            "must be a whole number".to_owned()
        } else if message.contains("invalid float") {
            "must be a number".to_owned()
        } else {
            explain(&field, &message).1
        };
        Problem::invalid_field(field, message)
    })
}

/// `value` percent-encoded for a query string.
pub fn encode_query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A path extractor whose rejections are problem+json: a segment that is not valid
/// percent-encoded UTF-8 (`/api/products/%ff%fe`) is a 400 saying so.
#[derive(Debug, Clone, Default)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state).await.map(|p| Path(p.0)).map_err(|rejection| {
            use axum::extract::rejection::PathRejection;
            match rejection {
                PathRejection::FailedToDeserializePathParams(_) => Problem::bad_request(
                    "The path is not valid: a segment is not valid percent-encoded UTF-8 or has the wrong type",
                ),
                other => Problem::internal(&other),
            }
        })
    }
}
