//! Calls between services that share one process (`shop up`) without the network.
//!
//! Under `shop up` every service runs in the same process, yet each call from the gateway to
//! a service, or from one service to another, used to cross the loopback interface: two
//! sockets, HTTP written and parsed on both sides, and a hand-off to the pooled client's
//! connection task. Once [`enable`]d, a service that [`crate::server::serve`]s registers its
//! router under its address for as long as it accepts connections, and the outbound clients
//! (`kit::http::ServiceClient`, the gateway's proxy) call a registered router directly: the
//! same request, headers and middleware (auth, request id, traces, metrics) as over TCP, with
//! no socket in between. Anything not registered here (another process, a service stopping,
//! an address in another form) still goes over TCP, so this only ever changes how a call
//! travels, never where it goes. ADR 0017 has the reasoning.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use axum::response::IntoResponse as _;
use futures_util::FutureExt as _;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, RwLock};
use tower::ServiceExt as _;

static ENABLED: AtomicBool = AtomicBool::new(false);
static SERVICES: LazyLock<RwLock<HashMap<String, Router>>> = LazyLock::new(Default::default);

/// Lets services in this process call each other directly from now on (set once by `shop up`
/// before its services start; off otherwise, so separate processes behave as before).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// The router serving `authority` (`127.0.0.1:8001`) in this process, if there is one.
pub fn service_at(authority: &str) -> Option<Router> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    SERVICES.read().ok()?.get(authority).cloned()
}

/// A router listed under its addresses; dropping it takes them off the list (a stopping
/// service is then reached over TCP, which refuses, exactly as before).
#[must_use = "the service is unlisted when this is dropped"]
pub struct Registration {
    keys: Vec<String>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut services) = SERVICES.write() {
            for key in &self.keys {
                services.remove(key);
            }
        }
    }
}

/// Lists `router` under the address it listens on (`None` unless [`enable`]d). A wildcard
/// address is listed as `127.0.0.1:port` and `localhost:port`, which is how `shop up` names
/// its services to each other.
pub(crate) fn register(address: SocketAddr, router: &Router) -> Option<Registration> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let port = address.port();
    let keys = if address.ip().is_unspecified() {
        vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")]
    } else {
        vec![address.to_string()]
    };
    let mut services = SERVICES.write().ok()?;
    for key in &keys {
        services.insert(key.clone(), router.clone());
    }
    Some(Registration { keys })
}

/// Runs `request` through `router` in this task. The callee sees a loopback peer, as over
/// TCP. A handler that panics is answered 500 here instead of unwinding into the caller
/// (over TCP the panic ended only the callee's connection).
pub async fn call(router: Router, mut request: Request<Body>) -> Response<Body> {
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))));
    match AssertUnwindSafe(router.oneshot(request)).catch_unwind().await {
        Ok(Ok(response)) => response,
        Ok(Err(infallible)) => match infallible {},
        Err(_) => {
            tracing::error!("a handler panicked during an in-process call");
            crate::Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    async fn boom() -> &'static str {
        panic!("handler failed")
    }

    #[tokio::test]
    async fn a_listed_router_answers_until_its_registration_is_dropped_and_a_panic_is_a_500() {
        enable();
        let router = Router::new().route("/hello", get(|| async { "hi" })).route("/boom", get(boom));
        let address = SocketAddr::from(([127, 0, 0, 1], 1));
        let registration = register(address, &router).expect("enabled");
        let listed = service_at("127.0.0.1:1").expect("listed");
        let hello = call(listed.clone(), Request::get("/hello").body(Body::empty()).expect("request")).await;
        assert_eq!(hello.status(), StatusCode::OK);
        let boom = call(listed, Request::get("/boom").body(Body::empty()).expect("request")).await;
        assert_eq!(boom.status(), StatusCode::INTERNAL_SERVER_ERROR);
        drop(registration);
        assert!(service_at("127.0.0.1:1").is_none());
    }
}
