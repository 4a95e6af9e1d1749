//! Distributed traces: W3C trace context over HTTP and in event headers, OpenTelemetry spans,
//! exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! One order is one trace: the gateway's request span, the order and inventory services'
//! request spans (the context travels in `traceparent` on every proxied and service-to-service
//! call), the outbox's publish span (the context is stored with the event, in its
//! `traceparent` header) and each consumer's span for the event. Without an endpoint the
//! spans are not recorded (the sampler drops them) but their ids still propagate, so log
//! lines and events carry a trace id either way.
//!
//! The current span lives in OpenTelemetry's [`Context`], attached to each request's future
//! by [`request_span`] and to each event's handling by [`event_span`].

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use std::future::Future;
use std::sync::RwLock;
use tracing::Instrument as _;

/// The instrumentation scope of every span.
const SCOPE: &str = "shop";

/// The installed tracer, built once rather than per span, and whether it records.
static TRACER: RwLock<Option<(SdkTracer, bool)>> = RwLock::new(None);

/// Where spans go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The collector's base URL (`http://tempo:4318`); spans go to `<endpoint>/v1/traces`.
    pub endpoint: String,
    /// OTLP/HTTP with JSON bodies instead of protobuf (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`).
    pub json: bool,
}

impl OtlpConfig {
    /// From `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_EXPORTER_OTLP_PROTOCOL`; `None` when no
    /// endpoint is set.
    pub fn from_env() -> Option<Self> {
        let endpoint = crate::config::optional("OTEL_EXPORTER_OTLP_ENDPOINT")?;
        let json = crate::config::optional("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() == Some("http/json");
        Some(OtlpConfig { endpoint, json })
    }
}

/// A trace setup that could not be built.
#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter: {0}")]
pub struct TraceError(String);

/// Installs the process's tracer provider and the W3C propagator. With `otlp`, spans are
/// recorded (parent-based: a sampled caller's trace is kept) and exported in batches from a
/// thread of their own; without, ids propagate and nothing is recorded. Returns the provider,
/// to flush it before exit.
pub fn install(service_name: &str, otlp: Option<&OtlpConfig>) -> Result<SdkTracerProvider, TraceError> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service_name.to_owned()).build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let provider = match otlp {
        None => builder.with_sampler(Sampler::AlwaysOff).build(),
        Some(config) => {
            use opentelemetry_otlp::{Protocol, WithExportConfig};
            let protocol = if config.json { Protocol::HttpJson } else { Protocol::HttpBinary };
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(format!("{}/v1/traces", config.endpoint.trim_end_matches('/')))
                .build()
                .map_err(|e| TraceError(e.to_string()))?;
            builder
                .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
                .with_batch_exporter(exporter)
                .build()
        }
    };
    global::set_tracer_provider(provider.clone());
    *TRACER.write().unwrap_or_else(|p| p.into_inner()) = Some((provider.tracer(SCOPE), otlp.is_some()));
    Ok(provider)
}

struct HeaderCarrier<'a>(&'a HeaderMap);

impl Extractor for HeaderCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderSink<'a>(&'a mut HeaderMap);

impl Injector for HeaderSink<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

struct Pairs<'a>(&'a [(String, String)]);

impl Extractor for Pairs<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

struct PairSink(Vec<(String, String)>);

impl Injector for PairSink {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// Writes the current span's context (`traceparent`) into outgoing request headers.
pub fn inject_current(headers: &mut HeaderMap) {
    let cx = Context::current();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderSink(headers));
    }
}

/// The current span's context as event headers (`traceparent`), if there is one.
pub fn current_as_event_headers() -> Vec<(String, String)> {
    let cx = Context::current();
    if !cx.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut sink = PairSink(Vec::new());
    TraceContextPropagator::new().inject_context(&cx, &mut sink);
    sink.0
}

/// The current trace id (32 hex digits), for log lines.
pub fn current_trace_id() -> Option<String> {
    let cx = Context::current();
    let span = cx.span();
    let context = span.span_context();
    context.is_valid().then(|| context.trace_id().to_string())
}

/// A `tracing` span carrying the trace id, so every log line written under it names the trace.
fn log_span(cx: &Context) -> tracing::Span {
    let span = cx.span();
    let context = span.span_context();
    if context.is_valid() {
        tracing::info_span!("trace", trace_id = %context.trace_id())
    } else {
        tracing::Span::none()
    }
}

