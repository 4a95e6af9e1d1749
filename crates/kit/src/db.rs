//! Database setup: a PostgreSQL or SQLite pool chosen by URL, one schema per service on
//! PostgreSQL (so services can share a server without sharing tables), migrations embedded
//! in the binary and applied at start-up.

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlSafeStr, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// A failure to open or migrate a database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `postgres://…` nor `sqlite:…`.
    #[error("unsupported database URL {0:?}: expected postgres://… or sqlite:…")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The database, without credentials.
        target: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A setting is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A migration failed.
    #[error("migrating {target}: {source}")]
    Migrate {
        /// The database, without credentials.
        target: String,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
}

/// An open pool on one of the two SQL backends.
#[derive(Debug, Clone)]
pub enum Db {
    /// PostgreSQL, with `search_path` set to the service's schema.
    Postgres(PgPool),
    /// A SQLite file in WAL mode.
    Sqlite(SqlitePool),
}

/// One migration, embedded with `include_str!`.
#[derive(Debug, Clone, Copy)]
pub struct MigrationFile {
    /// Monotonic version.
    pub version: i64,
    /// Short description.
    pub description: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// A service's migrations for both backends.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// Applied on PostgreSQL.
    pub postgres: &'static [MigrationFile],
    /// Applied on SQLite.
    pub sqlite: &'static [MigrationFile],
}

/// How to open a pool.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `postgres://…` or `sqlite:path` / `sqlite://path`.
    pub url: String,
    /// PostgreSQL schema owned by the service (ignored on SQLite: one file per service).
    pub schema: String,
    /// Pool size on PostgreSQL.
    pub max_connections: u32,
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

/// How SQLite makes a commit durable (`SQLITE_SYNCHRONOUS`): `full` (the default) syncs the
/// WAL on every commit, so an acknowledged write survives a power loss or an OS crash;
/// `normal` skips that sync (faster; a crash of the machine, not of the process, may roll
/// back the last commits, SQLite's documented behaviour in WAL mode).
pub fn sqlite_synchronous() -> Result<SqliteSynchronous, crate::config::ConfigError> {
    match crate::config::optional("SQLITE_SYNCHRONOUS").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("full") => Ok(SqliteSynchronous::Full),
        Some("normal") => Ok(SqliteSynchronous::Normal),
        Some(other) => Err(crate::config::ConfigError::new(
            "SQLITE_SYNCHRONOUS",
            format!("expected full or normal, got {other:?}"),
        )),
    }
}

/// Refuses a pooled connection whose transaction bookkeeping is not back at zero. sqlx counts
/// transaction depth itself; when a COMMIT fails (a full disk) and the database has already
/// rolled back, the rollback on drop fails too and the count stays at one, so every later
/// `BEGIN` on that connection fails for as long as the process runs. sqlx pings a connection
/// on release (which flushes a queued rollback), so by the next acquire the count is exact:
/// a connection still "in a transaction" then is one whose state is unknown, and is replaced.
fn transaction_state_known<C: sqlx::Connection>(
    conn: &mut C,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    let known = !conn.is_in_transaction();
    if !known {
        tracing::warn!("replacing a database connection left inside a failed transaction");
    }
    Box::pin(async move { Ok(known) })
}

/// Opens the pool and applies `migrations`.
pub async fn connect(options: &DbOptions, migrations: &Migrations) -> Result<Db, DbError> {
    let target = redact(&options.url);
    let db = if options.url.starts_with("postgres:") || options.url.starts_with("postgresql:") {
        let connect = PgConnectOptions::from_str(&options.url)
            .map_err(|source| DbError::Connect { target: target.clone(), source })?
            .options([("search_path", options.schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .before_acquire(transaction_state_known)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect)
            .await
            .map_err(|source| DbError::Connect { target: target.clone(), source })?;
        let mut migrator = migrator(migrations.postgres);
        migrator.create_schema(options.schema.clone());
        migrator.run(&pool).await.map_err(|source| DbError::Migrate { target, source })?;
        Db::Postgres(pool)
    } else if let Some(path) = options.url.strip_prefix("sqlite:") {
        let path = path.trim_start_matches("//");
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sqlite_synchronous()?)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // One connection: SQLite has one writer anyway, and a single connection never sees
        // SQLITE_BUSY from its own process. Statements take microseconds, so reads queueing
        // behind writes costs less than lock retries would.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .before_acquire(transaction_state_known)
            .connect_with(connect)
            .await
            .map_err(|source| DbError::Connect { target: target.clone(), source })?;
        migrator(migrations.sqlite).run(&pool).await.map_err(|source| DbError::Migrate { target, source })?;
        Db::Sqlite(pool)
    } else {
        return Err(DbError::UnsupportedUrl(target));
    };
    Ok(db)
}

fn migrator(files: &'static [MigrationFile]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|f| {
                Migration::new(f.version, f.description.into(), MigrationType::Simple, f.sql.into_sql_str(), false)
            })
            .collect(),
    )
}

