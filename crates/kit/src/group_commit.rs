//! Group commit on SQLite: concurrent writes share one transaction and one sync of the WAL.
//!
//! With `synchronous=FULL` every commit waits for the disk, and a store has one connection, so
//! writes queue behind each other's syncs. A [`GroupCommit`] takes the writes that arrived
//! while the previous batch was committing and runs them in one `BEGIN IMMEDIATE … COMMIT`,
//! each inside its own savepoint: a write that fails is rolled back alone and gets its own
//! error, the others commit together. No caller is answered before the batch's commit has
//! returned, so an acknowledged write is as durable as before; if the commit fails, every
//! write of the batch gets that failure (an [`crate::db::is_unavailable`] error: nothing of
//! the batch was written).
//!
//! PostgreSQL does not need it: its own commits already share WAL flushes across
//! connections, and one transaction holding many orders' row locks would only make
//! concurrent writers wait (or deadlock) on each other.

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use opentelemetry::context::FutureExt as _;
use sqlx::{SqliteConnection, SqlitePool};
use std::panic::AssertUnwindSafe;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

/// Most writes in one transaction: enough to share a sync among a full load's concurrent
/// requests, few enough that the first of them does not wait long for the last.
const MAX_BATCH: usize = 64;

/// How a write that ran answers its caller once the batch's outcome is known: `None` when the
/// batch committed, else the reason it did not.
type Answer = Box<dyn FnOnce(Option<&sqlx::Error>) + Send>;

/// A write that ran in its savepoint: whether it succeeded (its savepoint is kept) and how to
/// answer its caller.
struct Ran {
    ok: bool,
    answer: Answer,
}

type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Ran> + Send>;

/// A SQLite store's writer: [`GroupCommit::run`] queues a write for the next batch.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the task that commits batches on `pool`'s connection; it ends when every
    /// handle is dropped.
    pub fn start(pool: SqlitePool) -> Self {
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(commit_batches(pool, queue));
        GroupCommit { jobs }
    }

    /// Runs `write` on the store's connection inside a transaction shared with other writes,
    /// and answers once that transaction has committed. `write` must not open a transaction
    /// of its own: an `Err` rolls back exactly what it did.
    pub async fn run<T, E, F>(&self, write: F) -> Result<T, E>
    where
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<sqlx::Error> + Send + 'static,
    {
        let (reply, answered) = oneshot::channel::<Result<T, E>>();
        // The write runs on the committing task but in its caller's context: the events it
        // writes to the outbox carry the caller's trace and request id, its logs its span.
        let trace = opentelemetry::Context::current();
        let span = tracing::Span::current();
        let request_id = crate::problem::current_request_id();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let write = write(conn).with_context(trace).instrument(span);
                let result = match request_id {
                    Some(id) => crate::problem::REQUEST_ID.scope(id, write).await,
                    None => write.await,
                };
                let ok = result.is_ok();
                let answer: Answer = Box::new(move |batch_failure| {
                    let result = match (batch_failure, result) {
                        (Some(err), Ok(_)) => Err(E::from(not_committed(err))),
                        (_, result) => result,
                    };
                    // A caller that stopped waiting no longer needs its answer.
                    let _ = reply.send(result);
                });
                Ran { ok, answer }
            })
        });
        self.jobs.send(job).await.map_err(|_| E::from(sqlx::Error::PoolClosed))?;
        // Dropped unanswered: the batch could not begin, broke before this write, or the
        // write panicked (the reason is logged); nothing of it was committed.
        answered.await.unwrap_or_else(|_| Err(E::from(not_run())))
    }
}

/// The error every write of a batch that did not commit gets. `Io`, so callers treat it as
/// "unavailable, retry": the batch was rolled back as a whole.
fn not_committed(err: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(format!("the write's transaction was rolled back: {err}")))
}

fn not_run() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other("the write was not run to the end (the store's log says why)"))
}

async fn commit_batches(pool: SqlitePool, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_batch(&pool, batch.drain(..)).await;
    }
}

