//! The embedded event log: an append-only table plus a committed-offsets table, in SQLite
//! (`shop up`) or PostgreSQL (`shop serve` without Kafka). Simple and durable beats clever.
//!
//! Offsets are the table's row ids: increasing per topic, with gaps, like a compacted Kafka
//! partition. Appends are serialised (SQLite's single writer; an advisory lock on
//! PostgreSQL) so ids become visible in increasing order and a reader never skips a row
//! that commits late.

use super::{BusError, EventBus, Message, OutgoingMessage, Subscription};
use crate::db::{Db, MigrationFile, Migrations};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The log's schema.
pub const MIGRATIONS: Migrations = Migrations {
    postgres: &[MigrationFile {
        version: 1,
        description: "event log",
        sql: "CREATE TABLE event_log (
                id BIGSERIAL PRIMARY KEY,
                topic TEXT NOT NULL,
                key TEXT NOT NULL,
                headers TEXT NOT NULL,
                payload BYTEA NOT NULL,
                created_at TIMESTAMPTZ NOT NULL);
              CREATE INDEX event_log_topic_id ON event_log (topic, id);
              CREATE TABLE consumer_offsets (
                group_id TEXT NOT NULL,
                topic TEXT NOT NULL,
                next_offset BIGINT NOT NULL,
                PRIMARY KEY (group_id, topic));",
    }],
    sqlite: &[MigrationFile {
        version: 1,
        description: "event log",
        sql: "CREATE TABLE event_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                topic TEXT NOT NULL,
                key TEXT NOT NULL,
                headers TEXT NOT NULL,
                payload BLOB NOT NULL,
                created_at TEXT NOT NULL);
              CREATE INDEX event_log_topic_id ON event_log (topic, id);
              CREATE TABLE consumer_offsets (
                group_id TEXT NOT NULL,
                topic TEXT NOT NULL,
                next_offset INTEGER NOT NULL,
                PRIMARY KEY (group_id, topic));",
    }],
};

/// How long an idle poll waits for an append before returning empty. Appends in this
/// process wake pollers at once; this bounds the delay for appends by other processes.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// The embedded log. Cheap to clone; clones share the wake-up signal.
#[derive(Clone, Debug)]
pub struct EventLog {
    db: Db,
    appended: Arc<Notify>,
}

impl EventLog {
    /// Wraps a pool already migrated with [`MIGRATIONS`].
    pub fn new(db: Db) -> Self {
        EventLog { db, appended: Arc::new(Notify::new()) }
    }

    /// The underlying pool.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Every message on `topic`, oldest first (for tests and operators).
    pub async fn read_all(&self, topic: &str) -> Result<Vec<Message>, BusError> {
        Ok(match &self.db {
            Db::Postgres(pool) => pg::read(pool, topic, 0, i64::MAX).await?,
            Db::Sqlite(pool) => lite::read(pool, topic, 0, i64::MAX).await?,
        })
    }
}

type Row = (i64, String, String, String, Vec<u8>, time::OffsetDateTime);

fn into_message(topic: &str, (id, _topic, key, headers, payload, created_at): Row) -> Message {
    Message {
        topic: topic.to_owned(),
        partition: 0,
        offset: id,
        key,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        payload,
        timestamp: created_at,
    }
}

macro_rules! log_backend {
    ($module:ident, $Db:ty, begin = $begin:literal, lock = $lock:expr, insert_many = $insert_many:expr) => {
        mod $module {
            use super::*;

            pub async fn append(pool: &sqlx::Pool<$Db>, batch: &[OutgoingMessage]) -> Result<(), sqlx::Error> {
                let mut tx = pool.begin_with($begin).await?;
                if let Some(lock) = $lock {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                let now = crate::db::Timestamp::now();
                if let Some(sql) = $insert_many {
                    sqlx::query(sql).bind(sqlx::types::Json(as_rows(batch))).bind(now).execute(&mut *tx).await?;
                    return tx.commit().await;
                }
                for m in batch {
                    let headers = serde_json::to_string(&m.headers).unwrap_or_else(|_| "[]".into());
                    sqlx::query(
                        "INSERT INTO event_log (topic, key, headers, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&m.topic)
                    .bind(&m.key)
                    .bind(headers)
                    .bind(&m.payload)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await
            }

            pub async fn read(
                pool: &sqlx::Pool<$Db>,
                topic: &str,
                from: i64,
                max: i64,
            ) -> Result<Vec<Message>, sqlx::Error> {
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT id, topic, key, headers, payload, created_at FROM event_log
                     WHERE topic = $1 AND id >= $2 ORDER BY id LIMIT $3",
                )
                .bind(topic)
                .bind(from)
                .bind(max)
                .fetch_all(pool)
                .await?;
                Ok(rows.into_iter().map(|r| into_message(topic, r)).collect())
            }

            /// Messages of `topic` at or after `from` (ids are global, so a count), capped:
            /// a lag past the cap reads as the cap.
            pub async fn behind(pool: &sqlx::Pool<$Db>, topic: &str, from: i64) -> Result<i64, sqlx::Error> {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM event_log WHERE topic = $1 AND id >= $2 LIMIT 1000000) AS behind",
                )
                .bind(topic)
                .bind(from)
                .fetch_one(pool)
                .await
            }

            pub async fn committed(pool: &sqlx::Pool<$Db>, group: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
                sqlx::query_as("SELECT topic, next_offset FROM consumer_offsets WHERE group_id = $1")
                    .bind(group)
                    .fetch_all(pool)
                    .await
            }

            pub async fn commit(
                pool: &sqlx::Pool<$Db>,
                group: &str,
                topic: &str,
                next: i64,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO consumer_offsets (group_id, topic, next_offset) VALUES ($1, $2, $3)
                     ON CONFLICT (group_id, topic) DO UPDATE SET next_offset = excluded.next_offset
                     WHERE consumer_offsets.next_offset < excluded.next_offset",
                )
                .bind(group)
                .bind(topic)
                .bind(next)
                .execute(pool)
                .await
                .map(|_| ())
            }
        }
    };
}