impl Db {
    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        match self {
            Db::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
            Db::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
        }
    }

    /// Whether the store can write: a one-row update of the outbox lease (every service's
    /// store has it) commits, and a SQLite store's file system has room. A store that answers
    /// reads but cannot write (a full disk, a read-only replica) is not ready.
    pub async fn can_write(&self) -> Result<(), String> {
        let sql = "UPDATE outbox_lease SET holder = holder WHERE id = 1";
        match self {
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
                sqlx::query(sql).execute(&mut *tx).await.map_err(|e| e.to_string())?;
                tx.commit().await.map_err(|e| e.to_string())
            }
            Db::Sqlite(pool) => {
                let file = pool.connect_options().get_filename().to_owned();
                let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                if let Ok(stats) = rustix::fs::statvfs(dir) {
                    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
                    if free < MIN_FREE_BYTES {
                        return Err(format!("{} has {free} bytes free", dir.display()));
                    }
                }
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(|e| e.to_string())?;
                sqlx::query(sql).execute(&mut *tx).await.map_err(|e| e.to_string())?;
                tx.commit().await.map_err(|e| e.to_string())
            }
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match self {
            Db::Postgres(pool) => pool.close().await,
            Db::Sqlite(pool) => pool.close().await,
        }
    }
}

/// Calls `pg::$f(pool, …)` or `lite::$f(pool, …)` — the two instantiations of a store's SQL
/// module — on `$self.db`, and awaits it.
#[macro_export]
macro_rules! on_backend {
    ($self:ident, $f:ident($($arg:expr),*)) => {
        match &$self.db {
            $crate::db::Db::Postgres(pool) => pg::$f(pool, $($arg),*).await,
            $crate::db::Db::Sqlite(pool) => lite::$f(pool, $($arg),*).await,
        }
    };
}

/// Whether `err` means the store cannot serve right now but may soon (unreachable, out of
/// disk or memory, locked, shutting down, a serialization failure): the caller answers 503
/// with `Retry-After` rather than 500, and the request can be retried as it is.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::InvalidSavePointStatement
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                // SQLite primary result codes (the low byte of extended ones): BUSY 5,
                // LOCKED 6, NOMEM 7, READONLY 8, IOERR 10, FULL 13, CANTOPEN 14.
                Some(_) => code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 7 | 8 | 10 | 13 | 14)),
                // PostgreSQL SQLSTATE classes: 08 connection exception, 53 insufficient
                // resources (disk full, out of memory, too many connections), 57P operator
                // intervention (shutdown), 40001/40P01 serialization failure and deadlock,
                // 25006 read-only transaction (a standby).
                None => {
                    code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("57P")
                        || code == "40001"
                        || code == "40P01"
                        || code == "25006"
                }
            }
        }
        _ => false,
    }
}

/// Stores whose writes failed for want of resources recently, by store name: readiness
/// reports them for a while, since a probe write can still fit where real writes do not (a
/// SQLite WAL reuses its file, so one small commit succeeds on a full disk).
static RECENT_FAILURES: std::sync::Mutex<Vec<(String, std::time::Instant)>> = std::sync::Mutex::new(Vec::new());

/// How long a store counts as failing after its last failed write.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(5);

/// Records that a write to `store` failed with an [`is_unavailable`] error.
pub fn record_unavailable(store: &str) {
    let mut failures = RECENT_FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    failures.retain(|(name, _)| name != store);
    failures.push((store.to_owned(), std::time::Instant::now()));
}

