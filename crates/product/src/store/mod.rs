//! Product persistence behind [`ProductStore`], with two implementations:
//!
//! - [`sql`]: SQLite and PostgreSQL share one implementation (the SQL is written once,
//!   instantiated per backend by a macro); only full-text search and two JSON filters differ.
//! - [`mongo`]: MongoDB (`MONGODB_URL`), in the original's document shape, with its own search
//!   index (MongoDB text indexes are not everywhere) and a relay of its own.
//!
//! Every write also appends its `product-updated` event to the outbox in the same
//! transaction, so no change is ever published without being stored or stored without
//! being published.

pub mod mongo;
pub mod sql;

pub use mongo::MongoProductStore;
pub use sql::SqlProductStore;

use crate::domain::{Product, ProductPatch};
use async_trait::async_trait;
use contracts::Money;
use contracts::events::{Envelope, ProductChange, ProductEvent};

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A product with this id exists already.
    #[error("duplicate product id")]
    Duplicate,
    /// The SQL database failed.
    #[error("product store: {0}")]
    Database(#[from] sqlx::Error),
    /// MongoDB failed.
    #[error("product store (MongoDB): {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// A stored document this service cannot read (written by something else).
    #[error("product store: unreadable document: {0}")]
    Document(String),
}

/// List filters; all optional, combined with AND.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Exact category, case-insensitive.
    pub category: Option<String>,
    /// Has this (lower-case) tag.
    pub tag: Option<String>,
    /// Price at least.
    pub min_price: Option<Money>,
    /// Price at most.
    pub max_price: Option<Money>,
    /// One of these ids.
    pub ids: Option<Vec<String>>,
}

impl ListFilter {
    /// Whether `product` passes the filters other than `ids`.
    pub(crate) fn admits(&self, product: &Product) -> bool {
        self.category.as_ref().is_none_or(|c| c.to_lowercase() == product.category.to_lowercase())
            && self.tag.as_ref().is_none_or(|t| product.tags.contains(t))
            && self.min_price.is_none_or(|min| product.price >= min)
            && self.max_price.is_none_or(|max| product.price <= max)
    }
}

pub use kit::paging::Page;

/// Product persistence.
#[async_trait]
pub trait ProductStore: Send + Sync + 'static {
    /// Inserts a new product.
    async fn insert(&self, product: &Product) -> Result<(), StoreError>;
    /// Inserts products whose ids are not taken yet; how many were new.
    async fn insert_missing(&self, products: &[Product]) -> Result<u64, StoreError>;
    /// One product.
    async fn get(&self, id: &str) -> Result<Option<Product>, StoreError>;
    /// A page of products in creation order, and the total matching.
    async fn list(&self, filter: &ListFilter, page: Page) -> Result<(Vec<Product>, i64), StoreError>;
    /// Products matching any of `terms`, best first.
    async fn search(&self, terms: &[String], page: Page) -> Result<Vec<Product>, StoreError>;
    /// Applies `patch` atomically; `None` if there is no such product.
    async fn update(&self, id: &str, patch: &ProductPatch) -> Result<Option<Product>, StoreError>;
    /// Deletes; `false` if there was no such product.
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;
}

/// The `product-updated` event of a change, as an outbox message.
pub(crate) fn event(change: ProductChange, id: &str, product: Option<&Product>) -> kit::bus::OutgoingMessage {
    kit::outbox::message(&Envelope::new(ProductEvent {
        change,
        product_id: id.to_owned(),
        product: product.and_then(|p| serde_json::to_value(p).ok()),
    }))
}
