//! Templates (embedded, autoescaped), the page frame every page shares, errors as HTML pages,
//! the embedded assets and the storefront's security headers.

use crate::session::Visitor;
use axum::extract::{Path, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;
use serde_json::Value;

/// Why a page could not be shown, as the visitor sees it.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The page needs a signed-in visitor: go to sign-in, then back to this path.
    #[error("sign-in required")]
    SignIn(String),
    /// Signed in, but not allowed (the admin pages).
    #[error("This page is for shop staff.")]
    Forbidden,
    /// A form post without the page's CSRF token, or from another site.
    #[error("The form expired or came from another site; reload the page and try again.")]
    Csrf,
    /// Bad input the page can name.
    #[error("{0}")]
    BadForm(String),
    /// Nothing there.
    #[error("{0}")]
    NotFound(String),
    /// A service refused (its status and its problem's `detail`).
    #[error("{detail}")]
    Refused {
        /// The service's status.
        status: StatusCode,
        /// What it said.
        detail: String,
        /// Field errors it named.
        fields: Vec<String>,
    },
    /// A service or the identity provider is down or misbehaving.
    #[error("{0}")]
    Unavailable(String),
    /// A template failed (a bug: logged, shown as a 500).
    #[error("the page could not be rendered")]
    Template(#[from] minijinja::Error),
}

impl WebError {
    /// A service's problem+json answer.
    pub fn from_problem(status: StatusCode, body: &Value) -> WebError {
        let detail = body
            .get("detail")
            .and_then(Value::as_str)
            .or_else(|| body.get("title").and_then(Value::as_str))
            .unwrap_or("The request was refused.")
            .to_owned();
        let fields = body
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| Some(format!("{}: {}", e.get("field")?.as_str()?, e.get("message")?.as_str()?)))
                    .collect()
            })
            .unwrap_or_default();
        if status == StatusCode::NOT_FOUND {
            return WebError::NotFound(detail);
        }
        if status.is_server_error() {
            return WebError::Unavailable(detail);
        }
        WebError::Refused { status, detail, fields }
    }

    /// The service's status for a refusal (to tell a conflict from bad input).
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::SignIn(_) => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::BadForm(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Refused { status, .. } => *status,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the visitor reads: the message and any field errors.
    pub fn message(&self) -> String {
        match self {
            WebError::Refused { detail, fields, .. } if !fields.is_empty() => {
                format!("{detail} ({})", fields.join("; "))
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::SignIn(next) = &self {
            let target = format!("/signin?next={}", kit::problem::encode_query_value(next));
            return (
                StatusCode::SEE_OTHER,
                [(LOCATION, HeaderValue::from_str(&target).unwrap_or(HeaderValue::from_static("/signin")))],
            )
                .into_response();
        }
        if let WebError::Template(err) = &self {
            tracing::error!(error = %err, detail = ?err.detail(), "rendering a page failed");
        }
        let status = self.status();
        let (title, message) = match &self {
            WebError::Template(_) => {
                ("Something went wrong".to_owned(), "The page could not be shown; the cause is logged.".to_owned())
            }
            WebError::NotFound(_) => ("Not found".to_owned(), self.message()),
            WebError::Unavailable(_) => ("Temporarily unavailable".to_owned(), self.message()),
            WebError::Forbidden | WebError::Csrf => ("Not allowed".to_owned(), self.message()),
            _ => ("That did not work".to_owned(), self.message()),
        };
        // A minimal page, without the frame: it must render even when templates are at fault.
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t} · shop</title><link rel=\"stylesheet\" href=\"/assets/shop.css\"></head><body><main id=\"main\" class=\"narrow\"><h1>{t}</h1><p role=\"alert\">{m}</p><p><a href=\"/\">Back to the shop</a></p></main></body></html>",
            t = minijinja::HtmlEscape(&title),
            m = minijinja::HtmlEscape(&message)
        );
        let mut response = (status, Html(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert("retry-after", HeaderValue::from_static("5"));
        }
        response
    }
}

/// The templates, compiled once.
pub struct Pages {
    env: Environment<'static>,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("catalog.html", include_str!("../templates/catalog.html")),
    ("product.html", include_str!("../templates/product.html")),
    ("cart.html", include_str!("../templates/cart.html")),
    ("checkout.html", include_str!("../templates/checkout.html")),
    ("orders.html", include_str!("../templates/orders.html")),
    ("assistant.html", include_str!("../templates/assistant.html")),
    ("admin/_nav.html", include_str!("../templates/admin/_nav.html")),
    ("admin/overview.html", include_str!("../templates/admin/overview.html")),
    ("admin/products.html", include_str!("../templates/admin/products.html")),
    ("admin/product_form.html", include_str!("../templates/admin/product_form.html")),
    ("admin/inventory.html", include_str!("../templates/admin/inventory.html")),
    ("admin/orders.html", include_str!("../templates/admin/orders.html")),
    ("admin/notifications.html", include_str!("../templates/admin/notifications.html")),
];

/// `12.5` → `12.50`: prices as the catalog shows them.
fn money(value: minijinja::Value) -> String {
    match f64::try_from(value.clone()) {
        Ok(amount) => format!("{amount:.2}"),
        Err(_) => value.as_str().unwrap_or("").to_owned(),
    }
}

/// An RFC 3339 time, shortened to `2026-12-06 10:15` (UTC) for tables.
fn when(value: String) -> String {
    let trimmed: String = value.chars().take(16).collect();
    trimmed.replace('T', " ")
}

/// A URL that may go into `href`/`src`: `http(s)` or a local path, else nothing (no
/// `javascript:` or `data:` from the catalog). Autoescaping still applies on output.
fn safe_url(value: String) -> String {
    let lower = value.trim().to_ascii_lowercase();
    if lower.starts_with("https://")
        || lower.starts_with("http://")
        || (lower.starts_with('/') && !lower.starts_with("//"))
    {
        value.trim().to_owned()
    } else {
        String::new()
    }
}

impl Pages {
    /// Loads the embedded templates; a broken template is a build defect, caught by the
    /// tests that render every page.
    pub fn new() -> Pages {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_filter("money", money);
        env.add_filter("when", when);
        env.add_filter("safe_url", safe_url);
        for (name, source) in TEMPLATES {
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(template = name, error = %err, "a storefront template does not compile");
            }
        }
        Pages { env }
    }

    /// Renders `template` inside the frame: `page` is the page's own data; the frame adds
    /// the visitor (name, role, cart size) and the CSRF token forms carry.
    pub fn render<T: Serialize>(&self, template: &str, visitor: &Visitor, page: T) -> Result<Html<String>, WebError> {
        let frame = serde_json::json!({
            "signed_in": visitor.signed_in() && visitor.auth_enabled,
            "auth_enabled": visitor.auth_enabled,
            "is_admin": visitor.is_admin(),
            "name": visitor.display_name(),
            "email": visitor.email(),
            "cart_count": visitor.cart.count(),
            "csrf": visitor.csrf,
        });
        let html = self.env.get_template(template)?.render(minijinja::context! {
            visitor => minijinja::Value::from(minijinja::value::Serde(&frame)),
            page => minijinja::Value::from(minijinja::value::Serde(&page)),
        })?;
        Ok(Html(html))
    }
}

