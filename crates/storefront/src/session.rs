//! Who the visitor is and what they carry: the access token (`shop_session`, `HttpOnly`,
//! verified on every request like any bearer token), the cart (`shop_cart`), the CSRF token
//! (`shop_csrf`), and sign-in through the identity provider with the authorization code
//! flow and PKCE.

use crate::AppState;
use crate::render::WebError;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::header::{COOKIE, HOST, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use cookie::{Cookie, SameSite};
use kit::auth::Principal;
use serde::Deserialize;
use sha2::Digest;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

const SESSION_COOKIE: &str = "shop_session";
const CART_COOKIE: &str = "shop_cart";
const CSRF_COOKIE: &str = "shop_csrf";
const SIGN_IN_COOKIE: &str = "shop_signin";
/// Largest form a page posts (the product editor's description is the biggest field).
const MAX_FORM_BYTES: usize = 64 * 1024;
/// Most lines a cart holds (an order's own limit is 100).
pub const MAX_CART_LINES: usize = 50;
/// Most units of one product in a cart (an order line's own limit).
pub const MAX_CART_QUANTITY: i64 = 1000;

/// 32 random bytes, URL-safe base64 (CSRF tokens, PKCE verifiers, `state`).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // The system generator failing is not something to continue past with a guessable
        // token; a fresh v4 UUID pair still comes from a CSPRNG.
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        bytes[..16].copy_from_slice(a.as_bytes());
        bytes[16..].copy_from_slice(b.as_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// The cookies of a request, by name (the first of a repeated name wins).
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse_encoded(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Whether the visitor reached us over HTTPS (directly or through a proxy that says so):
/// cookies are then `Secure`.
fn is_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: `HttpOnly`, path `/`, `SameSite` as given, `Secure` over HTTPS;
/// `max_age` `None` deletes it.
fn set_cookie(name: &str, value: &str, same_site: SameSite, max_age: Option<Duration>, secure: bool) -> HeaderValue {
    let mut built = Cookie::build((name, value)).path("/").http_only(true).same_site(same_site).secure(secure);
    built = match max_age {
        Some(age) => built.max_age(cookie::time::Duration::seconds(i64::try_from(age.as_secs()).unwrap_or(i64::MAX))),
        None => built.max_age(cookie::time::Duration::ZERO),
    };
    let text = built.build().encoded().to_string();
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// One line of the cart.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CartLine {
    /// The product.
    pub product_id: String,
    /// Units.
    pub quantity: i64,
}

/// The cart: lines in the order they were added. Prices are never stored: the order service
/// prices every order from the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cart {
    /// The lines.
    pub lines: Vec<CartLine>,
}

/// A plausible product id: what the catalog accepts, and safe in a cookie once encoded.
pub fn valid_product_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl Cart {
    /// Reads the cookie's `id=qty&…` text, dropping anything malformed (a tampered cart
    /// can only name products and quantities, which the order service checks anyway).
    pub fn parse(text: &str) -> Cart {
        let mut cart = Cart::default();
        for (id, qty) in url::form_urlencoded::parse(text.as_bytes()) {
            if let Ok(quantity) = qty.parse::<i64>() {
                cart.set(&id, quantity);
            }
        }
        cart
    }

    /// The cookie text.
    pub fn encode(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for line in &self.lines {
            out.append_pair(&line.product_id, &line.quantity.to_string());
        }
        out.finish()
    }

    /// Sets a line's quantity (0 or less removes it); ignores invalid ids and a full cart.
    pub fn set(&mut self, product_id: &str, quantity: i64) {
        if !valid_product_id(product_id) {
            return;
        }
        let quantity = quantity.min(MAX_CART_QUANTITY);
        match self.lines.iter().position(|l| l.product_id == product_id) {
            Some(i) if quantity <= 0 => {
                self.lines.remove(i);
            }
            Some(i) => self.lines[i].quantity = quantity,
            None if quantity > 0 && self.lines.len() < MAX_CART_LINES => {
                self.lines.push(CartLine { product_id: product_id.to_owned(), quantity })
            }
            None => {}
        }
    }

    /// Adds units to a line.
    pub fn add(&mut self, product_id: &str, quantity: i64) {
        let current = self.lines.iter().find(|l| l.product_id == product_id).map_or(0, |l| l.quantity);
        self.set(product_id, current.saturating_add(quantity));
    }

    /// Units in the cart.
    pub fn count(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }
}

/// The visitor of this request: who they are (if signed in), their token, cart and CSRF
/// token. Rejects nothing: pages decide what needs a sign-in.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The verified caller; with auth off, the open principal.
    pub principal: Option<Principal>,
    /// The bearer token to call the services with.
    pub token: Option<String>,
    /// The cart.
    pub cart: Cart,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
    /// Whether authentication is on (off: everyone may do everything, as in the original).
    pub auth_enabled: bool,
    /// Cookies to be set with the answer (`Secure` over HTTPS).
    pub secure: bool,
}

/// The CSRF token the [`csrf_guard`] found or minted for this request.
#[derive(Clone)]
struct CsrfToken(String);

impl FromRequestParts<AppState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let csrf = match parts.extensions.get::<CsrfToken>() {
            Some(token) => token.0.clone(),
            None => cookie_value(&parts.headers, CSRF_COOKIE).unwrap_or_else(random_token),
        };
        let cart = cookie_value(&parts.headers, CART_COOKIE).map(|c| Cart::parse(&c)).unwrap_or_default();
        let auth_enabled = state.auth.enabled();
        let secure = is_https(&parts.headers);
        if !auth_enabled {
            return Ok(Visitor { principal: Some(Principal::open()), token: None, cart, csrf, auth_enabled, secure });
        }
        let token = cookie_value(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty());
        let principal = match &token {
            // An expired or revoked token is simply no session: the visitor signs in again.
            Some(token) => state.auth.verify(token).await.ok(),
            None => None,
        };
        let token = token.filter(|_| principal.is_some());
        Ok(Visitor { principal, token, cart, csrf, auth_enabled, secure })
    }
}

