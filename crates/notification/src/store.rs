//! The record of every email, and the durable queue of its retries. An email is claimed
//! (PENDING) before it is sent, so a redelivered event sends nothing twice; after each attempt
//! it becomes SENT, RETRYING (with `next_attempt_at`), or FAILED — the last together with its
//! dead letter in the outbox, in one transaction. The record keeps the rendered email and the
//! original message, so a retry or a dead letter needs nothing but the record.
//!
//! Every attempt increments `attempts` when it starts and records its outcome only while
//! `attempts` still has that value: the attempt count is the fence that keeps a worker whose
//! lease ran out (or a consumer that lost a race) from overwriting a newer attempt's outcome.
//! SQLite and PostgreSQL share one implementation.

use crate::emails::{Email, Kind};
use async_trait::async_trait;
use kit::bus::{Message, OutgoingMessage};
use kit::db::{Db, Timestamp};
use serde::Serialize;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

/// A recorded notification, as `GET /api/notifications` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Notification {
    /// Record id; also the email's identity (its `Message-ID` and `.eml` file name).
    pub id: Uuid,
    /// The event that asked for it.
    pub event_id: Uuid,
    /// Which email.
    pub kind: String,
    /// Recipient.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// `PENDING` (being sent), `RETRYING` (waiting for `next_attempt_at`), `SENT` or `FAILED`.
    #[schema(example = "SENT")]
    pub status: String,
    /// Send attempts so far.
    pub attempts: i64,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
    /// When the event asked for it.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    /// When the next attempt is due (`RETRYING` only).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// The message an email came from: what a dead letter needs, kept with the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The topic it was consumed from.
    pub topic: String,
    /// Its key.
    pub key: String,
    /// Its headers.
    pub headers: Vec<(String, String)>,
    /// Its payload, byte for byte.
    pub payload: Vec<u8>,
}

impl From<&Message> for Source {
    fn from(message: &Message) -> Self {
        Source {
            topic: message.topic.clone(),
            key: message.key.clone(),
            headers: message.headers.clone(),
            payload: message.payload.clone(),
        }
    }
}

/// The right to make one attempt at a notification and record its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The record.
    pub id: Uuid,
    /// This attempt's number (the fence: see the module doc).
    pub attempt: i64,
    /// Schedule steps already used in this round of retries.
    pub retry_step: i64,
}

/// What to do with an email an event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Send it now.
    Send(Ticket),
    /// Sent already, or a retry is scheduled: do nothing.
    Done,
}

/// A retry that is due, taken by one worker for the length of a lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The attempt.
    pub ticket: Ticket,
    /// The event that asked for it.
    pub event_id: Uuid,
    /// Which email (`ORDER_CONFIRMED`, …).
    pub kind: String,
    /// The email as first rendered.
    pub email: Email,
    /// The message it came from.
    pub source: Source,
}

/// The notification record.
#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// Records the email `(event_id, kind)` asks for as PENDING and answers [`Claim::Send`];
    /// a record that is PENDING (an earlier delivery stopped before recording its outcome) or
    /// FAILED (a replay) is claimed again, its attempts kept and its schedule restarted; SENT
    /// and RETRYING answer [`Claim::Done`].
    async fn claim(&self, event_id: Uuid, kind: Kind, email: &Email, source: &Source) -> Result<Claim, sqlx::Error>;
    /// Takes the retry that has been due longest, if any is due at `now`, until `lease_until`
    /// (another worker takes it again after that, should this one never record an outcome).
    async fn take_due(&self, now: Timestamp, lease_until: Timestamp) -> Result<Option<Due>, sqlx::Error>;
    /// Marks it sent; `false` if a newer attempt owns the record.
    async fn sent(&self, ticket: Ticket) -> Result<bool, sqlx::Error>;
    /// Schedules the next attempt at `at`; `false` if a newer attempt owns the record.
    async fn retry_at(&self, ticket: Ticket, error: &str, at: Timestamp) -> Result<bool, sqlx::Error>;
    /// Marks it failed for good and writes `dead_letter` to the outbox, in one transaction;
    /// `false` (and nothing written) if a newer attempt owns the record.
    async fn give_up(&self, ticket: Ticket, error: &str, dead_letter: &OutgoingMessage) -> Result<bool, sqlx::Error>;
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
    /// Wakes the outbox relay after a dead letter is committed.
    relay: Arc<Notify>,
}

impl SqlNotificationStore {
    /// A store on `db`; `relay` is notified when a dead letter enters the outbox.
    pub fn new(db: Db, relay: Arc<Notify>) -> Self {
        SqlNotificationStore { db, relay }
    }
}

type Row = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
);

fn from_row(r: Row) -> Notification {
    let (id, event_id, kind, recipient, subject, status, attempts, last_error, created_at, sent_at, next_attempt_at) =
        r;
    Notification {
        id,
        event_id,
        kind,
        recipient,
        subject,
        status,
        attempts,
        last_error,
        created_at,
        sent_at,
        next_attempt_at,
    }
}

