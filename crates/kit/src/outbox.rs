//! The transactional outbox. A service writes its event into its own `outbox` table in the
//! same transaction as the change ([`pg::enqueue`], [`lite::enqueue`]); the [`Relay`] moves
//! rows to the bus in commit order and deletes them once the bus has them.
//!
//! Several relays may run against one database (replicas): each pass holds an exclusive
//! lock (an advisory lock on PostgreSQL, the write lock on SQLite) so exactly one relay
//! publishes at a time — no duplicates, no reordering.

use crate::bus::{BusError, EventBus, OutgoingMessage};
use crate::db::Db;
use contracts::events::{Envelope, Event};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The `outbox` table on PostgreSQL; [`crate::migrations!`] makes it every service's version 0.
pub const POSTGRES_DDL: &str = "CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    headers TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now())";

/// The `outbox` table on SQLite; [`crate::migrations!`] makes it every service's version 0.
pub const SQLITE_DDL: &str = "CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    headers TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)";

/// Serialises an event for the bus: key from the event, and a W3C `traceparent` whose trace
/// id is the current request's id (a UUID), so an order's events share its request's trace.
pub fn message<T: Event>(envelope: &Envelope<T>) -> OutgoingMessage {
    let headers = crate::problem::current_request_id()
        .and_then(|id| uuid::Uuid::parse_str(&id).ok())
        .map(|trace| {
            let span = uuid::Uuid::new_v4().simple().to_string();
            vec![("traceparent".to_owned(), format!("00-{}-{}-01", trace.simple(), &span[..16]))]
        })
        .unwrap_or_default();
    OutgoingMessage {
        topic: envelope.payload.topic().to_owned(),
        key: envelope.payload.key(),
        headers,
        payload: serde_json::to_vec(envelope).unwrap_or_default(),
    }
}

type Row = (i64, String, String, String, Vec<u8>);

macro_rules! outbox_backend {
    ($module:ident, $Db:ty, begin = $begin:literal, lock = $lock:expr) => {
        /// Outbox access on this backend.
        pub mod $module {
            use super::*;

            /// Writes `message` into the outbox inside the caller's transaction.
            pub async fn enqueue(
                conn: &mut <$Db as sqlx::Database>::Connection,
                message: &OutgoingMessage,
            ) -> Result<(), sqlx::Error> {
                let headers = serde_json::to_string(&message.headers).unwrap_or_else(|_| "[]".into());
                sqlx::query("INSERT INTO outbox (topic, key, headers, payload) VALUES ($1, $2, $3, $4)")
                    .bind(&message.topic)
                    .bind(&message.key)
                    .bind(headers)
                    .bind(&message.payload)
                    .execute(conn)
                    .await
                    .map(|_| ())
            }

            pub(super) async fn relay_once(
                pool: &sqlx::Pool<$Db>,
                bus: &dyn EventBus,
                batch: i64,
            ) -> Result<usize, RelayError> {
                let mut tx = pool.begin_with($begin).await?;
                if let Some(lock) = $lock {
                    let (held,): (bool,) = sqlx::query_as(lock).fetch_one(&mut *tx).await?;
                    if !held {
                        return Ok(0);
                    }
                }
                let mut rows: Vec<Row> = sqlx::query_as(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT $1)
                     RETURNING id, topic, key, headers, payload",
                )
                .bind(batch)
                .fetch_all(&mut *tx)
                .await?;
                if rows.is_empty() {
                    return Ok(0);
                }
                rows.sort_by_key(|r| r.0);
                let messages: Vec<OutgoingMessage> = rows
                    .into_iter()
                    .map(|(_, topic, key, headers, payload)| OutgoingMessage {
                        topic,
                        key,
                        headers: serde_json::from_str(&headers).unwrap_or_default(),
                        payload,
                    })
                    .collect();
                // Published before the delete commits: a crash in between re-publishes
                // (at least once), never loses.
                bus.publish(&messages).await?;
                tx.commit().await?;
                Ok(messages.len())
            }

            pub(super) async fn backlog(pool: &sqlx::Pool<$Db>) -> Result<i64, sqlx::Error> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox").fetch_one(pool).await?;
                Ok(n)
            }
        }
    };
}

outbox_backend!(
    pg,
    sqlx::Postgres,
    begin = "BEGIN",
    lock = Some("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.outbox'))")
);
outbox_backend!(lite, sqlx::Sqlite, begin = "BEGIN IMMEDIATE", lock = None::<&'static str>);

/// A relay pass failed; the rows stay in the outbox for the next pass.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The outbox's database failed.
    #[error("outbox storage: {0}")]
    Storage(#[from] sqlx::Error),
    /// The bus refused the batch.
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Moves outbox rows to the bus.
#[derive(Clone)]
pub struct Relay {
    db: Db,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    batch: i64,
    idle: Duration,
    linger: Duration,
}

impl Relay {
    /// A relay for the outbox in `db`.
    pub fn new(db: Db, bus: Arc<dyn EventBus>) -> Self {
        Relay {
            db,
            bus,
            wake: Arc::new(Notify::new()),
            batch: 500,
            idle: Duration::from_millis(500),
            linger: Duration::from_millis(20),
        }
    }

    /// Notify it after committing an outbox row, to publish without waiting for the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// One pass: publishes up to a batch of rows; how many.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        match &self.db {
            Db::Postgres(pool) => pg::relay_once(pool, &*self.bus, self.batch).await,
            Db::Sqlite(pool) => lite::relay_once(pool, &*self.bus, self.batch).await,
        }
    }

    /// Rows waiting to be published.
    pub async fn backlog(&self) -> Result<i64, sqlx::Error> {
        match &self.db {
            Db::Postgres(pool) => pg::backlog(pool).await,
            Db::Sqlite(pool) => lite::backlog(pool).await,
        }
    }

    /// Relays until `shutdown`, then makes one last pass so committed events are not left
    /// behind.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let wait = match self.relay_once().await {
                Ok(n) if n as i64 == self.batch => Duration::ZERO,
                Ok(_) => {
                    failures = 0;
                    self.idle
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let wait = Duration::from_millis(100u64 << failures.min(6));
                    tracing::warn!(error = %err, retry_in = ?wait, "outbox relay pass failed");
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {
                    // Like Kafka's linger.ms: let a burst of commits gather into one pass
                    // (one transaction) instead of a pass per row.
                    tokio::time::sleep(self.linger).await;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if let Err(err) = self.relay_once().await {
            tracing::warn!(error = %err, "final outbox relay pass failed; rows stay for the next start");
        }
    }
}
