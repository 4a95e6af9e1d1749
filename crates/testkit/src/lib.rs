//! The one test harness of the workspace: every crate's tests start their services, talk
//! HTTP to them and read the event log through it, so a new concern (a token, a broker
//! namespace, a fault) is added here once.
//!
//! - [`Backend`] and [`on_backends!`]: one behaviour, instantiated per store backend
//!   (`on_backends!(mongo: …)` adds MongoDB, for the product service, the one store that has a
//!   MongoDB backend).
//! - [`Stores`]: a temporary directory plus, on PostgreSQL, a fresh database (on MongoDB, a
//!   fresh database name on the `TEST_MONGODB_URL` server); the [`DbOptions`] of any service's
//!   store and the embedded event log in it.
//! - [`Client`] and [`Reply`]: a small HTTP client and its answers' assertions.
//! - [`Running`]: a spawned server, stopped when dropped.
//! - [`tokens`]: one identity provider per test process and tokens for any identity.
//! - [`eventually`], [`kafka_config`], [`encode`]: waiting, Kafka namespaces, query encoding.
//! - [`servers_required`], [`missing_server`]: a missing PostgreSQL, MongoDB or broker skips a test
//!   (one line saying so) or, under `SHOP_REQUIRE_TEST_SERVERS=1` (CI), fails it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
pub mod openapi;
mod servers;
pub mod tokens;

pub use client::{Body, Client, Reply};
pub use servers::{MongoDatabase, fresh_mongo, fresh_postgres, missing_server, servers_required};

use kit::bus::log::EventLog;
use kit::db::DbOptions;
use std::future::Future;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long asynchronous effects (relays, consumers, sweepers) get before a test gives up.
pub const EVENTUALLY: Duration = Duration::from_secs(5);

/// Which store a service under test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite files in a temporary directory.
    Sqlite,
    /// A fresh database on the `TEST_DATABASE_URL` server.
    Postgres,
    /// A fresh database on the `TEST_MONGODB_URL` server (product store only; every other
    /// store of a test on this backend is SQLite, the event log included).
    Mongo,
}

/// Instantiates behaviours once per backend: `on_backends!(products::creates, stock::adds)`
/// makes `sqlite::creates` and `postgres::creates` calling
/// `crate::products::creates(Backend)`, so `cargo test sqlite::` picks one backend.
/// `on_backends!(mongo: products::creates, …)` also makes `mongo::creates`, for a store that
/// has a MongoDB backend.
#[macro_export]
#[allow(clippy::crate_in_macro_def)] // `crate::` is the calling test crate, on purpose
macro_rules! on_backends {
    (mongo: $($module:ident :: $name:ident),+ $(,)?) => {
        $crate::on_backends!($($module::$name),+);
        mod mongo {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                crate::$module::$name($crate::Backend::Mongo).await;
            })+
        }
    };
    ($($module:ident :: $name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                crate::$module::$name($crate::Backend::Sqlite).await;
            })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                crate::$module::$name($crate::Backend::Postgres).await;
            })+
        }
    };
}

/// Where a test's data lives: a temporary directory (SQLite files, mail, anything else) and,
/// on PostgreSQL, a fresh database in which each service gets its own schema, or on MongoDB a
/// fresh database name per service.
pub struct Stores {
    /// The backend.
    pub backend: Backend,
    postgres: Option<String>,
    mongo: Option<MongoDatabase>,
    dir: tempfile::TempDir,
}

impl Stores {
    /// Fresh stores, or `None` when the backend's server is missing (see [`missing_server`]).
    pub async fn new(backend: Backend) -> Option<Stores> {
        init_logs();
        let (postgres, mongo) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => (Some(fresh_postgres().await?), None),
            Backend::Mongo => (None, Some(fresh_mongo().await?)),
        };
        Some(Stores { backend, postgres, mongo, dir: tempfile::tempdir().expect("creating a temp dir") })
    }

    /// The temporary directory, removed when the stores are dropped.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `sqlite://<dir>/<name>.db`, or the fresh PostgreSQL database with schema `name`, or on
    /// MongoDB the server's URL with database `<fresh name>_<name>`.
    pub fn options(&self, name: &str) -> DbOptions {
        match &self.mongo {
            Some(mongo) => {
                DbOptions { url: mongo.url.clone(), schema: format!("{}_{name}", mongo.name), max_connections: 8 }
            }
            None => self.sql_options(name),
        }
    }

    /// Like [`Stores::options`], but SQL on every backend: on MongoDB, a SQLite file.
    pub fn sql_options(&self, name: &str) -> DbOptions {
        let url = match &self.postgres {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.dir.path().join(format!("{name}.db")).display()),
        };
        DbOptions { url, schema: name.to_owned(), max_connections: 8 }
    }

    /// The PostgreSQL database's URL, when on PostgreSQL.
    pub fn postgres_url(&self) -> Option<&str> {
        self.postgres.as_deref()
    }

    /// The MongoDB server and this test's database-name prefix, when on MongoDB (a service's
    /// database is `<name>_<service>`, see [`Stores::options`]).
    pub fn mongo(&self) -> Option<&MongoDatabase> {
        self.mongo.as_ref()
    }

    /// The embedded event log in these stores (file `events.db`, schema `eventlog`; SQLite
    /// on MongoDB).
    pub async fn event_log(&self) -> EventLog {
        let mut options = self.sql_options("events");
        options.schema = "eventlog".into();
        EventLog::new(kit::db::connect(&options, &kit::bus::log::MIGRATIONS).await.expect("opening the event log"))
    }
}

/// Shows the services' logs when `TEST_LOG` is set.
pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        kit::telemetry::init(kit::telemetry::LogFormat::Pretty);
    }
}

/// A server spawned for a test, stopped when dropped.
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Cancel to stop it (dropping does).
    pub shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Spawns `serve` (an app's `run_until_stopped`) listening on `port`.
    pub fn spawn<F, Fut>(port: u16, serve: F) -> Running
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(shutdown.clone()));
        Running { base: format!("http://127.0.0.1:{port}"), shutdown, task: Some(task) }
    }

    /// Stops it and waits until it has drained and closed its stores.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `check` every 25 ms until it holds (`true`) or `timeout` passes (`false`).
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Kafka settings in a namespace (topic and group prefix) of their own, on `brokers` or
/// `KAFKA_BROKERS`; `None` (skip or fail) without brokers.
pub fn kafka_config(brokers: Option<String>) -> Option<kit::bus::kafka::KafkaConfig> {
    let brokers = match brokers.or_else(|| std::env::var("KAFKA_BROKERS").ok()) {
        Some(brokers) => brokers,
        None => return missing_server("Kafka", "KAFKA_BROKERS is not set"),
    };
    Some(kit::bus::kafka::KafkaConfig {
        brokers,
        partitions: 2,
        replication: 1,
        delivery_timeout: Duration::from_secs(2),
        namespace: format!("t{}.", uuid::Uuid::now_v7().simple()),
    })
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