type DueRow =
    (Uuid, i64, i64, Uuid, String, String, Option<String>, String, String, String, String, String, String, Vec<u8>);

fn from_due_row(r: DueRow) -> Due {
    let (id, attempt, retry_step, event_id, kind, to, to_name, subject, text, html, topic, key, headers, payload) = r;
    Due {
        ticket: Ticket { id, attempt, retry_step },
        event_id,
        kind,
        email: Email { to, to_name, subject, html, text },
        // Written by this module from a Vec of pairs; an unreadable value (edited by hand)
        // costs the dead letter its headers, not the email.
        source: Source { topic, key, headers: serde_json::from_str(&headers).unwrap_or_default(), payload },
    }
}

/// `text` as PostgreSQL can keep it: its text type cannot hold NUL, which an event's string
/// may carry; NUL becomes U+FFFD (the replacement character) on both backends, so they keep
/// the same thing. (The email itself is first attempted from the event as it came, so an
/// address with a NUL fails as unusable rather than turning into another address.)
fn storable(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

fn headers_json(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "[]".into())
}

macro_rules! columns {
    () => {
        "id, event_id, kind, recipient, subject, status, attempts, last_error, created_at, sent_at, next_attempt_at"
    };
}

/// An outcome is recorded only by the attempt that owns the record (see the module doc).
macro_rules! fenced {
    () => {
        " WHERE id = $1 AND attempts = $2 AND status IN ('PENDING', 'RETRYING')"
    };
}

