//! What a hostile client or a careless operator could get out of the gateway, closed.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn serve_exit(config: &str, listen: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, config).unwrap();
    let err = dir.path().join("stderr");
    let mut child = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&path)
        .args(["--listen", listen, "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    // A gateway that started serving instead of refusing would never exit: bounded wait.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    (status.and_then(|s| s.code()), stderr)
}

#[test]
fn a_listen_override_is_validated_with_the_rules_that_depend_on_it() {
    let profile = "[server]\nconformance_profile = true\n\n[roles.conformance]\nallow = [\"*\"]\n";
    let (code, err) = serve_exit(profile, "0.0.0.0:0");
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("server.conformance_profile"), "{err}");
    let (code, err) = serve_exit("[roles.r]\nallow = []\n", "0.0.0.0:0");
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("server.allowed_hosts"), "{err}");
    assert!(
        err.contains("server.plain_http"),
        "plain HTTP off loopback: {err}"
    );
}

#[tokio::test]
async fn a_message_with_a_repeated_key_is_refused_before_anything_reads_it() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    let twice_method = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"demo.echo","arguments":{"text":"x"}}}"#;
    let r = post_raw(&gw.url, Some(&key), Some(&sid), twice_method, &[]).await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, Some("parse_error")),
        "{:?}",
        r.body
    );
    let twice_dry_run = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"demo.notes_write","arguments":{"key":"k","text":"must-not-be-written"},"_meta":{"dry_run":true,"dry_run":false}}}"#;
    let r = post_raw(&gw.url, Some(&key), Some(&sid), twice_dry_run, &[]).await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, Some("parse_error")),
        "{:?}",
        r.body
    );
    assert!(r.body.to_string().contains("is repeated"), "{:?}", r.body);
    let read = call(
        &gw.url,
        &key,
        &sid,
        "demo.notes_read",
        serde_json::json!({"key": "k"}),
        None,
    )
    .await;
    assert!(
        !read.body.to_string().contains("must-not-be-written"),
        "{:?}",
        read.body
    );
    let recs = ledger(&gw.db_path());
    assert!(
        recs.iter().all(|r| r["tool"] != "demo.notes_write"),
        "nothing about the write was decided: {recs:?}"
    );
}