impl Visitor {
    /// Whether someone is signed in (always, with auth off).
    pub fn signed_in(&self) -> bool {
        self.principal.is_some()
    }

    /// Whether the visitor is staff.
    pub fn is_admin(&self) -> bool {
        self.principal.as_ref().is_some_and(Principal::is_admin)
    }

    /// The signed-in customer's email (`None` with auth off: the pages ask for it).
    pub fn email(&self) -> Option<&str> {
        if !self.auth_enabled {
            return None;
        }
        self.principal.as_ref().and_then(|p| p.email.as_deref())
    }

    /// The name to greet with.
    pub fn display_name(&self) -> Option<String> {
        let principal = self.principal.as_ref()?;
        if !self.auth_enabled {
            return None;
        }
        principal.username.clone().or_else(|| principal.email.clone())
    }

    /// `Err` redirecting to sign-in (and back to `here`) when nobody is signed in.
    pub fn require_sign_in(&self, here: &str) -> Result<(), WebError> {
        if self.signed_in() { Ok(()) } else { Err(WebError::SignIn(here.to_owned())) }
    }

    /// Like [`Visitor::require_sign_in`], then 403 for a visitor who is not staff.
    pub fn require_admin(&self, here: &str) -> Result<(), WebError> {
        self.require_sign_in(here)?;
        if self.is_admin() { Ok(()) } else { Err(WebError::Forbidden) }
    }

    /// The `Set-Cookie` value storing `cart`.
    pub fn cart_cookie(&self, cart: &Cart) -> HeaderValue {
        if cart.lines.is_empty() {
            set_cookie(CART_COOKIE, "", SameSite::Lax, None, self.secure)
        } else {
            set_cookie(CART_COOKIE, &cart.encode(), SameSite::Lax, Some(Duration::from_secs(30 * 86_400)), self.secure)
        }
    }
}

/// Mints the CSRF cookie for a visitor without one, and refuses a form post whose `csrf`
/// field does not match the visitor's cookie (403), or that comes from another origin.
/// Checking here, for every post, means no handler can forget.
pub async fn csrf_guard(request: Request, next: Next) -> Response {
    let existing = cookie_value(request.headers(), CSRF_COOKIE).filter(|t| t.len() >= 32);
    let secure = is_https(request.headers());
    let (mut parts, body) = request.into_parts();
    let token = existing.clone().unwrap_or_else(random_token);
    parts.extensions.insert(CsrfToken(token.clone()));
    let request = if parts.method == Method::POST {
        let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return WebError::BadForm("The form is too large.".into()).into_response();
            }
        };
        let sent = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
        let same_origin = same_origin(&parts.headers);
        let valid = match (&existing, sent) {
            (Some(expected), Some(sent)) => constant_time_eq(expected.as_bytes(), sent.as_bytes()),
            _ => false,
        };
        if !valid || !same_origin {
            return WebError::Csrf.into_response();
        }
        Request::from_parts(parts, axum::body::Body::from(bytes))
    } else {
        Request::from_parts(parts, body)
    };
    let mut response = next.run(request).await;
    if existing.is_none() {
        let cookie = set_cookie(CSRF_COOKIE, &token, SameSite::Strict, Some(Duration::from_secs(86_400 * 7)), secure);
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// A post's `Origin`, when the browser sends one, names this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
}

