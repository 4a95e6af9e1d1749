//! Logging: JSON lines for deployments, human-readable for `shop up`. `RUST_LOG` filters.
//! Traces: [`crate::trace`], installed here too (OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set; service name from `OTEL_SERVICE_NAME`, else `shop`).

use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

static TRACES: std::sync::OnceLock<opentelemetry_sdk::trace::SdkTracerProvider> = std::sync::OnceLock::new();

/// Sends the spans still buffered (call before the process exits).
pub fn flush() {
    if let Some(provider) = TRACES.get()
        && let Err(err) = provider.force_flush()
    {
        tracing::warn!(error = %err, "traces not flushed");
    }
}

/// Installs the global subscriber and the tracer provider; a second call is a no-op (tests
/// start many apps).
pub fn init(format: LogFormat) {
    if TRACES.get().is_none() {
        let name = crate::config::optional("OTEL_SERVICE_NAME").unwrap_or_else(|| "shop".to_owned());
        match crate::trace::install(&name, crate::trace::OtlpConfig::from_env().as_ref()) {
            Ok(provider) => {
                let _ = TRACES.set(provider);
            }
            Err(err) => eprintln!("traces are not exported: {err}"),
        }
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
