//! The transactional outbox. A service writes its event into its own `outbox` table in the
//! same transaction as the change ([`pg::enqueue`], [`lite::enqueue`]); the [`Relay`] moves
//! rows to the bus in commit order and deletes them once the bus has them.
//!
//! Several relays may run against one database (replicas): a lease row (`outbox_lease`)
//! lets exactly one of them publish at a time — no duplicates, no reordering. The lease is
//! taken and renewed by a one-row `UPDATE`, judged by the database's clock; no lock is held
//! while publishing, so a slow or absent broker never blocks the service's own writes.
//!
//! - A relay's holder name is stable per replica (`INSTANCE_ID`, else host and port), so a
//!   replica restarted after a crash takes its own lease back at once instead of waiting for
//!   it to expire; one that stops cleanly gives it up.
//! - Every pass is fenced: its publish must finish while its lease is still valid (a
//!   deadline short of the expiry), and it deletes rows only if the lease row still carries
//!   the expiry this pass set — so a relay whose lease was taken over can neither publish
//!   late nor delete another relay's work.

use crate::bus::{BusError, EventBus, OutgoingMessage};
use crate::db::{Db, Timestamp};
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
    created_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE outbox_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL);
INSERT INTO outbox_lease (id, holder, expires_at) VALUES (1, '', '1970-01-01T00:00:00Z')";

/// The `outbox` table on SQLite; [`crate::migrations!`] makes it every service's version 0.
pub const SQLITE_DDL: &str = "CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    headers TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE outbox_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL);
INSERT INTO outbox_lease (id, holder, expires_at) VALUES (1, '', '1970-01-01T00:00:00.000000Z')";

/// Serialises an event for the bus: key from the event, and the W3C `traceparent` of the
/// current span (the request that wrote it), so an order's events continue its trace;
/// outside a span, one whose trace id is the current request's id (a UUID).
pub fn message<T: Event>(envelope: &Envelope<T>) -> OutgoingMessage {
    let mut headers = crate::trace::current_as_event_headers();
    if headers.is_empty() {
        headers = crate::problem::current_request_id()
            .and_then(|id| uuid::Uuid::parse_str(&id).ok())
            .map(|trace| {
                let span = uuid::Uuid::new_v4().simple().to_string();
                vec![("traceparent".to_owned(), format!("00-{}-{}-01", trace.simple(), &span[..16]))]
            })
            .unwrap_or_default();
    }
    OutgoingMessage {
        topic: envelope.payload.topic().to_owned(),
        key: envelope.payload.key(),
        headers,
        payload: serde_json::to_vec(envelope).unwrap_or_default(),
    }
}

type Row = (i64, String, String, String, Vec<u8>);

/// How long before its lease runs out a pass must be done publishing: a tenth of the lease,
/// at least 200 ms and at most 5 s.
fn fence_margin(lease: Duration) -> Duration {
    (lease / 10).clamp(Duration::from_millis(200), Duration::from_secs(5))
}

/// Deletes the published rows only while the lease row still holds this pass's holder and
/// expiry (`$2`, `$3`): a relay whose lease was taken over deletes nothing.
macro_rules! fenced {
    () => {
        " AND EXISTS (SELECT 1 FROM outbox_lease WHERE id = 1 AND holder = $2 AND expires_at = $3)"
    };
}

