//! Black-box API tests of the AI service, each on a fresh store with a real product service
//! in the same process and one embedded event log. Behaviours that touch the AI service's
//! own store run on SQLite and PostgreSQL (`TEST_DATABASE_URL`); provider wire formats run
//! against local HTTP servers speaking each provider's API (wiremock).
//!
//! - [`helpers`]: `spawn`, the demo-like catalog, event publishing.
//! - [`answers`]: offline chat, suggest, recommendations, validation.
//! - [`sync`]: catalog changes reaching answers; orders teaching co-purchases and emails.
//! - [`providers`]: OpenAI/Groq, Gemini and Ollama wire formats, streaming, grounding.
//! - [`resilience`]: timeouts, 500s, the circuit breaker, degraded answers.
//! - [`semantic`]: the embedding-model path (skipped without `EMBEDDING_MODEL_DIR`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod answers;
mod helpers;
mod openapi;
mod providers;
mod resilience;
mod semantic;
mod sync;

testkit::on_backends!(
    answers::price_bounded_search_returns_only_cheaper_headphones_first,
    answers::offline_chat_names_only_catalog_products_at_catalog_prices,
    answers::recommendations_are_five_other_products_with_reasons,
    sync::created_updated_and_deleted_products_reach_answers_within_seconds,
    sync::orders_teach_co_purchases_and_send_one_escaped_follow_up,
);