impl Default for Pages {
    fn default() -> Self {
        Pages::new()
    }
}

const STYLESHEET: &str = include_str!("../assets/shop.css");
const SCRIPT: &str = include_str!("../assets/shop.js");

/// `/assets/{file}`: the stylesheet and the script, cached for a day.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "shop.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "shop.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return WebError::NotFound("No such file.".into()).into_response(),
    };
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(kind)),
            (CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        body,
    )
        .into_response()
}

/// The storefront's Content-Security-Policy: scripts and styles only from this origin (no
/// inline script, no `eval`), calls only to this origin, forms only to this origin and the
/// identity provider (a post whose session expired is redirected to sign in there), never
/// framed. Product images may come from any HTTPS host.
pub fn content_security_policy(issuer: &str) -> HeaderValue {
    let issuer_origin = url::Url::parse(issuer)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null" && !o.contains([';', ',', ' ']))
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; connect-src 'self'; \
         font-src 'self'; form-action 'self'{issuer_origin}; base-uri 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ))
}

/// Adds the CSP to every storefront answer, and keeps pages out of shared caches (they
/// show the visitor's name and cart).
pub async fn security_headers(State(csp): State<HeaderValue>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, csp);
    // Not `no-referrer`: with it, browsers send `Origin: null` on form posts, which the CSRF
    // guard refuses. Other sites still learn nothing.
    headers.insert(axum::http::header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let mut env = Environment::new();
        env.add_filter("money", money);
        env.add_filter("when", when);
        env.add_filter("safe_url", safe_url);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
        for (name, _) in TEMPLATES {
            env.get_template(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn only_web_urls_reach_attributes() {
        assert_eq!(safe_url("javascript:alert(1)".into()), "");
        assert_eq!(safe_url(" JaVaScRiPt:alert(1)".into()), "");
        assert_eq!(safe_url("data:text/html,x".into()), "");
        assert_eq!(safe_url("//evil.example/x.png".into()), "");
        assert_eq!(safe_url("https://img.example/x.png".into()), "https://img.example/x.png");
        assert_eq!(money(minijinja::Value::from(12.5)), "12.50");
        let csp = content_security_policy("http://127.0.0.1:8080/realms/microservices");
        assert!(csp.to_str().unwrap_or("").contains("form-action 'self' http://127.0.0.1:8080;"), "{csp:?}");
    }
}
