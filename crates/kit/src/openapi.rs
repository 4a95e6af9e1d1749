//! OpenAPI 3.1 documents built from the code, and the pages that serve them.
//!
//! Each service declares its operations with `#[utoipa::path]` on the handlers and registers
//! them through `utoipa_axum`'s `OpenApiRouter`, so the router and the document come from the
//! same list. This module adds what every service shares: the problem+json body, the answers
//! kit's extractors give on bad input ([`JsonBody`], [`QueryString`], [`PathSegment`]) and the
//! store's failures ([`Storage`]), `/health`, `/ready`, `/openapi.json` and `/docs`
//! ([`document`] and [`routes`]), and the `X-Request-Id` header of every exchange.

use crate::problem::FieldError;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::get;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::openapi::path::{HttpMethod, Operation, Parameter, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, Content, Header, InfoBuilder, OpenApi, PathItem, Ref, RefOr, Required, Schema, Tag};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The body of every error answer (RFC 9457), for the document only: [`crate::Problem`]
/// writes it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = Problem,
    example = json!({
        "type": "about:blank",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": "price: must have at most two decimal places",
        "request_id": "0192f0c4-6b1e-7d3a-9a53-4f1f2b3c4d5e",
        "errors": [{"field": "price", "message": "must have at most two decimal places"}]
    })
)]
pub struct ProblemDocument {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status, repeated.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong, for people (the original's field).
    pub detail: String,
    /// The request's id (`X-Request-Id`), to find it in the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Each field at fault (422 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// A problem answer described by `description`.
pub fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, Content::new(Some(Ref::from_schema_name("Problem"))))
        .build()
}

/// A 503 problem with its `Retry-After`.
pub fn unavailable(description: &str) -> Response {
    let mut response = problem(description);
    response.headers.insert("Retry-After".into(), RefOr::T(retry_after()));
    response
}

fn retry_after() -> Header {
    let mut header = Header::new(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)));
    header.description = Some("Seconds after which the same request may be retried.".into());
    required(header)
}

fn responses(list: &[(StatusCode, Response)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter().map(|(status, response)| (status.as_u16().to_string(), RefOr::T(response.clone()))).collect()
}

/// What kit's [`crate::problem::Json`] extractor answers on a body it cannot take: 400
/// unreadable, 408 not received in time, 413 larger than the limit, 415 not JSON, 422 not
/// the expected object (the handler's own validation answers 422 too, in the same shape).
pub struct JsonBody;

impl IntoResponses for JsonBody {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (StatusCode::BAD_REQUEST, problem("The request could not be read or is not valid.")),
            (StatusCode::REQUEST_TIMEOUT, problem("The request body was not received in time.")),
            (StatusCode::PAYLOAD_TOO_LARGE, problem("The request body is larger than 1 MiB.")),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, problem("The body is not `Content-Type: application/json`.")),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                problem("The body, a parameter or a header is not valid; `errors` names each field at fault."),
            ),
        ])
    }
}

/// What kit's [`crate::problem::Query`] extractor (and the handlers' checks of the values)
/// answer on bad query parameters: 422 naming each.
pub struct QueryString;

impl IntoResponses for QueryString {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[(
            StatusCode::UNPROCESSABLE_ENTITY,
            problem("A query parameter is not valid; `errors` names each one at fault."),
        )])
    }
}

/// What kit's [`crate::problem::Path`] extractor answers on a path segment that is not valid
/// percent-encoded UTF-8: 400 (the handlers' checks of the id answer 400 too).
pub struct PathSegment;

impl IntoResponses for PathSegment {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[(StatusCode::BAD_REQUEST, problem("The path is not valid."))])
    }
}

/// What a store failure answers: 503 with `Retry-After` while the store is unavailable (the
/// same request may be retried), 500 for anything else (the cause is logged, never sent).
pub struct Storage;

impl IntoResponses for Storage {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (StatusCode::INTERNAL_SERVER_ERROR, problem("An unexpected failure; the cause is logged.")),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                unavailable("The store is temporarily unavailable; retry after `Retry-After` seconds."),
            ),
        ])
    }
}

/// The name of the bearer token security scheme every service's document declares.
pub const BEARER: &str = "bearer";

/// What an operation that needs a token (kit's [`crate::auth::Caller`]) answers without a
/// valid one (401 with `WWW-Authenticate`) or with one whose roles do not allow it (403).
pub struct Authenticated;

