//! The record of every email: claimed before sending (so a redelivered event sends
//! nothing), marked sent or failed after. SQLite and PostgreSQL share one implementation.

use crate::emails::Kind;
use async_trait::async_trait;
use kit::db::{Db, Timestamp};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// A recorded notification, as `GET /api/notifications` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Notification {
    /// Record id.
    pub id: Uuid,
    /// The event that asked for it.
    pub event_id: Uuid,
    /// Which email.
    pub kind: String,
    /// Recipient.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// `PENDING`, `SENT` or `FAILED`.
    pub status: String,
    /// Send attempts so far.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event asked for it.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
}

/// What to do with an email an event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Send it: record `id` holds it.
    Send(Uuid),
    /// Already sent (or given up on): do nothing.
    Done,
}

/// The notification record.
#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// Records the email `(event_id, kind)` asks for, or finds the existing record.
    async fn claim(&self, event_id: Uuid, kind: Kind, recipient: &str, subject: &str) -> Result<Claim, sqlx::Error>;
    /// Counts a failed attempt.
    async fn attempt_failed(&self, id: Uuid, error: &str) -> Result<(), sqlx::Error>;
    /// Marks it sent.
    async fn sent(&self, id: Uuid) -> Result<(), sqlx::Error>;
    /// Marks it failed for good.
    async fn failed(&self, id: Uuid) -> Result<(), sqlx::Error>;
    /// A page of one recipient's notifications (or everyone's), newest first, and the total.
    async fn list(
        &self,
        recipient: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Notification>, i64), sqlx::Error>;
}

/// The SQL implementation for both backends.
pub struct SqlNotificationStore {
    db: Db,
}

impl SqlNotificationStore {
    /// A store on `db`.
    pub fn new(db: Db) -> Self {
        SqlNotificationStore { db }
    }
}

type Row = (Uuid, Uuid, String, String, String, String, i64, Option<String>, OffsetDateTime, Option<OffsetDateTime>);

fn from_row(r: Row) -> Notification {
    let (id, event_id, kind, recipient, subject, status, attempts, last_error, created_at, sent_at) = r;
    Notification { id, event_id, kind, recipient, subject, status, attempts, last_error, created_at, sent_at }
}

macro_rules! columns {
    () => {
        "id, event_id, kind, recipient, subject, status, attempts, last_error, created_at, sent_at"
    };
}

macro_rules! notification_backend {
    ($module:ident, $Db:ty) => {
        mod $module {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn claim(pool: &Pool, event_id: Uuid, kind: Kind, recipient: &str, subject: &str) -> Result<Claim, sqlx::Error> {
                let id = Uuid::now_v7();
                let inserted = sqlx::query(
                    "INSERT INTO notifications (id, event_id, kind, recipient, subject, status, attempts, created_at)
                     VALUES ($1, $2, $3, $4, $5, 'PENDING', 0, $6) ON CONFLICT (event_id, kind) DO NOTHING",
                )
                .bind(id)
                .bind(event_id)
                .bind(kind.as_str())
                .bind(recipient)
                .bind(subject)
                .bind(Timestamp::now())
                .execute(pool)
                .await?;
                if inserted.rows_affected() == 1 {
                    return Ok(Claim::Send(id));
                }
                let (existing, status): (Uuid, String) =
                    sqlx::query_as("SELECT id, status FROM notifications WHERE event_id = $1 AND kind = $2")
                        .bind(event_id)
                        .bind(kind.as_str())
                        .fetch_one(pool)
                        .await?;
                // PENDING: an earlier delivery stopped before finishing; try again.
                Ok(if status == "PENDING" { Claim::Send(existing) } else { Claim::Done })
            }

            pub async fn attempt_failed(pool: &Pool, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE notifications SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
                    .bind(id)
                    .bind(error)
                    .execute(pool)
                    .await
                    .map(|_| ())
            }

            pub async fn sent(pool: &Pool, id: Uuid) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE notifications SET status = 'SENT', attempts = attempts + 1, sent_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(Timestamp::now())
                    .execute(pool)
                    .await
                    .map(|_| ())
            }

            pub async fn failed(pool: &Pool, id: Uuid) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE notifications SET status = 'FAILED' WHERE id = $1").bind(id).execute(pool).await.map(|_| ())
            }

            pub async fn list(pool: &Pool, recipient: Option<&str>, limit: i64, offset: i64) -> Result<(Vec<Notification>, i64), sqlx::Error> {
                let (rows_sql, count_sql) = if recipient.is_some() {
                    (
                        concat!("SELECT ", columns!(), " FROM notifications WHERE recipient = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"),
                        "SELECT COUNT(*) FROM notifications WHERE recipient = $1",
                    )
                } else {
                    (
                        concat!("SELECT ", columns!(), " FROM notifications WHERE $1 IS NULL ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"),
                        "SELECT COUNT(*) FROM notifications WHERE $1 IS NULL",
                    )
                };
                let rows: Vec<Row> = sqlx::query_as(rows_sql).bind(recipient).bind(limit).bind(offset).fetch_all(pool).await?;
                let (total,): (i64,) = sqlx::query_as(count_sql).bind(recipient).fetch_one(pool).await?;
                Ok((rows.into_iter().map(from_row).collect(), total))
            }
        }
    };
}

notification_backend!(pg, sqlx::Postgres);
notification_backend!(lite, sqlx::Sqlite);

#[async_trait]
impl NotificationStore for SqlNotificationStore {
    async fn claim(&self, event_id: Uuid, kind: Kind, recipient: &str, subject: &str) -> Result<Claim, sqlx::Error> {
        kit::on_backend!(self, claim(event_id, kind, recipient, subject))
    }
    async fn attempt_failed(&self, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
        kit::on_backend!(self, attempt_failed(id, error))
    }
    async fn sent(&self, id: Uuid) -> Result<(), sqlx::Error> {
        kit::on_backend!(self, sent(id))
    }
    async fn failed(&self, id: Uuid) -> Result<(), sqlx::Error> {
        kit::on_backend!(self, failed(id))
    }
    async fn list(
        &self,
        recipient: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Notification>, i64), sqlx::Error> {
        kit::on_backend!(self, list(recipient, limit, offset))
    }
}
