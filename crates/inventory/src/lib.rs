//! The inventory service: stock levels and reservations (`/api/inventory`).
//!
//! - [`domain`]: stock records, reservations, input parsing, the low-stock rule.
//! - [`store`]: [`store::InventoryStore`] and its SQL backends (SQLite, PostgreSQL).
//! - [`routes`]: the HTTP handlers.
//! - [`reservations`]: order events → confirm/release/commit, and expiry of orphans.
//! - [`app`]: start-up and serving; [`config`]: settings.

pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod reservations;
pub mod routes;
pub mod store;

pub use app::App;
pub use config::Config;
