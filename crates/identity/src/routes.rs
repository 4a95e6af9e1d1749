//! Keycloak's OpenID Connect paths under `/realms/microservices`: discovery, the JWKS, the
//! token endpoint (password, client credentials, authorization code with PKCE) and the
//! sign-in page of the authorization-code flow.

use crate::issuer::{CLIENTS, Client, Issuer, REALM, Subject, TOKEN_LIFETIME_SECS, USERS};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an authorization code may wait to be exchanged.
const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// Shared state: the issuer and the codes waiting to be exchanged.
#[derive(Clone)]
pub struct AppState {
    /// Signs tokens.
    pub issuer: Arc<Issuer>,
    codes: Arc<Mutex<HashMap<String, PendingCode>>>,
}

struct PendingCode {
    client: String,
    redirect_uri: String,
    challenge: String,
    email: String,
    created: Instant,
}

impl AppState {
    /// State for `issuer`.
    pub fn new(issuer: Arc<Issuer>) -> Self {
        AppState { issuer, codes: Arc::new(Mutex::new(HashMap::new())) }
    }
}

/// The routes, under `/realms/microservices`.
pub fn router(state: AppState) -> Router {
    let base = format!("/realms/{REALM}");
    Router::new()
        .route(&format!("{base}/.well-known/openid-configuration"), get(discovery))
        .route(&format!("{base}/protocol/openid-connect/certs"), get(certs))
        .route(&format!("{base}/protocol/openid-connect/token"), axum::routing::post(token))
        .route(&format!("{base}/protocol/openid-connect/auth"), get(sign_in_page).post(sign_in))
        .route(&format!("{base}/protocol/openid-connect/logout"), get(logout))
        .with_state(state)
}

async fn discovery(State(state): State<AppState>) -> Json<serde_json::Value> {
    let url = &state.issuer.url;
    Json(serde_json::json!({
        "issuer": url,
        "authorization_endpoint": format!("{url}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{url}/protocol/openid-connect/token"),
        "jwks_uri": format!("{url}/protocol/openid-connect/certs"),
        "end_session_endpoint": format!("{url}/protocol/openid-connect/logout"),
        "grant_types_supported": ["authorization_code", "password", "client_credentials"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email"],
    }))
}

async fn certs(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"keys": [state.issuer.key().jwk()]}))
}

/// An OAuth error answer (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(serde_json::json!({"error": error, "error_description": description}))).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
    code: Option<String>,
    code_verifier: Option<String>,
    redirect_uri: Option<String>,
}

/// The client a token request authenticates as (`client_secret_basic` or `_post`), or why
/// it is an `invalid_client`.
fn client_of(headers: &HeaderMap, form: &TokenForm) -> Result<(&'static Client, bool), &'static str> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| pair.split_once(':').map(|(id, secret)| (id.to_owned(), secret.to_owned())));
    let (id, secret) = match (basic, &form.client_id) {
        (Some((id, secret)), _) => (id, Some(secret)),
        (None, Some(id)) => (id.clone(), form.client_secret.clone()),
        (None, None) => return Err("client_id is required"),
    };
    let Some(client) = CLIENTS.iter().find(|c| c.id == id) else {
        return Err("unknown client");
    };
    let authenticated = match (client.secret, secret.as_deref()) {
        (Some(expected), Some(given)) if constant_time_eq(expected.as_bytes(), given.as_bytes()) => true,
        (Some(_), _) => return Err("wrong client secret"),
        (None, _) => false,
    };
    Ok((client, authenticated))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The demo user signing in with `login` (email or user name) and `password`.
fn user(login: &str, password: &str) -> Option<&'static crate::issuer::User> {
    let login = login.trim().to_ascii_lowercase();
    USERS.iter().find(|u| {
        (u.email == login || u.email.split('@').next() == Some(login.as_str()))
            && constant_time_eq(u.password.as_bytes(), password.as_bytes())
    })
}

async fn token(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<TokenForm>) -> Response {
    let (client, confidential) = match client_of(&headers, &form) {
        Ok(found) => found,
        Err(reason) => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", reason),
    };
    let subject = match form.grant_type.as_deref() {
        Some("client_credentials") if confidential => Subject::service(client.id),
        Some("client_credentials") => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized_client",
                "a public client has no service account",
            );
        }
        Some("password") => {
            let (login, password) = (form.username.as_deref().unwrap_or(""), form.password.as_deref().unwrap_or(""));
            match user(login, password) {
                Some(user) => Subject::person(user.email, user.roles, client.id),
                None => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_grant", "Invalid user credentials"),
            }
        }
        Some("authorization_code") => match redeem(&state, client, &form) {
            Ok(subject) => subject,
            Err(description) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description),
        },
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "use password, client_credentials or authorization_code",
            );
        }
    };
    let minted = state.issuer.mint(&subject, TOKEN_LIFETIME_SECS);
    match minted {
        Ok(access_token) => Json(serde_json::json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECS,
            "scope": "openid profile email",
        }))
        .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "minting a token failed");
            oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "could not sign the token")
        }
    }
}

