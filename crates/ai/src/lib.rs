//! The AI service: a shopping assistant grounded in the catalog (`/api/ai/*`).
//!
//! - [`catalog`]: the service's copy of the catalog, versioned against out-of-order events.
//! - [`retrieval`]: query understanding, BM25 with synonyms and typo tolerance, optional
//!   semantic retrieval (a local embedding model), and their fusion.
//! - [`llm`]: the language-model providers behind one trait, and their guards (timeout,
//!   throttle, circuit breaker, cache).
//! - [`grounding`]: checking a model's reply against the catalog.
//! - [`assistant`]: chat, suggest, recommendations and the follow-up email's content.
//! - [`email`]: the follow-up email's subject and sanitised HTML.
//! - [`events`]: the consumer of `product-updated` and `order-placed`.
//! - [`store`]: co-purchase counts and the outbox; [`loader`]: the start-up catalog build.
//! - [`domain`], [`routes`], [`error`]: the HTTP side; [`app`]: start-up; [`config`]: settings.

pub mod app;
pub mod assistant;
pub mod catalog;
pub mod config;
pub mod domain;
pub mod email;
pub mod error;
pub mod events;
pub mod grounding;
pub mod llm;
pub mod loader;
pub mod retrieval;
pub mod routes;
pub mod store;

pub use app::App;
pub use config::Config;