/// The identity provider's endpoints, discovered once.
#[derive(Debug, Clone)]
struct Endpoints {
    authorization: String,
    token: String,
}

/// Sign-in with the identity provider: discovery, the authorization request and the code
/// exchange.
pub struct SignIn {
    issuer: String,
    client_id: String,
    public_url: Option<String>,
    http: reqwest::Client,
    endpoints: RwLock<Option<(Endpoints, Instant)>>,
}

/// How long discovered endpoints are trusted before asking again.
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(3600);

impl SignIn {
    /// From the storefront's settings.
    pub fn new(config: &crate::Config) -> SignIn {
        SignIn {
            issuer: config.auth.settings().issuer.clone(),
            client_id: config.client_id.clone(),
            public_url: config.public_url.clone().map(|u| u.trim_end_matches('/').to_owned()),
            http: reqwest::Client::builder().timeout(config.timeout).build().unwrap_or_default(),
            endpoints: RwLock::new(None),
        }
    }

    async fn endpoints(&self) -> Result<Endpoints, WebError> {
        if let Some((endpoints, at)) = self.endpoints.read().await.as_ref()
            && at.elapsed() < DISCOVERY_MAX_AGE
        {
            return Ok(endpoints.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let unavailable = |why: String| WebError::Unavailable(format!("The identity provider is unavailable: {why}"));
        let document: serde_json::Value = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| crate::api::unavailable("The identity provider", &e))?
            .json()
            .await
            .map_err(|e| crate::api::unavailable("The identity provider", &e))?;
        let field = |name: &str| document.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let (Some(authorization), Some(token)) = (field("authorization_endpoint"), field("token_endpoint")) else {
            return Err(unavailable("its discovery document lacks the authorization or token endpoint".into()));
        };
        let endpoints = Endpoints { authorization, token };
        *self.endpoints.write().await = Some((endpoints.clone(), Instant::now()));
        Ok(endpoints)
    }

    /// `https://shop.example/auth/callback`, from `PUBLIC_URL` or the request's host.
    fn redirect_uri(&self, headers: &HeaderMap) -> String {
        let base = match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let host = headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
                format!("{}://{host}", if is_https(headers) { "https" } else { "http" })
            }
        };
        format!("{base}/auth/callback")
    }
}

/// Where to go after signing in: a local path only (no open redirect).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains(['\\', '\r', '\n']) => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// `?next=` of the sign-in link.
#[derive(Deserialize)]
pub struct SignInParams {
    next: Option<String>,
}

/// `GET /signin`: remembers `state`, the PKCE verifier and where to return in a short-lived
/// cookie, then sends the visitor to the identity provider's sign-in page.
pub async fn start_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<SignInParams>,
) -> Result<Response, WebError> {
    if !state.auth.enabled() {
        return Ok(Redirect::to("/").into_response());
    }
    let endpoints = state.sign_in.endpoints().await?;
    let (oauth_state, verifier) = (random_token(), random_token());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let next = local_path(params.next.as_deref());
    let mut target = url::Url::parse(&endpoints.authorization)
        .map_err(|e| WebError::Unavailable(format!("The identity provider's sign-in address is invalid: {e}")))?;
    target
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &state.sign_in.client_id)
        .append_pair("redirect_uri", &state.sign_in.redirect_uri(&headers))
        .append_pair("scope", "openid profile email")
        .append_pair("state", &oauth_state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let pending = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("state", &oauth_state)
        .append_pair("verifier", &verifier)
        .append_pair("next", &next)
        .finish();
    // Lax: the cookie must come back on the identity provider's top-level redirect to us.
    let cookie =
        set_cookie(SIGN_IN_COOKIE, &pending, SameSite::Lax, Some(Duration::from_secs(600)), is_https(&headers));
    Ok((
        StatusCode::SEE_OTHER,
        [
            (
                LOCATION,
                HeaderValue::from_str(target.as_str())
                    .map_err(|_| WebError::Unavailable("The identity provider's sign-in address is invalid".into()))?,
            ),
            (SET_COOKIE, cookie),
        ],
    )
        .into_response())
}