macro_rules! outbox_backend {
    ($module:ident, $Db:ty, delete = $delete:expr, take_lease = $take_lease:ident) => {
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
                holder: &str,
                lease: Duration,
                service: &'static str,
            ) -> Result<usize, RelayError> {
                // A short write takes or renews the lease; `token` (the expiry it set) fences
                // the rest of the pass, `remaining` (by the database's clock) bounds it.
                let Some((token, remaining)) = super::$take_lease(pool, holder, lease).await? else { return Ok(0) };
                let rows: Vec<Row> =
                    sqlx::query_as("SELECT id, topic, key, headers, payload FROM outbox ORDER BY id LIMIT $1")
                        .bind(batch)
                        .fetch_all(pool)
                        .await?;
                if rows.is_empty() {
                    return Ok(0);
                }
                let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
                let mut messages: Vec<OutgoingMessage> = rows
                    .into_iter()
                    .map(|(_, topic, key, headers, payload)| OutgoingMessage {
                        topic,
                        key,
                        headers: serde_json::from_str(&headers).unwrap_or_default(),
                        payload,
                    })
                    .collect();
                // Published before deleted: a crash in between re-publishes (at least once),
                // never loses. The publish must end before the lease could pass to another
                // relay, else both would publish the batch.
                let deadline = remaining.saturating_sub(fence_margin(lease));
                if deadline.is_zero() {
                    return Ok(0);
                }
                let spans = crate::trace::publish_spans(service, &mut messages);
                match tokio::time::timeout(deadline, bus.publish(&messages)).await {
                    Ok(Ok(())) => spans.end(None),
                    Ok(Err(err)) => {
                        spans.end(Some(&err.to_string()));
                        return Err(err.into());
                    }
                    Err(_) => {
                        spans.end(Some("the lease ran out"));
                        return Err(RelayError::LeaseRanOut(deadline));
                    }
                }
                // By id, not by range: on PostgreSQL a lower id can commit after a higher one.
                let deleted =
                    sqlx::query($delete).bind(sqlx::types::Json(&ids)).bind(holder).bind(token).execute(pool).await?;
                if deleted.rows_affected() == 0 {
                    return Err(RelayError::Fenced);
                }
                for message in &messages {
                    crate::metrics::count_published(service, &message.topic);
                }
                Ok(messages.len())
            }

            pub(super) async fn release(pool: &sqlx::Pool<$Db>, holder: &str) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE outbox_lease SET expires_at = $2 WHERE id = 1 AND holder = $1")
                    .bind(holder)
                    .bind(Timestamp::from(time::OffsetDateTime::UNIX_EPOCH))
                    .execute(pool)
                    .await
                    .map(|_| ())
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
    delete =
        concat!("DELETE FROM outbox WHERE id IN (SELECT (jsonb_array_elements_text($1::jsonb))::bigint)", fenced!()),
    take_lease = take_lease_pg
);
outbox_backend!(
    lite,
    sqlx::Sqlite,
    delete = concat!("DELETE FROM outbox WHERE id IN (SELECT value FROM json_each($1))", fenced!()),
    take_lease = take_lease_lite
);

/// The lease on PostgreSQL, judged by the server's clock: the expiry this pass set (its
/// fencing token) and the time left, or `None` when another relay holds it.
async fn take_lease_pg(
    pool: &sqlx::PgPool,
    holder: &str,
    lease: Duration,
) -> Result<Option<(time::OffsetDateTime, Duration)>, sqlx::Error> {
    let row: Option<(time::OffsetDateTime, f64)> = sqlx::query_as(
        "UPDATE outbox_lease SET holder = $1, expires_at = clock_timestamp() + $2
         WHERE id = 1 AND (holder = $1 OR expires_at < clock_timestamp())
         RETURNING expires_at, EXTRACT(EPOCH FROM expires_at - clock_timestamp())::float8",
    )
    .bind(holder)
    .bind(lease)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(token, left)| (token, Duration::try_from_secs_f64(left).unwrap_or_default())))
}

/// The lease on SQLite: the database is a file in this process, so its clock is ours.
async fn take_lease_lite(
    pool: &sqlx::SqlitePool,
    holder: &str,
    lease: Duration,
) -> Result<Option<(Timestamp, Duration)>, sqlx::Error> {
    let now = Timestamp::now();
    let until = Timestamp::from(now.get() + lease);
    let taken = sqlx::query(
        "UPDATE outbox_lease SET holder = $1, expires_at = $2 WHERE id = 1 AND (holder = $1 OR expires_at < $3)",
    )
    .bind(holder)
    .bind(until)
    .bind(now)
    .execute(pool)
    .await?;
    Ok((taken.rows_affected() == 1).then_some((until, lease)))
}

