//! Support for tests that need real servers: a fresh PostgreSQL database per test, and the
//! rule that decides whether a missing server skips a test or fails it.
//!
//! `TEST_DATABASE_URL` points at a PostgreSQL server whose user may create databases.
//! When `SHOP_REQUIRE_TEST_SERVERS=1` (CI sets it), a missing server is a failure, so CI
//! never passes by skipping.

use sqlx::Connection;

/// Whether a missing test server must fail the test instead of skipping it.
pub fn servers_required() -> bool {
    std::env::var("SHOP_REQUIRE_TEST_SERVERS").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Skips (returns `None`) or fails, per [`servers_required`], when a server is missing.
pub fn missing_server<T>(what: &str) -> Option<T> {
    assert!(!servers_required(), "{what} is required (SHOP_REQUIRE_TEST_SERVERS=1) but not available");
    eprintln!("skipped: {what} not available");
    None
}

/// The URL of a new, empty PostgreSQL database, or `None` (test skipped) without a server.
pub async fn fresh_postgres() -> Option<String> {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        return missing_server("PostgreSQL (TEST_DATABASE_URL)");
    };
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(conn) => conn,
        Err(err) => return missing_server(&format!("PostgreSQL at TEST_DATABASE_URL ({err})")),
    };
    let name = format!("shop_test_{}", uuid::Uuid::new_v4().simple());
    let create = format!("CREATE DATABASE {name}");
    if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut admin).await {
        panic!("creating test database {name}: {err}");
    }
    // TEST_DATABASE_URL names a database (postgres://user@host:port/db); swap its name.
    let (location, query) = admin_url.split_once('?').map_or((admin_url.as_str(), ""), |(l, q)| (l, q));
    let base = location.rsplit_once('/').map_or(location, |(base, _)| base);
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    Some(format!("{base}/{name}{query}"))
}
