//! The API gateway: one public port that forwards `/api/products/**`, `/api/orders/**`,
//! `/api/inventory/**` and `/api/notifications/**` to their services, streaming bodies both
//! ways.
//!
//! - [`config`]: [`Config`] from the environment (listen address, upstream URLs, timeouts).
//! - [`app`]: the router ([`router`]), binding and serving ([`App`]).
//! - [`proxy`]: the forwarding itself — one pooled client, header hygiene, the body-size
//!   limit, and the mapping of upstream failures to 502/503/504 problems.
//! - [`access`]: the empty slot where authentication and rate limiting will go.
//! - [`openapi`]: the aggregated OpenAPI document (`/openapi.json`, `/docs`).
#![warn(missing_docs)]

pub mod access;
pub mod app;
pub mod config;
pub mod openapi;
pub mod proxy;

pub use app::{App, router};
pub use config::{Config, Upstreams};