/// A relay pass failed; the rows stay in the outbox for the next pass.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The publish did not finish while the lease was surely still ours.
    #[error("publishing took longer than the lease allows ({0:?}); the batch stays for the next pass")]
    LeaseRanOut(Duration),
    /// Another relay took the lease over during the pass: its rows are its own now.
    #[error("the outbox lease was taken over during the pass")]
    Fenced,
    /// The outbox's database failed.
    #[error("outbox storage: {0}")]
    Storage(#[from] sqlx::Error),
    /// The bus refused the batch.
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// A name for this replica that survives restarts: `INSTANCE_ID` when set (a pod name, say),
/// else `<host name>:<port>` — two live processes on one host cannot share a port.
pub fn instance_id(port: Option<u16>) -> String {
    if let Some(id) = crate::config::optional("INSTANCE_ID") {
        return id;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
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
    holder: String,
    lease: Duration,
    service: &'static str,
}

/// How often the relay reports its backlog (`outbox_backlog`, `outbox_oldest_age_seconds`).
const BACKLOG_REPORT_EVERY: Duration = Duration::from_secs(5);

impl Relay {
    /// A relay for the outbox in `db` under a random holder name: services set a stable
    /// per-replica one with [`Relay::holder`] (see [`instance_id`]) so a restart after a crash
    /// takes the lease back at once.
    pub fn new(db: Db, bus: Arc<dyn EventBus>) -> Self {
        Relay {
            db,
            bus,
            wake: Arc::new(Notify::new()),
            batch: 500,
            idle: Duration::from_millis(500),
            linger: Duration::from_millis(20),
            holder: uuid::Uuid::new_v4().to_string(),
            lease: Duration::from_secs(30),
            service: "unknown",
        }
    }

    /// The `service` label of its backlog gauges (`order`, `inventory`, …).
    pub fn service(mut self, service: &'static str) -> Self {
        self.service = crate::metrics::short_name(service);
        self
    }

    /// Rows waiting and the age in seconds of the oldest (0 when empty).
    pub async fn backlog_and_age(&self) -> Result<(i64, f64), sqlx::Error> {
        let (rows, age): (i64, Option<f64>) = match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT COUNT(*), EXTRACT(EPOCH FROM clock_timestamp() - MIN(created_at))::float8 FROM outbox",
                )
                .fetch_one(pool)
                .await?
            }
            Db::Sqlite(pool) => {
                sqlx::query_as("SELECT COUNT(*), (julianday('now') - julianday(MIN(created_at))) * 86400.0 FROM outbox")
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok((rows, age.unwrap_or(0.0).max(0.0)))
    }

    async fn report_backlog(&self) {
        match self.backlog_and_age().await {
            Ok((rows, age)) => {
                metrics::gauge!("outbox_backlog", "service" => self.service).set(rows as f64);
                metrics::gauge!("outbox_oldest_age_seconds", "service" => self.service).set(age);
            }
            Err(err) => tracing::debug!(error = %err, "outbox backlog not measured"),
        }
    }

    /// Holds the lease under `holder`: the same name after a restart takes the lease back at
    /// once; two live relays on one outbox must have different names.
    pub fn holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    /// How long a lease lasts without renewal (30 s by default).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Notify it after committing an outbox row, to publish without waiting for the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The holder name.
    pub fn holder_name(&self) -> &str {
        &self.holder
    }

    /// One pass: publishes up to a batch of rows; how many.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        match &self.db {
            Db::Postgres(pool) => {
                pg::relay_once(pool, &*self.bus, self.batch, &self.holder, self.lease, self.service).await
            }
            Db::Sqlite(pool) => {
                lite::relay_once(pool, &*self.bus, self.batch, &self.holder, self.lease, self.service).await
            }
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
        let mut backoff = crate::retry::Backoff::new(Duration::from_millis(100), Duration::from_secs(6));
        let mut reported = tokio::time::Instant::now() - BACKLOG_REPORT_EVERY;
        loop {
            if reported.elapsed() >= BACKLOG_REPORT_EVERY {
                self.report_backlog().await;
                reported = tokio::time::Instant::now();
            }
            let wait = match self.relay_once().await {
                Ok(n) if n as i64 == self.batch => Duration::ZERO,
                Ok(_) => {
                    backoff.reset();
                    self.idle
                }
                Err(err) => {
                    let wait = backoff.next_delay();
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
        let released = match &self.db {
            Db::Postgres(pool) => pg::release(pool, &self.holder).await,
            Db::Sqlite(pool) => lite::release(pool, &self.holder).await,
        };
        if let Err(err) = released {
            tracing::warn!(error = %err, "giving up the outbox lease failed; it expires by itself");
        }
    }
}
