//! Real servers the tests need (PostgreSQL, MongoDB, a Kafka-protocol broker) and what happens when
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

/// A MongoDB server and a database name no other test uses.
#[derive(Debug, Clone)]
pub struct MongoDatabase {
    /// `TEST_MONGODB_URL`.
    pub url: String,
    /// `shop_test_<uuid>`; a service's database is this plus `_<service>`.
    pub name: String,
}

/// A MongoDB server (`TEST_MONGODB_URL`, a replica set member or a server that has
/// transactions, such as SecantusDB) and a fresh database name, or `None` (test skipped)
/// without a server. Only reachability is checked here (a TCP connect to the first host), so
/// this harness needs no MongoDB driver; the service under test checks the rest at start-up.
pub async fn fresh_mongo() -> Option<MongoDatabase> {
    let Ok(url) = std::env::var("TEST_MONGODB_URL") else {
        return missing_server("MongoDB", "TEST_MONGODB_URL is not set");
    };
    if let Some(address) = first_host(&url) {
        let connect = tokio::net::TcpStream::connect(address.as_str());
        match tokio::time::timeout(std::time::Duration::from_secs(3), connect).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                return missing_server("MongoDB", &format!("cannot connect to TEST_MONGODB_URL ({address}): {err}"));
            }
            Err(_) => return missing_server("MongoDB", &format!("no answer from TEST_MONGODB_URL ({address}) in 3 s")),
        }
    }
    Some(MongoDatabase { url, name: format!("shop_test_{}", uuid::Uuid::new_v4().simple()) })
}

/// `host:port` of the first host of a `mongodb://` URL (port 27017 when absent); `None` for
/// `mongodb+srv://`, whose hosts only DNS knows.
fn first_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("mongodb://")?;
    let hosts = rest.split(['/', '?']).next()?;
    let hosts = hosts.rsplit_once('@').map_or(hosts, |(_, hosts)| hosts);
    let host = hosts.split(',').next()?.trim();
    if host.is_empty() {
        return None;
    }
    // `[::1]:27017`, `[::1]`, `host:27017`, `host`.
    let has_port = match host.rfind(']') {
        Some(close) => host[close..].contains(':'),
        None => host.contains(':'),
    };
    Some(if has_port { host.to_owned() } else { format!("{host}:27017") })
}

#[cfg(test)]
mod tests {
    use super::first_host;

    #[test]
    fn first_host_of_a_mongodb_url() {
        assert_eq!(first_host("mongodb://127.0.0.1:27018/").as_deref(), Some("127.0.0.1:27018"));
        assert_eq!(first_host("mongodb://u:p@db?replicaSet=rs").as_deref(), Some("db:27017"));
        assert_eq!(first_host("mongodb://a:1,b:2/x").as_deref(), Some("a:1"));
        assert_eq!(first_host("mongodb://[::1]/").as_deref(), Some("[::1]:27017"));
        assert_eq!(first_host("mongodb+srv://cluster.example.com/"), None);
    }
}
