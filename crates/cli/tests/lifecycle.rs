//! Process lifecycle: SIGTERM drains in-flight calls, an occupied port fails fast, config
//! checking exits 0 or 64.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test]
async fn sigterm_lets_in_flight_calls_finish_then_stops_the_children() {
    let mut gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("reader", &[]);
    let (_, admin) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &admin).await;
    let _ = key;
    let url = gw.url.clone();
    let inflight = tokio::spawn(async move {
        call(&url, &admin, &sid, "demo.slow", json!({"ms": 1500}), None).await
    });
    wait_for_record(&gw.db_path(), "the slow call's decision record", |r| {
        r["kind"] == "decision" && r["tool"] == "demo.slow"
    })
    .await;
    let children = children_of(gw.child.id());
    assert!(!children.is_empty(), "the demo upstream runs as a child");
    let t0 = Instant::now();
    gw.sigterm();
    let r = inflight.await.unwrap();
    assert_eq!(text_of(&r.body), "slept 1500 ms", "{:?}", r.body);
    let status = gw.wait_exit(15).expect("exited after draining");
    assert!(status.success(), "{status:?}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    let recs = ledger(&gw.db_path());
    assert_eq!(
        recs.last().unwrap()["kind"],
        "outcome",
        "the outcome was flushed before exit"
    );
    for pid in children {
        assert!(!alive(pid), "child {pid} outlived the gateway");
    }
}

/// Pids whose parent is `pid` (from /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap_or_default();
        if status.lines().any(|l| l == format!("PPid:\t{pid}")) {
            out.push(child);
        }
    }
    out
}

/// A process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            !s.lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn an_occupied_port_fails_fast_with_a_clear_message() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "").unwrap();
    let t0 = Instant::now();
    let out = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&cfg)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("d"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("cannot listen on 127.0.0.1:{port}"))
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn check_config_exits_zero_or_64_with_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, demo_config("read-only", "")).unwrap();
    let out = Command::new(bin())
        .args(["check-config", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlisten = \"x\"\n[policy]\nmode = \"yolo\"\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.listen") && err.contains("policy.mode"),
        "{err}"
    );

    let out = Command::new(bin())
        .args(["check-config", "--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn the_quickstart_config_is_valid() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/quickstart.toml"
    );
    let out = Command::new(bin())
        .args(["check-config", "--config", path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
