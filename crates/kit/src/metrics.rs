//! Prometheus metrics: one process-wide recorder (`metrics` facade, rendered by
//! `metrics-exporter-prometheus`), `GET /metrics`, and RED figures per route.
//!
//! Every series carries a `service` label, so `shop up` (six services in one process, one
//! recorder) and `shop serve` (one per process) expose the same names; the names are the
//! contract in `deploy/metrics.txt`, which the dashboards and alert rules use.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Latency buckets (seconds): sub-millisecond to the gateway's upstream timeout.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use. `None` if another recorder was installed
/// first (metrics then go there and `/metrics` says so), or when `METRICS=off` (every
/// metric call is then a no-op: for measuring what metrics cost).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            if crate::config::optional("METRICS").is_some_and(|v| v.eq_ignore_ascii_case("off")) {
                tracing::warn!("METRICS=off: no metrics are recorded and /metrics answers 503");
                return None;
            }
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("age_seconds".into()), &LATENCY_BUCKETS));
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    let upkeep = handle.clone();
                    // Histograms are drained into their buckets by upkeep; without a runtime
                    // (a unit test) rendering does it.
                    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                        runtime.spawn(async move {
                            let mut tick = tokio::time::interval(Duration::from_secs(5));
                            loop {
                                tick.tick().await;
                                upkeep.run_upkeep();
                            }
                        });
                    }
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// `GET /metrics` of `service`: the Prometheus text exposition of its own series. Under
/// `shop up` six services share the process's recorder; each port shows only the series
/// labelled with its service, so a Prometheus scraping every port counts each figure once.
pub async fn render(service: &'static str) -> Response {
    match handle() {
        Some(handle) => {
            let mut response = own_series(&handle.render(), short_name(service)).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
            response
        }
        None => crate::Problem::unavailable("metrics are not available in this process", 60).into_response(),
    }
}

/// The samples of `exposition` labelled `service="<service>"` (and any without a service
/// label), each family's `# HELP`/`# TYPE` lines kept only when one of its samples is.
fn own_series(exposition: &str, service: &str) -> String {
    // Built once per scrape, not per line.
    let (first, later) = (format!("{{service=\"{service}\""), format!(",service=\"{service}\""));
    let mut out = String::with_capacity(exposition.len() / 4);
    let mut pending: Vec<&str> = Vec::new();
    for line in exposition.lines() {
        if line.starts_with('#') {
            // A new family's first comment drops the previous family's unused ones.
            let family = line.split_whitespace().nth(2);
            if pending.first().and_then(|p| p.split_whitespace().nth(2)) != family {
                pending.clear();
            }
            pending.push(line);
            continue;
        }
        let labels = match (line.find('{'), line.rfind('}')) {
            (Some(open), Some(close)) if open < close => &line[open..=close],
            _ => "",
        };
        let keep = !labels.contains("service=\"") || labels.contains(&first) || labels.contains(&later);
        if keep {
            for comment in pending.drain(..) {
                out.push_str(comment);
                out.push('\n');
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Counts and times every request by route template (never the raw path: ids would make
/// one series per product), method and status code.
pub async fn track(service: &'static str, request: Request, next: Next) -> Response {
    // Installing here too means a service that never serves /metrics still records.
    if handle().is_none() {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    if route == "/metrics" {
        return next.run(request).await;
    }
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_str().to_owned();
    let labels =
        [("service", short_name(service).to_owned()), ("route", route), ("method", method), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

/// Counts events a relay of `service` published (`events_published_total{service,topic}`);
/// for relays outside kit's outbox (MongoDB's).
pub fn count_published(service: &'static str, topic: &str) {
    metrics::counter!("events_published_total", "service" => service, "topic" => topic.to_owned()).increment(1);
}

/// The `service` label: `order-service` → `order`, `api-gateway` → `gateway`, as in the
/// dashboards.
pub fn short_name(service: &str) -> &str {
    service.strip_suffix("-service").or_else(|| service.strip_prefix("api-")).unwrap_or(service)
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_service_shows_only_its_own_series() {
        let exposition = "# HELP a_total A.\n# TYPE a_total counter\na_total{service=\"order\",topic=\"x\"} 1\n\
                          a_total{topic=\"y\",service=\"product\"} 2\n# TYPE b gauge\nb{service=\"product\"} 3\n\
                          # TYPE c gauge\nc 4\n";
        assert_eq!(
            super::own_series(exposition, "order"),
            "# HELP a_total A.\n# TYPE a_total counter\na_total{service=\"order\",topic=\"x\"} 1\n# TYPE c gauge\nc 4\n"
        );
        assert_eq!(
            super::own_series(exposition, "product"),
            "# HELP a_total A.\n# TYPE a_total counter\na_total{topic=\"y\",service=\"product\"} 2\n\
             # TYPE b gauge\nb{service=\"product\"} 3\n# TYPE c gauge\nc 4\n"
        );
    }

    #[test]
    fn service_labels_are_short() {
        assert_eq!(super::short_name("order-service"), "order");
        assert_eq!(super::short_name("api-gateway"), "gateway");
        assert_eq!(super::short_name("ai"), "ai");
    }
}