/// When `store` last failed, if within [`FAILURE_MEMORY`].
pub fn recently_unavailable(store: &str) -> Option<Duration> {
    let failures = RECENT_FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    failures
        .iter()
        .find(|(name, _)| name == store)
        .map(|(_, at)| at.elapsed())
        .filter(|elapsed| *elapsed < FAILURE_MEMORY)
}

/// Least free space a SQLite store's file system must have to count as writable.
const MIN_FREE_BYTES: u64 = 1024 * 1024;

/// Whether an error is a unique-constraint violation.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Declares a [`Migrations`] constant from files under the crate's `migrations/postgres` and
/// `migrations/sqlite` folders: `migrations!(MIGRATIONS; 1 "init" "0001_init.sql")`. Every
/// service publishes events, so version 0 is always the outbox table.
#[macro_export]
macro_rules! migrations {
    ($name:ident; $($version:literal $description:literal $file:literal),+ $(,)?) => {
        /// This service's schema, for both backends.
        pub const $name: $crate::db::Migrations = $crate::db::Migrations {
            postgres: &[
                $crate::db::MigrationFile { version: 0, description: "outbox", sql: $crate::outbox::POSTGRES_DDL },
                $($crate::db::MigrationFile {
                    version: $version,
                    description: $description,
                    sql: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres/", $file)),
                }),+
            ],
            sqlite: &[
                $crate::db::MigrationFile { version: 0, description: "outbox", sql: $crate::outbox::SQLITE_DDL },
                $($crate::db::MigrationFile {
                    version: $version,
                    description: $description,
                    sql: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite/", $file)),
                }),+
            ],
        };
    };
}

/// A point in time as both stores keep it: UTC, microsecond precision. Bind times through
/// this type: on SQLite it is written as fixed-width RFC 3339 text
/// (`2026-02-21T10:00:00.120000Z`), so text order is time order — sqlx's own encoding drops
/// trailing zeros of the fraction, which breaks `ORDER BY` and comparisons. Rows decode
/// straight into `OffsetDateTime` on both backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub time::OffsetDateTime);

impl Timestamp {
    /// Now, truncated to what PostgreSQL keeps (microseconds), so a value read back equals
    /// the value written.
    pub fn now() -> Timestamp {
        Timestamp::from(time::OffsetDateTime::now_utc())
    }

    /// The wrapped time.
    pub fn get(self) -> time::OffsetDateTime {
        self.0
    }

    fn fixed_width(self) -> String {
        let t = self.0;
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }
}

impl From<time::OffsetDateTime> for Timestamp {
    fn from(at: time::OffsetDateTime) -> Self {
        let utc = at.to_offset(time::UtcOffset::UTC);
        Timestamp(utc.replace_nanosecond(utc.nanosecond() / 1_000 * 1_000).unwrap_or(utc))
    }
}

impl sqlx::Type<sqlx::Sqlite> for Timestamp {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <time::OffsetDateTime as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <time::OffsetDateTime as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
    }
}

impl sqlx::Encode<'_, sqlx::Sqlite> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::sqlite::SqliteArgumentsBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        sqlx::Encode::<sqlx::Sqlite>::encode(self.fixed_width(), buf)
    }
}

impl sqlx::Type<sqlx::Postgres> for Timestamp {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <time::OffsetDateTime as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        sqlx::Encode::<sqlx::Postgres>::encode_by_ref(&self.0, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn sqlite_text_sorts_in_time_order() {
        let base = time::macros::datetime!(2026-02-21 10:00:05 UTC);
        let times = [base, base + time::Duration::milliseconds(100), base + time::Duration::microseconds(120_001)];
        let texts: Vec<String> = times.iter().map(|t| Timestamp::from(*t).fixed_width()).collect();
        assert_eq!(texts[0], "2026-02-21T10:00:05.000000Z");
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(sorted, texts);
    }

    #[test]
    fn converts_to_utc_microseconds() {
        let at = time::macros::datetime!(2026-02-21 12:00:00.123456789 +02:00);
        assert_eq!(Timestamp::from(at).get(), time::macros::datetime!(2026-02-21 10:00:00.123456 UTC));
    }
}
