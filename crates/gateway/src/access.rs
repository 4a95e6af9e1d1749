//! Access control for proxied routes: **the slot for authentication and rate limiting.**
//!
//! [`AccessLayer`] wraps every `/api/**` proxy route (not `/health` or `/ready`) and is
//! deliberately a pass-through today. The later issue that adds JWT authentication
//! (`AUTH_ENABLED`, Bearer/JWKS) and the per-IP rate limit replaces its body here; the
//! original checked authentication *before* the rate limit, so a rejected request spends no
//! quota. Being an identity layer, it costs nothing per request until then.

use tower::Layer;

/// Pass-through layer applied to the proxy routes; see the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLayer;

impl<S> Layer<S> for AccessLayer {
    type Service = S;

    fn layer(&self, inner: S) -> S {
        inner
    }
}
