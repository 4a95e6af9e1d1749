//! What the gateway decides before forwarding: who the client is, whether they are within
//! their rate limit, and which headers they may not set themselves.
//!
//! - The client is the token's subject when the token is valid, else the client's address:
//!   the connection's peer, or — only when that peer is a trusted proxy (`TRUSTED_PROXIES`)
//!   — the nearest untrusted address in `X-Forwarded-For`.
//! - Limits per client and per minute: `RATE_LIMIT_PER_MINUTE` for the catalog, orders,
//!   inventory and notifications, `AI_RATE_LIMIT_PER_MINUTE` for `/api/ai/**`; 0 means no
//!   limit. Over it: 429 with `Retry-After` and `RateLimit-*` headers. A request with a bad
//!   token counts against its address before it is refused, so a flood of garbage tokens is
//!   limited like any other.
//! - The services check tokens and roles themselves (a request that bypasses the gateway
//!   gets no more than one through it); the gateway's check only names the client.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use kit::Problem;
use kit::auth::Authenticator;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// A network in `TRUSTED_PROXIES` (`10.0.0.0/8`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `a.b.c.d`, `a.b.c.d/n` or an IPv6 form of either.
    pub fn parse(text: &str) -> Option<Network> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address.parse::<IpAddr>().ok()?, prefix.parse::<u8>().ok()?),
            None => {
                let address = text.trim().parse::<IpAddr>().ok()?;
                (address, if address.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Network { address, prefix })
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address.to_canonical(), ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

type Limiter = RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    governor::clock::DefaultClock,
    StateInformationMiddleware,
>;

/// One class of routes and its per-client budget.
struct Budget {
    per_minute: u32,
    limiter: Option<Limiter>,
}

impl Budget {
    fn new(per_minute: u32) -> Budget {
        let limiter = NonZeroU32::new(per_minute).map(|n| {
            DefaultKeyedRateLimiter::<String>::keyed(Quota::per_minute(n))
                .with_middleware::<StateInformationMiddleware>()
        });
        Budget { per_minute, limiter }
    }
}

/// Which budget a path draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// Catalog, orders, inventory, notifications.
    Api,
    /// The AI assistant, whose calls cost more.
    Ai,
}

/// The gateway's access decisions.
pub struct Access {
    auth: Arc<Authenticator>,
    trusted: Vec<Network>,
    api: Budget,
    ai: Budget,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("trusted", &self.trusted)
            .field("api_per_minute", &self.api.per_minute)
            .field("ai_per_minute", &self.ai.per_minute)
            .finish()
    }
}

/// Headers only hops inside the platform may set; a client's are dropped.
const INTERNAL_HEADERS: [&str; 6] =
    ["x-user-id", "x-user-email", "x-user-roles", "x-forwarded-user", "x-authenticated-user", "x-auth-request-user"];

impl Access {
    /// Access with these limits (0: none) and trusted proxies.
    pub fn new(
        auth: Arc<Authenticator>,
        trusted: Vec<Network>,
        api_per_minute: u32,
        ai_per_minute: u32,
    ) -> Arc<Access> {
        Arc::new(Access { auth, trusted, api: Budget::new(api_per_minute), ai: Budget::new(ai_per_minute) })
    }

    /// Drops idle clients' counters (call every minute or so: memory stays bounded).
    pub fn forget_idle_clients(&self) {
        for budget in [&self.api, &self.ai] {
            if let Some(limiter) = &budget.limiter {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }

    /// The client's address: the peer, unless the peer is a trusted proxy, in which case the
    /// nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusted.iter().any(|n| n.contains(peer)) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .collect();
        forwarded.iter().rev().find(|a| !self.trusted.iter().any(|n| n.contains(**a))).copied().or(Some(peer))
    }

    fn class(path: &str) -> RouteClass {
        if path == "/api/ai" || path.starts_with("/api/ai/") { RouteClass::Ai } else { RouteClass::Api }
    }
}

fn rate_limit_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset_secs: u64) {
    headers.insert(HeaderName::from_static("ratelimit-limit"), HeaderValue::from(limit));
    headers.insert(HeaderName::from_static("ratelimit-remaining"), HeaderValue::from(remaining));
    headers.insert(HeaderName::from_static("ratelimit-reset"), HeaderValue::from(reset_secs));
}

/// The middleware on every proxied route.
pub async fn check(State(access): State<Arc<Access>>, mut request: Request, next: Next) -> Response {
    for name in INTERNAL_HEADERS {
        request.headers_mut().remove(name);
    }
    let identity = match request.headers().get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(value) => access.auth.authenticate(Some(value)).await.map(Some),
    };
    let budget = match Access::class(request.uri().path()) {
        RouteClass::Api => &access.api,
        RouteClass::Ai => &access.ai,
    };
    let mut allowance = None;
    if let Some(limiter) = &budget.limiter {
        let key = match &identity {
            Ok(Some(principal)) => format!("sub:{}", principal.subject),
            _ => {
                let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
                match access.client_address(peer, request.headers()) {
                    Some(ip) => format!("ip:{}", ip.to_canonical()),
                    None => "ip:unknown".to_owned(),
                }
            }
        };
        match limiter.check_key(&key) {
            Ok(snapshot) => allowance = Some(snapshot.remaining_burst_capacity()),
            Err(not_until) => {
                let wait =
                    not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                metrics::counter!("rate_limited_total", "service" => "gateway", "class" => format!("{:?}", Access::class(request.uri().path())).to_lowercase())
                    .increment(1);
                let detail = format!("Rate limit exceeded: {} per 1 minute", budget.per_minute);
                let mut response = Problem::new(axum::http::StatusCode::TOO_MANY_REQUESTS, detail)
                    .with_header(header::RETRY_AFTER, &secs.max(1).to_string())
                    .into_response();
                rate_limit_headers(response.headers_mut(), budget.per_minute, 0, secs.max(1));
                return response;
            }
        }
    }
    if let Err(err) = identity {
        return err.into_response();
    }
    let mut response = next.run(request).await;
    if let Some(remaining) = allowance {
        let reset = 60 / u64::from(budget.per_minute.max(1)).max(1);
        rate_limit_headers(response.headers_mut(), budget.per_minute, remaining, reset.max(1));
    }
    response
}

/// How often idle clients' counters are dropped.
pub const FORGET_EVERY: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_their_addresses() {
        let net = Network::parse("10.0.0.0/8").unwrap_or(Network { address: IpAddr::from([0, 0, 0, 0]), prefix: 32 });
        assert!(net.contains("10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!net.contains("11.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(Network::parse("10.0.0.0/33").is_none());
        assert!(Network::parse("garbage").is_none());
        let one = Network::parse("192.0.2.7");
        assert!(one.is_some_and(|n| n.contains("192.0.2.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])))));
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let access =
            Access::new(Authenticator::off(), vec![Network { address: IpAddr::from([10, 0, 0, 1]), prefix: 32 }], 0, 0);
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 10.0.0.1"));
        let untrusted = access.client_address(Some(IpAddr::from([198, 51, 100, 1])), &headers);
        assert_eq!(
            untrusted,
            Some(IpAddr::from([198, 51, 100, 1])),
            "a spoofed header from an untrusted peer changes nothing"
        );
        let behind_proxy = access.client_address(Some(IpAddr::from([10, 0, 0, 1])), &headers);
        assert_eq!(behind_proxy, Some(IpAddr::from([203, 0, 113, 9])));
    }
}