/// Starts a span and returns `parent` with it current. `describe` (name and attributes) runs
/// only when spans are recorded: unrecorded spans need ids, not text.
fn start(kind: SpanKind, parent: &Context, describe: impl FnOnce() -> (String, Vec<KeyValue>)) -> Context {
    let installed = TRACER.read().unwrap_or_else(|p| p.into_inner()).clone();
    match installed {
        Some((tracer, false)) => {
            parent.with_span(tracer.span_builder("unrecorded").with_kind(kind).start_with_context(&tracer, parent))
        }
        Some((tracer, true)) => {
            let (name, attributes) = describe();
            let builder = tracer.span_builder(name).with_kind(kind).with_attributes(attributes);
            parent.with_span(builder.start_with_context(&tracer, parent))
        }
        None => {
            let tracer = global::tracer_provider().tracer(SCOPE);
            let (name, attributes) = describe();
            let builder = tracer.span_builder(name).with_kind(kind).with_attributes(attributes);
            parent.with_span(builder.start_with_context(&tracer, parent))
        }
    }
}

/// Middleware: one server span per request (`<METHOD> <route template>`), child of the
/// caller's `traceparent` if it sent one, current while the handler runs.
pub async fn request_span(service: &'static str, request: Request, next: Next) -> Response {
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderCarrier(request.headers())));
    let cx = start(SpanKind::Server, &parent, || {
        let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
        let method = request.method().as_str().to_owned();
        let name = format!("{method} {}", route.as_deref().unwrap_or("unmatched"));
        let mut attributes = vec![
            KeyValue::new("service", crate::metrics::short_name(service).to_owned()),
            KeyValue::new("http.request.method", method),
        ];
        if let Some(route) = route {
            attributes.push(KeyValue::new("http.route", route));
        }
        (name, attributes)
    });
    let response = next.run(request).instrument(log_span(&cx)).with_context(cx.clone()).await;
    let span = cx.span();
    if span.is_recording() {
        let status = response.status();
        span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status.as_u16())));
        if status.is_server_error() {
            span.set_status(Status::error(status.to_string()));
        }
    }
    span.end();
    response
}

/// Runs `work` in a span whose parent is the context in an event's headers (the request
/// that wrote it), or a new trace when it has none; `describe` gives its name and attributes.
pub async fn event_span<F: Future>(
    kind: SpanKind,
    headers: &[(String, String)],
    describe: impl FnOnce() -> (String, Vec<KeyValue>),
    work: F,
) -> F::Output {
    let parent = global::get_text_map_propagator(|p| p.extract(&Pairs(headers)));
    let cx = start(kind, &parent, describe);
    let output = work.instrument(log_span(&cx)).with_context(cx.clone()).await;
    cx.span().end();
    output
}

/// Producer spans of a batch being published, one per message; see [`publish_spans`].
pub struct PublishSpans(Vec<Context>);

impl PublishSpans {
    /// Ends every span, marking them failed with `error` when the publish failed.
    pub fn end(self, error: Option<&str>) {
        for cx in self.0 {
            let span = cx.span();
            if let Some(error) = error
                && span.is_recording()
            {
                span.set_status(Status::error(error.to_owned()));
            }
            span.end();
        }
    }
}

/// Starts a `publish <topic>` span per message, child of the context in its headers (the
/// request that wrote the event), and puts the span's own context in the message's
/// `traceparent`, so each consumer's span is a child of the publish.
pub fn publish_spans(service: &'static str, messages: &mut [crate::bus::OutgoingMessage]) -> PublishSpans {
    let propagator = TraceContextPropagator::new();
    let mut spans = Vec::with_capacity(messages.len());
    for message in messages {
        let parent = propagator.extract(&Pairs(&message.headers));
        let cx = start(SpanKind::Producer, &parent, || {
            let attributes = vec![
                KeyValue::new("service", service),
                KeyValue::new("messaging.destination.name", message.topic.clone()),
            ];
            (format!("publish {}", message.topic), attributes)
        });
        message
            .headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("traceparent") && !k.eq_ignore_ascii_case("tracestate"));
        let mut sink = PairSink(Vec::new());
        propagator.inject_context(&cx, &mut sink);
        message.headers.extend(sink.0);
        spans.push(cx);
    }
    PublishSpans(spans)
}

/// Re-exported for span attributes.
pub use opentelemetry::KeyValue as Attribute;
/// Re-exported for callers naming span kinds.
pub use opentelemetry::trace::SpanKind as Kind;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_span_continues_the_callers_trace_and_passes_it_on() {
        let _ = install("test", None);
        let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let headers = vec![("traceparent".to_owned(), caller.to_owned())];
        let (trace, outgoing) = event_span(Kind::Consumer, &headers, || ("consume".into(), vec![]), async {
            let mut outgoing = HeaderMap::new();
            inject_current(&mut outgoing);
            (current_trace_id(), outgoing)
        })
        .await;
        assert_eq!(trace.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        let sent = outgoing.get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{sent}");
        assert!(!sent.contains("00f067aa0ba902b7"), "a span of its own: {sent}");
        assert_eq!(current_trace_id(), None, "nothing current outside the span");
    }
}