async fn commit_batch(pool: &SqlitePool, jobs: impl Iterator<Item = Job>) {
    let mut tx = match pool.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(err) => {
            tracing::warn!(error = %err, "starting a group commit failed; its writes answer unavailable");
            return;
        }
    };
    let mut answers = Vec::new();
    let mut broken: Option<sqlx::Error> = None;
    // Whether the next write's savepoint is already open: ending one write and opening the
    // next share one call to the connection's thread (each call is a hand-off both ways).
    let mut savepoint_open = false;
    let mut jobs = jobs.peekable();
    while let Some(job) = jobs.next() {
        if broken.is_some() {
            // Dropped unanswered: the caller is told the write was not run.
            continue;
        }
        if !savepoint_open && let Err(err) = sqlx::query("SAVEPOINT write").execute(&mut *tx).await {
            broken = Some(err);
            continue;
        }
        // A write that panics must not take every later write of the store with it: it is
        // rolled back like a failed one, and its caller (answer dropped) is told it did not run.
        let ran = match AssertUnwindSafe(job(&mut tx)).catch_unwind().await {
            Ok(ran) => Some(ran),
            Err(_) => {
                tracing::error!("a write panicked in a group commit; it is rolled back");
                None
            }
        };
        let ok = ran.as_ref().is_some_and(|ran| ran.ok);
        answers.extend(ran.map(|ran| ran.answer));
        let next = jobs.peek().is_some();
        let end = match (ok, next) {
            (true, false) => sqlx::raw_sql("RELEASE write").execute(&mut *tx).await,
            (true, true) => sqlx::raw_sql("RELEASE write; SAVEPOINT write").execute(&mut *tx).await,
            (false, false) => sqlx::raw_sql("ROLLBACK TO write; RELEASE write").execute(&mut *tx).await,
            (false, true) => sqlx::raw_sql("ROLLBACK TO write; RELEASE write; SAVEPOINT write").execute(&mut *tx).await,
        };
        savepoint_open = next;
        // SQLite rolls the whole transaction back on some errors (a full disk, I/O): then
        // the savepoint is gone and nothing of the batch can commit.
        if let Err(err) = end {
            broken = Some(err);
        }
    }
    let failure = match broken {
        Some(err) => {
            drop(tx);
            Some(err)
        }
        None => tx.commit().await.err(),
    };
    if let Some(err) = &failure {
        tracing::warn!(error = %err, writes = answers.len(), "a group commit failed; its writes answer unavailable");
    }
    for answer in answers {
        answer(failure.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::GroupCommit;
    use sqlx::Connection as _;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    async fn store(dir: &tempfile::TempDir) -> sqlx::SqlitePool {
        let options = SqliteConnectOptions::new().filename(dir.path().join("t.db")).create_if_missing(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.expect("open");
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)").execute(&pool).await.expect("create");
        pool
    }

    #[tokio::test]
    async fn a_failed_write_is_rolled_back_alone_and_the_others_commit_together() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = store(&dir).await;
        let group = GroupCommit::start(pool.clone());
        let writes = (0..200).map(|i| {
            let group = group.clone();
            tokio::spawn(async move {
                group
                    .run(move |conn| {
                        Box::pin(async move {
                            sqlx::query("INSERT INTO t (id, v) VALUES ($1, 'first')")
                                .bind(i)
                                .execute(&mut *conn)
                                .await?;
                            // Every third write fails after it wrote: none of it may remain.
                            sqlx::query("INSERT INTO t (id, v) VALUES ($1, 'second')")
                                .bind(if i % 3 == 0 { i } else { 1000 + i })
                                .execute(&mut *conn)
                                .await?;
                            Ok::<_, sqlx::Error>(i)
                        })
                    })
                    .await
            })
        });
        let mut failed = 0;
        for write in futures_util::future::join_all(writes).await {
            match write.expect("write task") {
                Ok(_) => {}
                Err(err) => {
                    assert!(crate::db::is_unique_violation(&err), "{err}");
                    failed += 1;
                }
            }
        }
        assert_eq!(failed, 67);
        let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM t").fetch_one(&pool).await.expect("count");
        assert_eq!(rows, 2 * (200 - 67));
        let (orphans,): (i64,) = sqlx::query_as("SELECT count(*) FROM t WHERE id < 1000 AND id % 3 = 0")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(orphans, 0);
    }

    #[tokio::test]
    async fn a_write_that_panics_is_rolled_back_and_the_store_keeps_writing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pool = store(&dir).await;
        let group = GroupCommit::start(pool.clone());
        let panicked = group
            .run(|conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (id, v) VALUES (1, 'doomed')").execute(&mut *conn).await?;
                    if conn.is_in_transaction() {
                        panic!("a bug in a write");
                    }
                    Ok::<_, sqlx::Error>(())
                })
            })
            .await;
        let err = panicked.expect_err("the panicking write reports a failure");
        assert!(crate::db::is_unavailable(&err), "{err}");
        group
            .run(|conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (id, v) VALUES (2, 'next')").execute(&mut *conn).await?;
                    Ok::<_, sqlx::Error>(())
                })
            })
            .await
            .expect("the next write commits");
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM t ORDER BY id").fetch_all(&pool).await.expect("read");
        assert_eq!(rows, vec![(2,)]);
    }
}