/// Exchanges an authorization code (single use, 60 s) for its user, checking the client,
/// the redirect URI and the PKCE verifier.
fn redeem(state: &AppState, client: &Client, form: &TokenForm) -> Result<Subject, &'static str> {
    let code = form.code.as_deref().ok_or("code is required")?;
    let pending = state.codes.lock().unwrap_or_else(|p| p.into_inner()).remove(code).ok_or("unknown or used code")?;
    if pending.created.elapsed() > CODE_LIFETIME {
        return Err("the code expired");
    }
    if pending.client != client.id || form.redirect_uri.as_deref() != Some(pending.redirect_uri.as_str()) {
        return Err("the code was issued to another client or redirect URI");
    }
    let verifier = form.code_verifier.as_deref().ok_or("code_verifier is required")?;
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    if !constant_time_eq(computed.as_bytes(), pending.challenge.as_bytes()) {
        return Err("the code verifier does not match the challenge");
    }
    let user = USERS.iter().find(|u| u.email == pending.email).ok_or("the user no longer exists")?;
    Ok(Subject::person(user.email, user.roles, client.id))
}

#[derive(Deserialize, Clone, Default)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    email: Option<String>,
    password: Option<String>,
}

/// Redirect URIs the storefront may use in development: its own pages on this machine.
fn redirect_allowed(uri: &str) -> bool {
    ["http://localhost:", "http://127.0.0.1:"].iter().any(|prefix| uri.starts_with(prefix))
        && !uri.contains(['\r', '\n', '"', '<', '>'])
}

fn check_authorize(params: &AuthorizeParams) -> Result<(), &'static str> {
    if params.response_type.as_deref() != Some("code") {
        return Err("response_type must be code");
    }
    if !CLIENTS.iter().any(|c| Some(c.id) == params.client_id.as_deref()) {
        return Err("unknown client_id");
    }
    if !params.redirect_uri.as_deref().is_some_and(redirect_allowed) {
        return Err("redirect_uri is not registered for this client");
    }
    if params.code_challenge_method.as_deref() != Some("S256")
        || params.code_challenge.as_deref().is_none_or(str::is_empty)
    {
        return Err("PKCE is required: code_challenge with code_challenge_method=S256");
    }
    Ok(())
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn page(params: &AuthorizeParams, email: &str, error: Option<&str>) -> Html<String> {
    let hidden: String = [
        ("response_type", &params.response_type),
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("state", &params.state),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
        ("scope", &params.scope),
    ]
    .iter()
    .filter_map(|(name, value)| {
        value.as_deref().map(|v| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(v)))
    })
    .collect();
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let users: String = USERS
        .iter()
        .map(|u| format!("<li><code>{}</code> / <code>{}</code></li>", escape(u.email), escape(u.password)))
        .collect();
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · shop</title>
<style>body{{font-family:system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}}
label{{display:block;margin-top:1rem;font-weight:600}}input[type=email],input[type=password]{{width:100%;padding:.5rem;font-size:1rem;border:1px solid #555;border-radius:4px}}
button{{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem;background:#0b57d0;color:#fff;border:0;border-radius:4px;cursor:pointer}}
.error{{color:#a50e0e;font-weight:600}}small{{color:#444}}</style></head>
<body><main><h1>Sign in to shop</h1>{error}
<form method="post"><label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="{email}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
{hidden}<button type="submit">Sign in</button></form>
<p><small>Development identity provider. Demo users:</small></p><ul>{users}</ul></main></body></html>"#,
        email = escape(email)
    ))
}

async fn sign_in_page(Query(params): Query<AuthorizeParams>) -> Response {
    match check_authorize(&params) {
        Ok(()) => page(&params, "", None).into_response(),
        Err(why) => (StatusCode::BAD_REQUEST, Html(format!("<p>{}</p>", escape(why)))).into_response(),
    }
}

async fn sign_in(State(state): State<AppState>, Form(form): Form<SignInForm>) -> Response {
    let params = form.params;
    if let Err(why) = check_authorize(&params) {
        return (StatusCode::BAD_REQUEST, Html(format!("<p>{}</p>", escape(why)))).into_response();
    }
    let email = form.email.unwrap_or_default();
    let Some(user) = user(&email, form.password.as_deref().unwrap_or("")) else {
        return (StatusCode::UNAUTHORIZED, page(&params, &email, Some("Invalid email or password."))).into_response();
    };
    let code = uuid::Uuid::new_v4().simple().to_string();
    let (Some(client), Some(redirect_uri), Some(challenge)) =
        (params.client_id.clone(), params.redirect_uri.clone(), params.code_challenge.clone())
    else {
        return (StatusCode::BAD_REQUEST, Html("<p>incomplete request</p>".to_owned())).into_response();
    };
    {
        let mut codes = state.codes.lock().unwrap_or_else(|p| p.into_inner());
        codes.retain(|_, pending| pending.created.elapsed() <= CODE_LIFETIME);
        codes.insert(
            code.clone(),
            PendingCode {
                client,
                redirect_uri: redirect_uri.clone(),
                challenge,
                email: user.email.into(),
                created: Instant::now(),
            },
        );
    }
    let mut target = format!("{redirect_uri}{}code={code}", if redirect_uri.contains('?') { '&' } else { '?' });
    if let Some(state_param) = params.state.as_deref() {
        target.push_str("&state=");
        target.push_str(&kit::problem::encode_query_value(state_param));
    }
    Redirect::to(&target).into_response()
}

#[derive(Deserialize)]
struct LogoutParams {
    post_logout_redirect_uri: Option<String>,
}

async fn logout(Query(params): Query<LogoutParams>) -> Response {
    match params.post_logout_redirect_uri.filter(|u| redirect_allowed(u)) {
        Some(target) => Redirect::to(&target).into_response(),
        None => Html("<p>Signed out.</p>".to_owned()).into_response(),
    }
}
