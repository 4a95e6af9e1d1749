//! The data directory's file system fills up during a storm, then gets room again. While it
//! is full, writes fail with a clear 503 and `Retry-After` (never a 500, never a peer
//! blamed), and readiness says so; once there is room, writes work again by themselves —
//! no restart — and every acknowledged order is still there and gets its email.

use crate::helpers::{Backend, Options, order_body, spawn};
use http::StatusCode;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A small tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts one, or says why not (not root, no `mount`).
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if output.status.success() {
            Ok(Tmpfs(at.to_owned()))
        } else {
            Err(format!("mount -t tmpfs failed (needs root): {}", String::from_utf8_lossy(&output.stderr).trim()))
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes a file of zeros until the file system refuses; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).and_then(|_| file.flush()).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_fails_writes_cleanly_and_they_recover() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _tmpfs = match Tmpfs::mount(&data, "48m") {
        Ok(tmpfs) => tmpfs,
        Err(why) => return testkit::missing_server::<()>("a tmpfs to fill", &why).unwrap_or(()),
    };
    let options = Options { data_dir: Some(data.clone()), ..Options::default() };
    let Some(app) = spawn(Backend::Sqlite, options).await else { return };
    app.stock_product("disk-1", 2.0, 1_000_000).await;
    let mut placed = Vec::new();
    for i in 0..5 {
        let reply = app.post("/api/orders", order_body(&format!("before{i}@example.com"), &[("disk-1", 1)])).await;
        assert_eq!(reply.status, StatusCode::CREATED);
        placed.push(reply.body["order_number"].as_str().unwrap().to_owned());
    }

    let filler = fill(&data);
    let mut refused = 0;
    for i in 0..400 {
        let reply = app.post("/api/orders", order_body(&format!("full{i}@example.com"), &[("disk-1", 1)])).await;
        match reply.status {
            StatusCode::CREATED => placed.push(reply.body["order_number"].as_str().unwrap().to_owned()),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(reply.content_type(), "application/problem+json");
                assert!(reply.header("retry-after").is_some(), "503 with Retry-After: {:?}", reply.body);
                assert!(reply.detail().contains("store"), "names the store, not a peer: {}", reply.detail());
                refused += 1;
                if refused >= 5 {
                    break;
                }
            }
            other => panic!("while the disk is full: {other} {:?}", reply.body),
        }
    }
    assert!(refused >= 5, "the full disk was never noticed ({} orders went through)", placed.len());
    let not_ready = testkit::eventually(Duration::from_secs(10), || async {
        let mut any = false;
        for port in [app.ports().order, app.ports().inventory] {
            let ready = app.get(&format!("http://127.0.0.1:{port}/ready")).await;
            any |= ready.status == StatusCode::SERVICE_UNAVAILABLE;
        }
        any
    })
    .await;
    assert!(not_ready, "/ready says ready while the store cannot write");

    std::fs::remove_file(&filler).unwrap();
    let recovered = testkit::eventually(Duration::from_secs(10), || async {
        app.post("/api/orders", order_body("after@example.com", &[("disk-1", 1)])).await.status == StatusCode::CREATED
    })
    .await;
    assert!(recovered, "writes work again once the disk has room, without a restart");
    for i in 0..20 {
        let reply = app.post("/api/orders", order_body(&format!("later{i}@example.com"), &[("disk-1", 1)])).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    }
    for port in [app.ports().order, app.ports().inventory, app.ports().product, app.ports().notification] {
        let ready = testkit::eventually(Duration::from_secs(10), || async {
            app.get(&format!("http://127.0.0.1:{port}/ready")).await.status == StatusCode::OK
        })
        .await;
        assert!(ready, "port {port} is ready again");
    }
    // Everything acknowledged is kept and emailed.
    for number in &placed {
        let emailed = testkit::eventually(Duration::from_secs(15), || async {
            app.emails_with(&[number, "Confirmed"]).len() == 1
        })
        .await;
        assert!(emailed, "order {number} was acknowledged and must be emailed once");
    }
}
