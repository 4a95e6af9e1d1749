//! The product service: the catalog (`/api/products`).
//!
//! - [`domain`]: the product document and input parsing.
//! - [`store`]: [`store::ProductStore`] and its SQL backends (SQLite, PostgreSQL).
//! - [`routes`]: the HTTP handlers.
//! - [`app`]: start-up and serving; [`config`]: settings.

pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod routes;
pub mod store;

pub use app::App;
pub use config::Config;
