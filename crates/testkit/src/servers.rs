//! Real servers the tests need (PostgreSQL, a Kafka-protocol broker) and what happens when
//! one is missing: skipped with one visible line per kind of server, or — under
//! `SHOP_REQUIRE_TEST_SERVERS=1`, which CI sets — a failure, so CI never passes by skipping.

use sqlx::Connection;
use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;

/// Whether a missing test server must fail the test instead of skipping it.
pub fn servers_required() -> bool {
    std::env::var("SHOP_REQUIRE_TEST_SERVERS").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

static ANNOUNCED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Skips (returns `None`) or fails, per [`servers_required`], when `server` is missing
/// because of `reason`. The first skip of each server in a test binary prints one line
/// straight to the terminal (past the harness's output capture), so a newcomer running
/// `cargo test` sees what did not run and why.
pub fn missing_server<T>(server: &str, reason: &str) -> Option<T> {
    assert!(!servers_required(), "{server} is required (SHOP_REQUIRE_TEST_SERVERS=1) but not available: {reason}");
    let first = {
        let mut announced = ANNOUNCED.lock().unwrap_or_else(|p| p.into_inner());
        announced.get_or_insert_with(HashSet::new).insert(server.to_owned())
    };
    if first {
        let binary = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let suite = binary.split('-').next().unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "note: {suite}: skipping the tests that need {server} ({reason}); they pass vacuously here"
        );
    }
    None
}

/// The URL of a new, empty PostgreSQL database, or `None` (test skipped) without a server.
/// `TEST_DATABASE_URL` names a database whose user may create databases.
pub async fn fresh_postgres() -> Option<String> {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        return missing_server("PostgreSQL", "TEST_DATABASE_URL is not set");
    };
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(conn) => conn,
        Err(err) => return missing_server("PostgreSQL", &format!("cannot connect to TEST_DATABASE_URL: {err}")),
    };
    let name = format!("shop_test_{}", uuid::Uuid::new_v4().simple());
    let create = format!("CREATE DATABASE {name}");
    if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut admin).await {
        panic!("creating test database {name}: {err}");
    }
    // TEST_DATABASE_URL names a database (postgres://user@host:port/db); swap its name.
    let (location, query) = admin_url.split_once('?').unwrap_or((admin_url.as_str(), ""));
    let base = location.rsplit_once('/').map_or(location, |(base, _)| base);
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    Some(format!("{base}/{name}{query}"))
}
