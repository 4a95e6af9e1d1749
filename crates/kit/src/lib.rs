//! Plumbing every service needs and no business rule lives in.
//!
//! - [`auth`]: OIDC bearer tokens, roles, the caller as an extractor, service credentials.
//! - [`config`]: environment readers whose errors name the variable.
//! - [`problem`]: RFC 9457 problem+json errors, request ids, JSON/query extractors that
//!   reject bad input with a 422 naming the field.
//! - [`db`]: PostgreSQL and SQLite pools, per-service schemas and migrations.
//! - [`group_commit`]: SQLite writes from concurrent requests committed together.
//! - [`bus`]: the [`bus::EventBus`] trait, its embedded durable log, and the consumer loop.
//! - [`outbox`]: the transactional outbox and its relay.
//! - [`paging`]: page numbers and the maximum page size of list endpoints.
//! - [`input`]: lenient whole numbers, control-character checks, shortening echoed values.
//! - [`metrics`]: the Prometheus recorder, `/metrics`, RED figures per route.
//! - [`openapi`]: the shared parts of every service's OpenAPI document, `/openapi.json`, `/docs`.
//! - [`http`]: the outbound service client (timeouts, retries on connect failure).
//! - [`in_process`]: calls between services sharing one process, without the network.
//! - [`retry`]: the backoff (exponential, jittered) of every retry loop.
//! - [`server`]: the common router layers, `/health`, and serving until shutdown.
//! - [`shutdown`]: one cancellation token, cancelled on SIGINT/SIGTERM.
//! - [`telemetry`]: tracing setup.
#![warn(missing_docs)]

pub mod auth;
pub mod bus;
pub mod config;
pub mod db;
pub mod group_commit;
pub mod http;
pub mod in_process;
pub mod input;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod paging;
pub mod problem;
pub mod retry;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod trace;

pub use problem::Problem;
