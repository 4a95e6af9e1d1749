//! The order service: orders, their lines and the order outbox (`/api/orders`).
//!
//! - [`domain`]: orders, the status state machine, input parsing.
//! - [`placement`]: the placement workflow (idempotency, catalog prices, reservation, write).
//! - [`store`]: [`store::OrderStore`] and its SQL backends (SQLite, PostgreSQL).
//! - [`routes`]: the HTTP handlers.
//! - [`app`]: start-up and serving; [`config`]: settings.

pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod placement;
pub mod routes;
pub mod store;

pub use app::App;
pub use config::Config;