impl IntoResponses for Authenticated {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut unauthorized = problem("No bearer token, or one that is expired or not valid.");
        let mut challenge = Header::new(ObjectBuilder::new().schema_type(Type::String));
        challenge.description = Some("`Bearer realm=\"shop\", error=…`".into());
        unauthorized.headers.insert("WWW-Authenticate".into(), RefOr::T(required(challenge)));
        responses(&[
            (StatusCode::UNAUTHORIZED, unauthorized),
            (StatusCode::FORBIDDEN, problem("The token's roles do not allow this operation.")),
        ])
    }
}

/// What an operation that takes an optional token (kit's [`crate::auth::MaybeCaller`])
/// answers when one is sent that is not valid: 401.
pub struct OptionalToken;

impl IntoResponses for OptionalToken {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut unauthorized = problem("The bearer token sent is expired or not valid.");
        let mut challenge = Header::new(ObjectBuilder::new().schema_type(Type::String));
        challenge.description = Some("`Bearer realm=\"shop\", error=…`".into());
        unauthorized.headers.insert("WWW-Authenticate".into(), RefOr::T(required(challenge)));
        responses(&[(StatusCode::UNAUTHORIZED, unauthorized)])
    }
}

/// Every operation of `doc` with its path and method.
pub fn operations_mut(doc: &mut OpenApi) -> impl Iterator<Item = (&str, HttpMethod, &mut Operation)> {
    doc.paths.paths.iter_mut().flat_map(|(path, item)| {
        let PathItem { get, put, post, delete, options, head, patch, trace, .. } = item;
        [
            (HttpMethod::Get, get),
            (HttpMethod::Put, put),
            (HttpMethod::Post, post),
            (HttpMethod::Delete, delete),
            (HttpMethod::Options, options),
            (HttpMethod::Head, head),
            (HttpMethod::Patch, patch),
            (HttpMethod::Trace, trace),
        ]
        .into_iter()
        .filter_map(move |(method, operation)| operation.as_mut().map(|op| (path.as_str(), method, op)))
    })
}

/// Every `(method, path)` of `doc`, methods in upper case (`GET /api/products`).
pub fn operations(doc: &OpenApi) -> Vec<(String, String)> {
    let mut doc = doc.clone();
    operations_mut(&mut doc).map(|(path, method, _)| (method_name(&method).to_owned(), path.to_owned())).collect()
}

/// Gives the operation at `method path` the id `operation_id` (one handler serving two
/// methods documents both under its own id).
pub fn rename_operation(doc: &mut OpenApi, method: &str, path: &str, operation_id: &str) {
    for (p, m, op) in operations_mut(doc) {
        if p == path && method_name(&m) == method {
            op.operation_id = Some(operation_id.into());
        }
    }
}

/// Adds the OpenAPI link `to` on the `status` answer of operation `from`: `parameters` (name
/// → runtime expression such as `$response.body#/id`) and an optional `request_body` (a JSON
/// value whose strings may be expressions). Clients and fuzzers follow links to chain calls
/// (create a product, then read, change and delete it).
pub fn link(
    doc: &mut OpenApi,
    from: &str,
    status: &str,
    to: &str,
    parameters: &[(&str, serde_json::Value)],
    request_body: Option<serde_json::Value>,
) {
    for (_, _, op) in operations_mut(doc) {
        if op.operation_id.as_deref() != Some(from) {
            continue;
        }
        if let Some(RefOr::T(response)) = op.responses.responses.get_mut(status) {
            let mut link = utoipa::openapi::link::LinkBuilder::new().operation_id(to);
            for (name, value) in parameters {
                link = link.parameter(*name, value.clone());
            }
            response.links.insert(to.to_owned(), RefOr::T(link.request_body(request_body.clone()).build()));
        }
    }
}

/// `GET`, `POST`, …
pub fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Put => "PUT",
        HttpMethod::Post => "POST",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

/// A JSON answer with `schema` described by `description`.
fn json(description: &str, schema: impl Into<RefOr<Schema>>) -> Response {
    ResponseBuilder::new().description(description).content("application/json", Content::new(Some(schema))).build()
}