// The lock id is arbitrary but fixed: every appender must use the same one.
/// A batch as JSON rows for one multi-row `INSERT` (payloads hex-encoded).
fn as_rows(batch: &[OutgoingMessage]) -> Vec<serde_json::Value> {
    batch
        .iter()
        .map(|m| {
            let payload: String = m.payload.iter().map(|b| format!("{b:02x}")).collect();
            let headers = serde_json::to_string(&m.headers).unwrap_or_else(|_| "[]".into());
            serde_json::json!({"topic": m.topic, "key": m.key, "headers": headers, "payload": payload})
        })
        .collect()
}

// On PostgreSQL a batch is one multi-row INSERT, ids assigned in batch order; SQLite, in
// process, inserts row by row inside its transaction.
log_backend!(
    pg,
    sqlx::Postgres,
    begin = "BEGIN",
    lock = Some("SELECT pg_advisory_xact_lock(7161001)"),
    insert_many = Some(
        "INSERT INTO event_log (topic, key, headers, payload, created_at)
         SELECT x->>'topic', x->>'key', x->>'headers', decode(x->>'payload', 'hex'), $2
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(x, ord) ORDER BY ord"
    )
);
log_backend!(
    lite,
    sqlx::Sqlite,
    begin = "BEGIN IMMEDIATE",
    lock = None::<&'static str>,
    insert_many = None::<&'static str>
);

#[async_trait]
impl EventBus for EventLog {
    async fn publish(&self, batch: &[OutgoingMessage]) -> Result<(), BusError> {
        if batch.is_empty() {
            return Ok(());
        }
        match &self.db {
            Db::Postgres(pool) => pg::append(pool, batch).await?,
            Db::Sqlite(pool) => lite::append(pool, batch).await?,
        }
        self.appended.notify_waiters();
        Ok(())
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Subscription>, BusError> {
        let committed = match &self.db {
            Db::Postgres(pool) => pg::committed(pool, group).await?,
            Db::Sqlite(pool) => lite::committed(pool, group).await?,
        };
        let committed: HashMap<String, i64> = committed.into_iter().collect();
        let positions = topics.iter().map(|t| (t.to_string(), committed.get(*t).copied().unwrap_or(0))).collect();
        Ok(Box::new(LogSubscription { log: self.clone(), group: group.to_owned(), positions }))
    }
}

struct LogSubscription {
    log: EventLog,
    group: String,
    /// Next offset to read, per topic.
    positions: Vec<(String, i64)>,
}

impl LogSubscription {
    async fn read_available(&mut self, max: usize) -> Result<Vec<Message>, BusError> {
        let mut out = Vec::new();
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        for (topic, position) in &mut self.positions {
            let batch = match &self.log.db {
                Db::Postgres(pool) => pg::read(pool, topic, *position, max).await?,
                Db::Sqlite(pool) => lite::read(pool, topic, *position, max).await?,
            };
            if let Some(last) = batch.last() {
                *position = last.offset + 1;
            }
            out.extend(batch);
        }
        Ok(out)
    }
}

#[async_trait]
impl Subscription for LogSubscription {
    async fn poll(&mut self, max: usize) -> Result<Vec<Message>, BusError> {
        // Register for the wake-up before reading, so an append between the read and the
        // wait is not missed.
        let appended = self.log.appended.clone();
        let notified = appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let batch = self.read_available(max).await?;
        if !batch.is_empty() {
            return Ok(batch);
        }
        let _ = tokio::time::timeout(IDLE_POLL, notified).await;
        self.read_available(max).await
    }

    async fn commit(&mut self, message: &Message) -> Result<(), BusError> {
        let next = message.offset + 1;
        match &self.log.db {
            Db::Postgres(pool) => pg::commit(pool, &self.group, &message.topic, next).await?,
            Db::Sqlite(pool) => lite::commit(pool, &self.group, &message.topic, next).await?,
        }
        Ok(())
    }

    fn seek(&mut self, message: &Message) {
        if let Some((_, position)) = self.positions.iter_mut().find(|(t, _)| *t == message.topic) {
            *position = message.offset;
        }
    }

    async fn lag(&mut self) -> Result<Vec<(String, i64)>, BusError> {
        let mut out = Vec::with_capacity(self.positions.len());
        for (topic, position) in &self.positions {
            let behind = match &self.log.db {
                Db::Postgres(pool) => pg::behind(pool, topic, *position).await?,
                Db::Sqlite(pool) => lite::behind(pool, topic, *position).await?,
            };
            out.push((topic.clone(), behind));
        }
        Ok(out)
    }
}
