//! What the AI service learns from orders, behind [`AiStore`]: co-purchase counts and
//! per-product order counts, plus the outbox its follow-up emails leave through. SQLite and
//! PostgreSQL share one implementation (the SQL is written once, instantiated per backend).
//!
//! Learning from an order is one transaction: the event id (so a redelivery changes
//! nothing), the counts, and the `ai-notification-ready` outbox row.

use async_trait::async_trait;
use kit::bus::OutgoingMessage;
use kit::db::{Db, Timestamp};
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

kit::migrations!(MIGRATIONS; 1 "co-purchases" "0001_ai.sql");

/// The store failed.
#[derive(Debug, thiserror::Error)]
#[error("ai store: {0}")]
pub struct StoreError(#[from] sqlx::Error);

/// Distinct products of one order counted for co-purchases: pairs grow with the square,
/// and a hundred-line order says little about which two belong together.
pub const MAX_PAIRED_PRODUCTS: usize = 20;

/// What the AI service keeps.
#[async_trait]
pub trait AiStore: Send + Sync + 'static {
    /// Whether the order event was already learned from.
    async fn is_processed(&self, event_id: Uuid) -> Result<bool, StoreError>;
    /// Learns from an order and enqueues its follow-up, once per event; `false` when the
    /// event had been processed already (nothing changed).
    async fn record_order(
        &self,
        event_id: Uuid,
        product_ids: &[String],
        follow_up: Option<&OutgoingMessage>,
    ) -> Result<bool, StoreError>;
    /// Products most often bought with `product_id`, with their counts.
    async fn co_purchased(&self, product_id: &str, limit: i64) -> Result<Vec<(String, i64)>, StoreError>;
    /// Products in the most orders.
    async fn popular(&self, limit: i64) -> Result<Vec<(String, i64)>, StoreError>;
}

/// The SQL implementation.
#[derive(Clone)]
pub struct SqlAiStore {
    db: Db,
    published: Arc<Notify>,
}

impl SqlAiStore {
    /// A store on `db`; `published` is poked after each commit that wrote an outbox row.
    pub fn new(db: Db, published: Arc<Notify>) -> Self {
        SqlAiStore { db, published }
    }
}

fn distinct(ids: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for id in ids {
        if !out.contains(&id.as_str()) {
            out.push(id);
        }
        if out.len() == MAX_PAIRED_PRODUCTS {
            break;
        }
    }
    out
}

macro_rules! ai_backend {
    ($module:ident, $Db:ty, begin = $begin:literal) => {
        mod $module {
            use super::*;
            use kit::outbox::$module as outbox;

            type Pool = sqlx::Pool<$Db>;

            pub async fn is_processed(pool: &Pool, event_id: Uuid) -> Result<bool, StoreError> {
                let row: Option<(String,)> = sqlx::query_as("SELECT event_id FROM processed_orders WHERE event_id = $1")
                    .bind(event_id.to_string())
                    .fetch_optional(pool)
                    .await?;
                Ok(row.is_some())
            }

            pub async fn record_order(
                pool: &Pool,
                event_id: Uuid,
                product_ids: &[String],
                follow_up: Option<&OutgoingMessage>,
            ) -> Result<bool, StoreError> {
                let mut tx = pool.begin_with($begin).await?;
                let first = sqlx::query(
                    "INSERT INTO processed_orders (event_id, processed_at) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING",
                )
                .bind(event_id.to_string())
                .bind(Timestamp::now())
                .execute(&mut *tx)
                .await?;
                if first.rows_affected() == 0 {
                    return Ok(false);
                }
                let ids = distinct(product_ids);
                for id in &ids {
                    sqlx::query(
                        "INSERT INTO product_orders (product_id, orders) VALUES ($1, 1)
                         ON CONFLICT (product_id) DO UPDATE SET orders = product_orders.orders + 1",
                    )
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
                }
                for a in &ids {
                    for b in &ids {
                        if a == b {
                            continue;
                        }
                        sqlx::query(
                            "INSERT INTO co_purchases (product_id, other_id, orders) VALUES ($1, $2, 1)
                             ON CONFLICT (product_id, other_id) DO UPDATE SET orders = co_purchases.orders + 1",
                        )
                        .bind(*a)
                        .bind(*b)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                if let Some(message) = follow_up {
                    outbox::enqueue(&mut tx, message).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            pub async fn co_purchased(pool: &Pool, product_id: &str, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT other_id, orders FROM co_purchases WHERE product_id = $1 ORDER BY orders DESC, other_id LIMIT $2",
                )
                .bind(product_id)
                .bind(limit)
                .fetch_all(pool)
                .await?)
            }

            pub async fn popular(pool: &Pool, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
                Ok(sqlx::query_as("SELECT product_id, orders FROM product_orders ORDER BY orders DESC, product_id LIMIT $1")
                    .bind(limit)
                    .fetch_all(pool)
                    .await?)
            }
        }
    };
}

ai_backend!(pg, sqlx::Postgres, begin = "BEGIN");
ai_backend!(lite, sqlx::Sqlite, begin = "BEGIN IMMEDIATE");

#[async_trait]
impl AiStore for SqlAiStore {
    async fn is_processed(&self, event_id: Uuid) -> Result<bool, StoreError> {
        kit::on_backend!(self, is_processed(event_id))
    }

    async fn record_order(
        &self,
        event_id: Uuid,
        product_ids: &[String],
        follow_up: Option<&OutgoingMessage>,
    ) -> Result<bool, StoreError> {
        let recorded = kit::on_backend!(self, record_order(event_id, product_ids, follow_up))?;
        if recorded && follow_up.is_some() {
            self.published.notify_one();
        }
        Ok(recorded)
    }

    async fn co_purchased(&self, product_id: &str, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
        kit::on_backend!(self, co_purchased(product_id, limit))
    }

    async fn popular(&self, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
        kit::on_backend!(self, popular(limit))
    }
}