fn operation(id: &str, tag: &str, summary: &str, responses: Vec<(&str, Response)>) -> Operation {
    let mut op = Operation::new();
    op.operation_id = Some(id.into());
    op.tags = Some(vec![tag.into()]);
    op.summary = Some(summary.into());
    for (status, response) in responses {
        op.responses.responses.insert(status.into(), RefOr::T(response));
    }
    op
}

fn status_schema(service: &str, status: &str) -> Schema {
    ObjectBuilder::new()
        .property("status", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([status])))
        .required("status")
        .property("service", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([service])))
        .required("service")
        .into()
}

/// The swagger UI files `/docs` loads, each served at `/docs/<name>` with its media type.
const DOCS_ASSETS: [(&str, &str); 7] = [
    ("swagger-ui.css", "text/css"),
    ("index.css", "text/css"),
    ("swagger-ui-bundle.js", "text/javascript"),
    ("swagger-ui-standalone-preset.js", "text/javascript"),
    ("swagger-initializer.js", "text/javascript"),
    ("favicon-32x32.png", "image/png"),
    ("favicon-16x16.png", "image/png"),
];

/// The tag of the routes every service shares.
const PLATFORM_TAG: &str = "platform";

/// Completes a service's document (the paths its `OpenApiRouter` collected) into what
/// `/openapi.json` serves: title and description, the shared routes (`/health`, `/ready`,
/// `/openapi.json`, `/docs` and its files), the problem schema, and `X-Request-Id` on every
/// request and answer.
pub fn document(service: &str, description: &str, mut doc: OpenApi) -> OpenApi {
    doc.info = InfoBuilder::new()
        .title(format!("shop {service}"))
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(format!(
            "{description}\n\nEvery error is `application/problem+json` (RFC 9457). A path with a trailing \
             slash is redirected (307, method and body kept) to the path without it; an unknown path is a 404 \
             problem, a known path with another method a 405 problem."
        )))
        .build();
    let paths = &mut doc.paths.paths;
    let health = operation(
        "health",
        PLATFORM_TAG,
        "Liveness: the process answers",
        vec![("200", json("Up.", status_schema(service, "UP")))],
    );
    paths.insert("/health".into(), PathItem::new(HttpMethod::Get, health));
    let ready = operation(
        "ready",
        PLATFORM_TAG,
        "Readiness: the stores write and the consumers run",
        vec![
            ("200", json("Ready to serve.", status_schema(service, "READY"))),
            ("503", unavailable("Not ready; `detail` says why.")),
        ],
    );
    paths.insert("/ready".into(), PathItem::new(HttpMethod::Get, ready));
    let metrics_text = ResponseBuilder::new()
        .description("Prometheus text exposition (version 0.0.4).")
        .content("text/plain", Content::new(Some(ObjectBuilder::new().schema_type(Type::String))))
        .build();
    let metrics = operation(
        "metrics",
        PLATFORM_TAG,
        "Prometheus metrics: requests per route, orders, events, emails",
        vec![("200", metrics_text), ("503", unavailable("No metrics recorder in this process."))],
    );
    paths.insert("/metrics".into(), PathItem::new(HttpMethod::Get, metrics));
    let spec = operation(
        "openapi",
        PLATFORM_TAG,
        "This document (OpenAPI 3.1)",
        vec![("200", json("The document.", ObjectBuilder::new().schema_type(Type::Object)))],
    );
    paths.insert("/openapi.json".into(), PathItem::new(HttpMethod::Get, spec));
    let page = operation("docs", PLATFORM_TAG, "Interactive documentation (Swagger UI)", vec![("200", html())]);
    paths.insert("/docs".into(), PathItem::new(HttpMethod::Get, page));
    for (name, media_type) in DOCS_ASSETS {
        let asset = ResponseBuilder::new()
            .description("The file.")
            .content(media_type, Content::new(Some(ObjectBuilder::new().schema_type(Type::String))))
            .build();
        let op =
            operation(&format!("docs/{name}"), PLATFORM_TAG, "A file of the documentation page", vec![("200", asset)]);
        paths.insert(format!("/docs/{name}"), PathItem::new(HttpMethod::Get, op));
    }
    let components = doc.components.get_or_insert_with(Components::new);
    components.schemas.insert("Problem".into(), ProblemDocument::schema());
    components.schemas.insert("FieldError".into(), FieldError::schema());
    components.security_schemes.insert(
        BEARER.into(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("An access token of the platform's identity provider."))
                .build(),
        )),
    );
    let mut tags: Vec<String> = Vec::new();
    for (_, _, op) in operations_mut(&mut doc) {
        with_request_id(op);
        for tag in op.tags.iter().flatten() {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
    }
    doc.tags = Some(tags.into_iter().map(Tag::new).collect());
    doc
}