/// What the identity provider sends back.
#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

/// `GET /auth/callback`: checks `state` against the cookie, exchanges the code (with the
/// PKCE verifier) for a token, verifies the token, and stores it in the session cookie.
pub async fn finish_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Result<Response, WebError> {
    if let Some(error) = callback.error {
        let why = callback.error_description.unwrap_or(error);
        return Err(WebError::BadForm(format!("Sign-in failed: {why}")));
    }
    let pending = cookie_value(&headers, SIGN_IN_COOKIE).ok_or_else(|| {
        WebError::BadForm("The sign-in expired or was started in another browser; sign in again.".into())
    })?;
    let fields: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(pending.as_bytes()).into_owned().collect();
    let (Some(expected), Some(verifier)) = (fields.get("state"), fields.get("verifier")) else {
        return Err(WebError::BadForm("The sign-in expired; sign in again.".into()));
    };
    let Some(code) = callback
        .code
        .filter(|_| callback.state.as_deref().is_some_and(|s| constant_time_eq(s.as_bytes(), expected.as_bytes())))
    else {
        return Err(WebError::BadForm(
            "The sign-in answer does not match this browser's request; sign in again.".into(),
        ));
    };
    let endpoints = state.sign_in.endpoints().await?;
    let answer = state
        .sign_in
        .http
        .post(&endpoints.token)
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", state.sign_in.client_id.as_str()),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", state.sign_in.redirect_uri(&headers).as_str()),
        ])
        .send()
        .await
        .map_err(|e| crate::api::unavailable("The identity provider", &e))?;
    if !answer.status().is_success() {
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        let why = body.get("error_description").and_then(|v| v.as_str()).unwrap_or("the code was refused");
        return Err(WebError::BadForm(format!("Sign-in failed: {why}; sign in again.")));
    }
    let token: TokenAnswer = answer.json().await.map_err(|e| crate::api::unavailable("The identity provider", &e))?;
    state
        .auth
        .verify(&token.access_token)
        .await
        .map_err(|e| WebError::BadForm(format!("The identity provider's token was refused: {e}")))?;
    let secure = is_https(&headers);
    let lifetime = Duration::from_secs(token.expires_in.unwrap_or(300));
    let next = local_path(fields.get("next").map(String::as_str));
    let mut response =
        (StatusCode::SEE_OTHER, [(LOCATION, HeaderValue::from_str(&next).unwrap_or(HeaderValue::from_static("/")))])
            .into_response();
    let cookies = response.headers_mut();
    cookies.append(SET_COOKIE, set_cookie(SESSION_COOKIE, &token.access_token, SameSite::Lax, Some(lifetime), secure));
    cookies.append(SET_COOKIE, set_cookie(SIGN_IN_COOKIE, "", SameSite::Lax, None, secure));
    Ok(response)
}

/// `POST /signout`: forgets the session (the cart stays).
pub async fn sign_out(headers: HeaderMap) -> Response {
    let cookie = set_cookie(SESSION_COOKIE, "", SameSite::Lax, None, is_https(&headers));
    (StatusCode::SEE_OTHER, [(LOCATION, HeaderValue::from_static("/")), (SET_COOKIE, cookie)]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cart_round_trips_and_drops_what_is_malformed() {
        let mut cart = Cart::default();
        cart.add("prod-001", 2);
        cart.add("prod-002", 1);
        cart.add("prod-001", 1);
        assert_eq!(Cart::parse(&cart.encode()), cart);
        assert_eq!(cart.count(), 4);
        let tampered = Cart::parse("prod-001=3&%3Cscript%3E=1&prod-002=abc&prod-003=-4&prod-004=99999");
        assert_eq!(
            tampered.lines,
            vec![
                CartLine { product_id: "prod-001".into(), quantity: 3 },
                CartLine { product_id: "prod-004".into(), quantity: MAX_CART_QUANTITY }
            ]
        );
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path(Some("/checkout")), "/checkout");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }
}
