//! The services' public APIs, called with the visitor's token. Answers stay JSON values:
//! the templates show what the services say, and the services own every rule.

use crate::render::WebError;
use reqwest::Method;
use serde_json::Value;

/// `what` did not answer: the cause is logged (with the address), the visitor reads a 503
/// without connection details.
pub(crate) fn unavailable(what: &str, err: &reqwest::Error) -> WebError {
    tracing::warn!(url = ?err.url().map(url::Url::as_str), error = %kit::http::error_chain(err), "{what} did not answer");
    WebError::Unavailable(format!("{what} is not answering; try again in a moment."))
}

/// Which service a call goes to.
#[derive(Debug, Clone, Copy)]
pub enum Service {
    /// The catalog.
    Product,
    /// Orders.
    Order,
    /// Stock.
    Inventory,
    /// Emails sent.
    Notification,
    /// The assistant.
    Ai,
}

/// The HTTP client and the services' addresses.
pub struct Api {
    http: reqwest::Client,
    product: String,
    order: String,
    inventory: String,
    notification: String,
    ai: String,
}

/// An answer with the headers that matter to pages.
#[derive(Debug)]
pub struct Answer {
    /// The JSON body (`Null` when empty).
    pub body: Value,
    /// `X-Total-Count`, for the services that page bare arrays.
    pub total: Option<i64>,
}

impl Api {
    /// A client for the services in `config`.
    pub fn new(config: &crate::Config) -> Api {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .pool_idle_timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        Api {
            http,
            product: config.product_url.trim_end_matches('/').to_owned(),
            order: config.order_url.trim_end_matches('/').to_owned(),
            inventory: config.inventory_url.trim_end_matches('/').to_owned(),
            notification: config.notification_url.trim_end_matches('/').to_owned(),
            ai: config.ai_url.trim_end_matches('/').to_owned(),
        }
    }

    fn base(&self, service: Service) -> &str {
        match service {
            Service::Product => &self.product,
            Service::Order => &self.order,
            Service::Inventory => &self.inventory,
            Service::Notification => &self.notification,
            Service::Ai => &self.ai,
        }
    }

    /// `base` + path segments (each percent-encoded) + query pairs.
    pub fn url(&self, service: Service, segments: &[&str], query: &[(&str, String)]) -> Result<url::Url, WebError> {
        let mut url =
            url::Url::parse(self.base(service)).map_err(|e| WebError::Unavailable(format!("bad service URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| WebError::Unavailable("bad service URL".into()))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        Ok(url)
    }

    /// `GET`.
    pub async fn get(&self, url: url::Url, token: Option<&str>) -> Result<Answer, WebError> {
        self.call(Method::GET, url, token, None, None).await
    }

    /// `method` on a service's path (segments percent-encoded), with an optional JSON body.
    pub async fn send(
        &self,
        method: Method,
        service: Service,
        segments: &[&str],
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, WebError> {
        self.call(method, self.url(service, segments, &[])?, token, body, None).await
    }

    /// Any method with an optional JSON body and idempotency key.
    pub async fn call(
        &self,
        method: Method,
        url: url::Url,
        token: Option<&str>,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, WebError> {
        let mut request = self.http.request(method, url).header("accept", "application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.map_err(|e| unavailable("A service the page needs", &e))?;
        let status = response.status();
        let total = response.headers().get("x-total-count").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let bytes = response.bytes().await.map_err(|e| unavailable("A service the page needs", &e))?;
        let body: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(Answer { body, total });
        }
        Err(WebError::from_problem(status, &body))
    }

    /// The text of a service's `/metrics` (for the admin's dead-letter counts).
    pub async fn metrics(&self, service: Service) -> Option<String> {
        let url = format!("{}/metrics", self.base(service));
        let response = self.http.get(url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    }
}