macro_rules! notification_backend {
    ($module:ident, $Db:ty, skip_locked = $skip_locked:literal) => {
        mod $module {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn claim(
                pool: &Pool,
                event_id: Uuid,
                kind: Kind,
                email: &Email,
                source: &Source,
            ) -> Result<Claim, sqlx::Error> {
                let id = Uuid::now_v7();
                let inserted = sqlx::query(
                    "INSERT INTO notifications (id, event_id, kind, recipient, recipient_name, subject, text_body,
                         html_body, status, attempts, retry_step, created_at, source_topic, source_key, source_headers,
                         source_payload)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'PENDING', 1, 0, $9, $10, $11, $12, $13)
                     ON CONFLICT (event_id, kind) DO NOTHING",
                )
                .bind(id)
                .bind(event_id)
                .bind(kind.as_str())
                .bind(storable(&email.to))
                .bind(email.to_name.as_deref().map(storable))
                .bind(storable(&email.subject))
                .bind(storable(&email.text))
                .bind(storable(&email.html))
                .bind(Timestamp::now())
                .bind(&source.topic)
                .bind(storable(&source.key))
                .bind(headers_json(&source.headers))
                .bind(&source.payload)
                .execute(pool)
                .await?;
                if inserted.rows_affected() == 1 {
                    return Ok(Claim::Send(Ticket { id, attempt: 1, retry_step: 0 }));
                }
                // PENDING: an earlier delivery stopped before recording the outcome (it may have
                // sent: the email's fixed identity makes sending again harmless). FAILED: the
                // event is replayed, which is how an operator asks for another try. Both start
                // a new round of retries; the content is refreshed (records written before
                // migration 0002 have none, and the admin's address may have changed).
                let reclaimed: Option<(Uuid, i64)> = sqlx::query_as(
                    "UPDATE notifications SET status = 'PENDING', attempts = attempts + 1, retry_step = 0,
                         next_attempt_at = NULL, recipient = $3, recipient_name = $4, subject = $5, text_body = $6,
                         html_body = $7, source_topic = $8, source_key = $9, source_headers = $10, source_payload = $11
                     WHERE event_id = $1 AND kind = $2 AND status IN ('PENDING', 'FAILED')
                     RETURNING id, attempts",
                )
                .bind(event_id)
                .bind(kind.as_str())
                .bind(storable(&email.to))
                .bind(email.to_name.as_deref().map(storable))
                .bind(storable(&email.subject))
                .bind(storable(&email.text))
                .bind(storable(&email.html))
                .bind(&source.topic)
                .bind(storable(&source.key))
                .bind(headers_json(&source.headers))
                .bind(&source.payload)
                .fetch_optional(pool)
                .await?;
                Ok(match reclaimed {
                    Some((id, attempt)) => Claim::Send(Ticket { id, attempt, retry_step: 0 }),
                    None => Claim::Done,
                })
            }

            pub async fn take_due(pool: &Pool, now: Timestamp, lease_until: Timestamp) -> Result<Option<Due>, sqlx::Error> {
                // Pushing next_attempt_at to the end of the lease hides the row from other
                // workers while this one sends; if it never records an outcome (crash), the
                // row is due again when the lease ends. On PostgreSQL, SKIP LOCKED lets
                // concurrent workers each take a different row instead of queueing on one.
                let row: Option<DueRow> = sqlx::query_as(concat!(
                    "UPDATE notifications SET next_attempt_at = $2, attempts = attempts + 1
                     WHERE status = 'RETRYING' AND id = (
                         SELECT id FROM notifications WHERE status = 'RETRYING' AND next_attempt_at <= $1
                         ORDER BY next_attempt_at LIMIT 1 ",
                    $skip_locked,
                    ")
                     RETURNING id, attempts, retry_step, event_id, kind, recipient, recipient_name, subject, text_body,
                         html_body, source_topic, source_key, source_headers, source_payload"
                ))
                .bind(now)
                .bind(lease_until)
                .fetch_optional(pool)
                .await?;
                Ok(row.map(from_due_row))
            }

            pub async fn sent(pool: &Pool, ticket: Ticket) -> Result<bool, sqlx::Error> {
                let done = sqlx::query(concat!(
                    "UPDATE notifications SET status = 'SENT', sent_at = $3, next_attempt_at = NULL",
                    fenced!()
                ))
                .bind(ticket.id)
                .bind(ticket.attempt)
                .bind(Timestamp::now())
                .execute(pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn retry_at(pool: &Pool, ticket: Ticket, error: &str, at: Timestamp) -> Result<bool, sqlx::Error> {
                let done = sqlx::query(concat!(
                    "UPDATE notifications SET status = 'RETRYING', last_error = $3, next_attempt_at = $4,
                         retry_step = retry_step + 1",
                    fenced!()
                ))
                .bind(ticket.id)
                .bind(ticket.attempt)
                .bind(storable(error))
                .bind(at)
                .execute(pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn give_up(
                pool: &Pool,
                ticket: Ticket,
                error: &str,
                dead_letter: &OutgoingMessage,
            ) -> Result<bool, sqlx::Error> {
                // One transaction: a FAILED record always has its dead letter, and a dead
                // letter that cannot be published yet waits in the outbox instead of being lost.
                let mut tx = pool.begin().await?;
                let done = sqlx::query(concat!(
                    "UPDATE notifications SET status = 'FAILED', last_error = $3, next_attempt_at = NULL",
                    fenced!()
                ))
                .bind(ticket.id)
                .bind(ticket.attempt)
                .bind(storable(error))
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                kit::outbox::$module::enqueue(&mut *tx, dead_letter).await?;
                tx.commit().await?;
                Ok(true)
            }

            pub async fn list(
                pool: &Pool,
                recipient: Option<&str>,
                limit: i64,
                offset: i64,
            ) -> Result<(Vec<Notification>, i64), sqlx::Error> {
                let (rows_sql, count_sql) = if recipient.is_some() {
                    (
                        concat!(
                            "SELECT ",
                            columns!(),
                            " FROM notifications WHERE recipient = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
                        ),
                        "SELECT COUNT(*) FROM notifications WHERE recipient = $1",
                    )
                } else {
                    (
                        concat!(
                            "SELECT ",
                            columns!(),
                            " FROM notifications WHERE $1 IS NULL ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
                        ),
                        "SELECT COUNT(*) FROM notifications WHERE $1 IS NULL",
                    )
                };
                let rows: Vec<Row> =
                    sqlx::query_as(rows_sql).bind(recipient).bind(limit).bind(offset).fetch_all(pool).await?;
                let (total,): (i64,) = sqlx::query_as(count_sql).bind(recipient).fetch_one(pool).await?;
                Ok((rows.into_iter().map(from_row).collect(), total))
            }
        }
    };
}

notification_backend!(pg, sqlx::Postgres, skip_locked = "FOR UPDATE SKIP LOCKED");
// SQLite has one writer: the UPDATE is atomic without row locks.
notification_backend!(lite, sqlx::Sqlite, skip_locked = "");

#[async_trait]
impl NotificationStore for SqlNotificationStore {
    async fn claim(&self, event_id: Uuid, kind: Kind, email: &Email, source: &Source) -> Result<Claim, sqlx::Error> {
        kit::on_backend!(self, claim(event_id, kind, email, source))
    }
    async fn take_due(&self, now: Timestamp, lease_until: Timestamp) -> Result<Option<Due>, sqlx::Error> {
        kit::on_backend!(self, take_due(now, lease_until))
    }
    async fn sent(&self, ticket: Ticket) -> Result<bool, sqlx::Error> {
        kit::on_backend!(self, sent(ticket))
    }
    async fn retry_at(&self, ticket: Ticket, error: &str, at: Timestamp) -> Result<bool, sqlx::Error> {
        kit::on_backend!(self, retry_at(ticket, error, at))
    }
    async fn give_up(&self, ticket: Ticket, error: &str, dead_letter: &OutgoingMessage) -> Result<bool, sqlx::Error> {
        let written = kit::on_backend!(self, give_up(ticket, error, dead_letter))?;
        if written {
            self.relay.notify_one();
        }
        Ok(written)
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
