//! The storefront and admin web UI the gateway serves at `/`: server-rendered HTML (minijinja
//! templates, autoescaped), forms that work without JavaScript, and one small script that
//! streams the assistant's replies. Every asset is embedded in the binary.
//!
//! The pages call the services' public APIs over HTTP with the visitor's own token (the
//! services enforce access exactly as for any API client), so the UI holds no privileges.
//!
//! - [`session`]: who the visitor is (the access token in an `HttpOnly` cookie, verified on
//!   each request), the cart cookie, CSRF tokens, and sign-in with the identity provider
//!   (authorization code + PKCE).
//! - [`api`]: the calls to the services.
//! - [`shopping`]: catalog, product, cart, checkout, my orders, the assistant.
//! - [`admin`]: products, inventory, orders, notifications (role `admin`).
//! - [`render`]: templates, the page frame, errors as HTML pages, security headers.
#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod render;
pub mod session;
pub mod shopping;

use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;

/// Where the services are and how visitors sign in.
#[derive(Clone)]
pub struct Config {
    /// Product service base URL.
    pub product_url: String,
    /// Order service base URL.
    pub order_url: String,
    /// Inventory service base URL.
    pub inventory_url: String,
    /// Notification service base URL.
    pub notification_url: String,
    /// AI service base URL.
    pub ai_url: String,
    /// Verifies session tokens; its settings name the issuer and whether auth is on.
    pub auth: Arc<kit::auth::Authenticator>,
    /// The public OIDC client the storefront signs visitors in with (`STOREFRONT_CLIENT_ID`,
    /// default `api-gateway`, the original's public client).
    pub client_id: String,
    /// The storefront's public base URL (`PUBLIC_URL`); when unset, taken from each
    /// request's `Host` (the identity provider checks the redirect URI either way).
    pub public_url: Option<String>,
    /// Limit on one call to a service.
    pub timeout: Duration,
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub(crate) api: Arc<api::Api>,
    pub(crate) auth: Arc<kit::auth::Authenticator>,
    pub(crate) sign_in: Arc<session::SignIn>,
    pub(crate) pages: Arc<render::Pages>,
    pub(crate) categories: Arc<shopping::Categories>,
}

/// The storefront's routes (`/`, `/products/…`, `/cart`, `/checkout`, `/orders`,
/// `/assistant`, `/signin`, `/auth/callback`, `/signout`, `/admin/…`, `/assets/…`), with
/// CSRF checks on every form post and the storefront's security headers.
pub fn router(config: Config) -> Router {
    let state = AppState {
        api: Arc::new(api::Api::new(&config)),
        auth: config.auth.clone(),
        sign_in: Arc::new(session::SignIn::new(&config)),
        pages: Arc::new(render::Pages::new()),
        categories: Arc::new(shopping::Categories::default()),
    };
    Router::new()
        .route("/", get(shopping::catalog))
        .route("/products/{id}", get(shopping::product))
        .route("/cart", get(shopping::cart))
        .route("/cart/add", post(shopping::add_to_cart))
        .route("/cart/update", post(shopping::update_cart))
        .route("/checkout", get(shopping::checkout).post(shopping::place_order))
        .route("/orders", get(shopping::my_orders))
        .route("/orders/{id}/cancel", post(shopping::cancel_order))
        .route("/assistant", get(shopping::assistant).post(shopping::ask_assistant))
        .route("/signin", get(session::start_sign_in))
        .route("/auth/callback", get(session::finish_sign_in))
        .route("/signout", post(session::sign_out))
        .route("/admin", get(admin::overview))
        .route("/admin/products", get(admin::products).post(admin::create_product))
        .route("/admin/products/new", get(admin::new_product))
        .route("/admin/products/{id}", get(admin::edit_product).post(admin::update_product))
        .route("/admin/products/{id}/delete", post(admin::delete_product))
        .route("/admin/inventory", get(admin::inventory))
        .route("/admin/inventory/{id}/restock", post(admin::restock))
        .route("/admin/inventory/{id}/threshold", post(admin::set_threshold))
        .route("/admin/orders", get(admin::orders))
        .route("/admin/orders/{id}/status", post(admin::set_order_status))
        .route("/admin/notifications", get(admin::notifications))
        .route("/assets/{file}", get(render::asset))
        .layer(axum::middleware::from_fn(session::csrf_guard))
        .layer(axum::middleware::from_fn_with_state(
            render::content_security_policy(&config.auth.settings().issuer),
            render::security_headers,
        ))
        .with_state(state)
}
