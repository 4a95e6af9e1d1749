//! SQLite durability and recovery.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kit::db::{Db, DbOptions, MigrationFile, Migrations};

const OUTBOX_ONLY: Migrations = Migrations {
    postgres: &[MigrationFile { version: 0, description: "outbox", sql: kit::outbox::POSTGRES_DDL }],
    sqlite: &[MigrationFile { version: 0, description: "outbox", sql: kit::outbox::SQLITE_DDL }],
};

async fn open(dir: &tempfile::TempDir) -> Db {
    let options = DbOptions {
        url: format!("sqlite://{}", dir.path().join("store.db").display()),
        schema: "t".into(),
        max_connections: 1,
    };
    kit::db::connect(&options, &OUTBOX_ONLY).await.unwrap()
}

#[tokio::test]
async fn commits_are_durable_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let Db::Sqlite(pool) = open(&dir).await else { panic!("a SQLite store") };
    let (mode,): (i64,) = sqlx::query_as("PRAGMA synchronous").fetch_one(&pool).await.unwrap();
    assert_eq!(mode, 2, "synchronous=FULL: a commit is on disk before it is acknowledged");
}

/// A COMMIT that fails after SQLite already rolled back leaves sqlx counting one open
/// transaction on the connection, and every later BEGIN on it failed for as long as the
/// process ran. The pool must replace such a connection.
#[tokio::test]
async fn a_connection_left_inside_a_transaction_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    let Db::Sqlite(pool) = &db else { panic!("a SQLite store") };
    {
        let mut conn = pool.acquire().await.unwrap();
        let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
        // What a failed COMMIT leaves behind: the database is out of its transaction, sqlx
        // still counts one (and its own rollback never comes).
        sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
        std::mem::forget(tx);
    }
    db.can_write().await.expect("writes work again on a fresh connection");
    db.can_write().await.expect("and keep working");
}