#[tokio::test]
async fn a_short_run_leaves_a_signed_checkpoint_of_everything_it_recorded() {
    let mut gw = Gateway::start(&demo_config(
        "read-only",
        "[audit]\ncheckpoint_interval = \"1h\"\n",
    ));
    let (_, key) = gw.key("reader", &[]);
    echo_calls(&gw.url, &key, 2).await;
    gw.sigterm();
    assert!(gw.wait_exit(15).is_some_and(|s| s.success()));
    let records = ledger_now(&gw.db_path()).len();
    assert_eq!(records, 4, "two decisions and their outcomes");
    let conn = rusqlite::Connection::open(gw.db_path()).unwrap();
    let signed: i64 = conn
        .query_row("SELECT MAX(size) FROM checkpoints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(signed, 4, "the last checkpoint covers every record");
    let out = Command::new(bin())
        .args(["audit", "export", "--data-dir"])
        .arg(gw.data_dir())
        .arg("--out")
        .arg(gw.dir.path().join("export.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_operations_endpoints_check_host_and_origin_too() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    for path in [
        "/ready",
        "/metrics",
        "/api/status",
        "/api/ledger/checkpoint",
    ] {
        let r = raw_request(
            &gw.base,
            &format!("GET {path}"),
            &[("Host", "evil.example")],
            "",
        )
        .await;
        assert_eq!(
            (r.status, r.error_code()),
            (403, Some("forbidden_host")),
            "{path}"
        );
        let r = raw_request(
            &gw.base,
            &format!("GET {path}"),
            &[("Host", "localhost"), ("Origin", "http://evil.example")],
            "",
        )
        .await;
        assert_eq!(
            (r.status, r.error_code()),
            (403, Some("forbidden_origin")),
            "{path}"
        );
    }
    let r = raw_request(&gw.base, "GET /ready", &[("Host", "localhost")], "").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = raw_request(&gw.base, "GET /health", &[("Host", "10.1.2.3:8080")], "").await;
    assert_eq!(r.status, 200, "liveness answers any probe");
}

#[tokio::test]
async fn a_hidden_tool_or_session_is_refused_exactly_as_an_absent_one() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (_, reader) = gw.key("reader", &[]);
    let (_, admin) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &reader).await;
    let answer = |r: &Reply, name: &str| {
        let e = &r.body["error"];
        (
            r.status,
            e["code"].clone(),
            e["data"]["code"].clone(),
            e["message"].as_str().unwrap().replace(name, "NAME"),
        )
    };
    let hidden = call(
        &gw.url,
        &reader,
        &sid,
        "demo.notes_delete",
        serde_json::json!({}),
        None,
    )
    .await;
    let absent = call(
        &gw.url,
        &reader,
        &sid,
        "demo.no_such_tool",
        serde_json::json!({}),
        None,
    )
    .await;
    assert_eq!(
        answer(&hidden, "demo.notes_delete"),
        answer(&absent, "demo.no_such_tool")
    );
    assert_eq!(hidden.error_code(), Some("unknown_tool"));
    // Another principal's session and a session that never existed look the same.
    let theirs = rpc(
        &gw.url,
        &admin,
        Some(&sid),
        "tools/list",
        serde_json::json!({}),
    )
    .await;
    let none = rpc(
        &gw.url,
        &admin,
        Some("0123456789abcdef0123456789abcdef"),
        "tools/list",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(
        (theirs.status, theirs.body["reason"].clone()),
        (none.status, none.body["reason"].clone())
    );
    assert_eq!(theirs.error_code(), Some("session_not_found"));
    // The ledger keeps the true reason.
    let recs = ledger(&gw.db_path());
    let denied = recs
        .iter()
        .find(|r| r["tool"] == "demo.notes_delete")
        .unwrap();
    assert_eq!(denied["code"], "unknown_tool");
    assert_eq!(denied["facts"]["policy_code"], "tool_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stderr_nobody_reads_never_stalls_the_gateway() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(&config, demo_config("read-only", "")).unwrap();
    // stderr is a pipe nobody reads: it fills after a few hundred log lines.
    let mut child = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("a listening line").unwrap();
        if let Some(u) = line.strip_prefix("portcullis listening on ") {
            break u.to_string();
        }
    };
    let base = url.trim_end_matches("/mcp").to_string();
    // Each refused request logs a line: more than the pipe and the writer's buffer hold.
    let requests = 12_000usize;
    let client = http();
    let mut workers = Vec::new();
    for w in 0..8 {
        let (client, url) = (client.clone(), url.clone());
        workers.push(tokio::spawn(async move {
            for _ in (w..requests).step_by(8) {
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body("{}")
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .expect("answered while stderr was full");
                assert_eq!(r.status(), 401);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_log_lines_dropped_total "))
        .expect("the dropped-lines counter")
        .trim()
        .parse()
        .unwrap();
    assert!(
        dropped > 0,
        "lines that did not fit were dropped and counted: {dropped}"
    );
    assert!(
        dropped < requests as u64,
        "the buffer and the pipe held some: {dropped}"
    );
}

/// A connection from `source` (a loopback address) to the gateway at `base`.
async fn connect_from(source: &str, base: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    socket.connect(addr).await.unwrap()
}

/// Whether the gateway closed the connection (reading gives end of stream or a reset).
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(within, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // An answer (a 408) before the close: read on.
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_and_slow_connections_does_not_lock_out_a_legitimate_caller() {
    use tokio::io::AsyncWriteExt;
    let gw = Gateway::start(&demo_config("read-only", "").replacen(
        "[server]\n",
        "[server]\nmax_connections_per_client = 20\nheader_read_timeout = \"1s\"\n",
        1,
    ));
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;
    // 100 connections from another loopback address, each sending half a request head.
    let mut flood = Vec::new();
    for _ in 0..100 {
        let mut s = connect_from("127.0.0.2", &gw.base).await;
        let _ = s
            .write_all(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\n")
            .await;
        flood.push(s);
    }
    // The legitimate caller is served throughout.
    for i in 0..20 {
        let text = format!("still here {i}");
        let r = call(
            &gw.url,
            &key,
            &sid,
            "demo.echo",
            serde_json::json!({"text": text}),
            None,
        )
        .await;
        assert_eq!(text_of(&r.body), text, "{:?}", r.body);
    }
    // Past the per-client cap, connections are closed at once; the rest when their request
    // head does not complete in time.
    let mut closed = 0;
    for s in flood.iter_mut() {
        if closed_within(s, Duration::from_secs(5)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 100, "every flood connection was closed");
    let metrics = metrics_text(&gw).await;
    let refused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_connections_refused_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(refused >= 80, "{refused} refused");
}