fn html() -> Response {
    ResponseBuilder::new()
        .description("The page.")
        .content("text/html", Content::new(Some(ObjectBuilder::new().schema_type(Type::String))))
        .build()
}

/// `header` marked `required` (utoipa's `Header` has no such field; OpenAPI has it).
pub fn required(mut header: Header) -> Header {
    header.extensions.get_or_insert_with(Default::default).insert("required".into(), serde_json::Value::Bool(true));
    header
}

/// The `X-Request-Id` request header (optional) and answer header (always) of an operation.
fn with_request_id(op: &mut Operation) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    let named = |p: &RefOr<Parameter>| matches!(p, RefOr::T(p) if p.name.eq_ignore_ascii_case("x-request-id"));
    if !params.iter().any(named) {
        let mut param = Parameter::new("X-Request-Id");
        param.parameter_in = ParameterIn::Header;
        param.required = Required::False;
        param.description = Some(
            "Correlation id: a token of 1 to 64 letters, digits, `-`, `_`, `.` or `:` is kept, anything else \
             replaced by a fresh UUID."
                .into(),
        );
        param.schema = Some(ObjectBuilder::new().schema_type(Type::String).into());
        params.push(RefOr::T(param));
    }
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            let mut header = Header::new(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)));
            header.description = Some("The request's id (the client's, if usable, else a fresh one).".into());
            response.headers.insert("X-Request-Id".into(), RefOr::T(required(header)));
        }
    }
}

/// `/openapi.json` (the document) and `/docs` with its files (Swagger UI, embedded in the
/// binary: nothing is fetched at run time).
pub fn routes(doc: &impl Serialize) -> Router {
    let json: Arc<[u8]> = serde_json::to_vec(doc).unwrap_or_default().into();
    let config = Arc::new(utoipa_swagger_ui::Config::from("/openapi.json"));
    let mut router = Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move { ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json.to_vec()) }
            }),
        )
        .route("/docs", get(docs_page));
    for (name, media_type) in DOCS_ASSETS {
        let config = config.clone();
        router =
            router.route(&format!("/docs/{name}"), get(move || async move { docs_asset(name, media_type, config) }));
    }
    router
}

/// Swagger UI's page, its relative links made absolute so `/docs` works without a trailing
/// slash (which the platform redirects away).
async fn docs_page() -> AxumResponse {
    let config = Arc::new(utoipa_swagger_ui::Config::from("/openapi.json"));
    match utoipa_swagger_ui::serve("index.html", config) {
        Ok(Some(file)) => {
            let page = String::from_utf8_lossy(&file.bytes)
                .replace("href=\"./", "href=\"/docs/")
                .replace("href=\"index.css", "href=\"/docs/index.css")
                .replace("src=\"./", "src=\"/docs/");
            ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], page).into_response()
        }
        _ => crate::Problem::not_found("No such route").into_response(),
    }
}

fn docs_asset(name: &str, media_type: &'static str, config: Arc<utoipa_swagger_ui::Config<'static>>) -> AxumResponse {
    match utoipa_swagger_ui::serve(name, config) {
        Ok(Some(file)) => {
            let mut response =
                ([(header::CONTENT_TYPE, HeaderValue::from_static(media_type))], file.bytes.into_owned())
                    .into_response();
            if file.gzpipped {
                response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(None) => crate::Problem::not_found("No such route").into_response(),
        Err(err) => crate::Problem::internal(&err).into_response(),
    }
}

/// A string schema matching `pattern` (for path parameters and ids).
pub fn string_pattern(pattern: &str) -> Schema {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_routes_are_documented() {
        let doc = document("test-service", "A test.", OpenApi::default());
        let ops = operations(&doc);
        for path in ["/health", "/ready", "/metrics", "/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"] {
            assert!(ops.contains(&("GET".to_owned(), path.to_owned())), "{path} in {ops:?}");
        }
        let json = serde_json::to_value(&doc).unwrap_or_default();
        assert_eq!(json["openapi"], "3.1.0");
        assert!(json["components"]["schemas"]["Problem"]["properties"]["type"].is_object());
    }
}
