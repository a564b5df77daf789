//! Upstream failures through the real gateway: a crashing stdio child is restarted, a slow one
//! times out, garbage and wrong ids are refused with stable codes.

mod common;
#[path = "common/fault_upstream.rs"]
mod fault_upstream;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_crashed_stdio_upstream_is_restarted() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = call(&gw.url, &key, &sid, "demo.crash", json!({}), None).await;
    assert_eq!(r.error_code(), Some("upstream_unavailable"), "{:?}", r.body);
    let mut ok = false;
    for _ in 0..100 {
        let r = call(
            &gw.url,
            &key,
            &sid,
            "demo.echo",
            json!({"text": "back"}),
            None,
        )
        .await;
        if text_of(&r.body) == "back" {
            ok = true;
            break;
        }
        assert_eq!(r.error_code(), Some("upstream_unavailable"), "{:?}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the upstream came back");
    let ready: serde_json::Value = http()
        .get(format!("{}/ready", gw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ready["upstreams"][0]["restarts"].as_u64().unwrap() >= 1,
        "{ready}"
    );
}

#[tokio::test]
async fn a_slow_upstream_times_out() {
    let gw = Gateway::start(
        &demo_config("read-only", "").replace("timeout = \"3s\"", "timeout = \"300ms\""),
    );
    let (_, key) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = call(&gw.url, &key, &sid, "demo.slow", json!({"ms": 5000}), None).await;
    assert_eq!(r.error_code(), Some("upstream_timeout"), "{:?}", r.body);
    let recs = ledger(&gw.db_path());
    assert_eq!(recs.last().unwrap()["code"], "upstream_timeout");
    let cid = r.headers["x-correlation-id"].to_str().unwrap();
    let line = gw.request_log(cid);
    assert_eq!(line["decision"], "allow", "{line}");
    assert_eq!(line["code"], "upstream_timeout", "{line}");
    let r = call(
        &gw.url,
        &key,
        &sid,
        "demo.echo",
        json!({"text": "still here"}),
        None,
    )
    .await;
    assert_eq!(text_of(&r.body), "still here");
}

#[tokio::test]
async fn garbage_on_a_stdio_upstream_is_refused_and_the_child_restarted() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, key) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = call(&gw.url, &key, &sid, "demo.emit_garbage", json!({}), None).await;
    assert_eq!(
        r.error_code(),
        Some("upstream_invalid_response"),
        "{:?}",
        r.body
    );
    let mut ok = false;
    for _ in 0..100 {
        let r = call(
            &gw.url,
            &key,
            &sid,
            "demo.echo",
            json!({"text": "clean"}),
            None,
        )
        .await;
        if text_of(&r.body) == "clean" {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok);
}

// Multi-threaded: the in-process upstream must answer while Gateway::start blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_upstream_wrong_ids_and_garbage_are_refused() {
    let (url, _st) = fault_upstream::start().await;
    let cfg = format!(
        "[roles.reader]\nallow = [\"*\"]\n\n[[upstreams]]\nname = \"faulty\"\ntransport = \"http\"\nurl = \"{url}\"\ntimeout = \"2s\"\n"
    );
    let gw = Gateway::start(&cfg);
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = call(&gw.url, &key, &sid, "faulty.wrong_id", json!({}), None).await;
    assert_eq!(
        r.error_code(),
        Some("upstream_invalid_response"),
        "{:?}",
        r.body
    );
    let r = call(&gw.url, &key, &sid, "faulty.garbage", json!({}), None).await;
    assert_eq!(
        r.error_code(),
        Some("upstream_invalid_response"),
        "{:?}",
        r.body
    );
    let r = call(&gw.url, &key, &sid, "faulty.probe", json!({}), None).await;
    assert!(
        text_of(&r.body).starts_with("decision records"),
        "{:?}",
        r.body
    );
}

/// A config with the demo server and an upstream nothing listens for.
fn with_a_dead_upstream(startup_wait: &str) -> String {
    let port = {
        // A port that was free a moment ago and is closed now: connections are refused.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    demo_config(
        "read-only",
        &format!(
            "[[upstreams]]\nname = \"dead\"\ntransport = \"http\"\nurl = \"http://127.0.0.1:{port}/mcp\"\ntimeout = \"1s\"\n"
        ),
    )
    .replacen("[server]\n", &format!("[server]\nstartup_wait = \"{startup_wait}\"\n"), 1)
}

#[tokio::test]
async fn a_dead_upstream_degrades_the_gateway_instead_of_holding_it() {
    let gw = Gateway::start(&with_a_dead_upstream("1s"));
    let ready = http()
        .get(format!("{}/ready", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "degraded still serves");
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["upstreamsDown"], json!(["dead"]), "{ready}");
    let (_, key) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = call(
        &gw.url,
        &key,
        &sid,
        "demo.echo",
        json!({"text": "up"}),
        None,
    )
    .await;
    assert_eq!(
        text_of(&r.body),
        "up",
        "the other upstream works: {:?}",
        r.body
    );
    let r = call(&gw.url, &key, &sid, "dead.anything", json!({}), None).await;
    assert_eq!(r.error_code(), Some("upstream_unavailable"), "{:?}", r.body);
    assert!(
        r.body
            .to_string()
            .contains("upstream 'dead' is not available")
    );
}

#[tokio::test]
async fn the_gateway_answers_health_and_ready_while_an_upstream_is_still_starting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(&config, with_a_dead_upstream("60s")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(bin())
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_for_async(
        "/health during start-up",
        Duration::from_secs(20),
        || async {
            let r = http().get(format!("{base}/health")).send().await.ok()?;
            (r.status() == 200).then_some(())
        },
    )
    .await;
    let ready: serde_json::Value = http()
        .get(format!("{base}/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // Start-up still waits (up to 60 s) for "dead"; the gateway answered meanwhile.
    assert!(
        ["degraded", "unavailable"].contains(&ready["status"].as_str().unwrap()),
        "{ready}"
    );
    assert!(
        ready["upstreamsDown"]
            .as_array()
            .unwrap()
            .contains(&json!("dead")),
        "{ready}"
    );
}

#[tokio::test]
async fn one_oversized_line_restarts_a_stdio_upstream_instead_of_killing_it() {
    let gw = Gateway::start(&demo_config(
        "read-only",
        "[[policy.classes]]\npattern = \"demo.big\"\nclass = \"read\"\n",
    ));
    let (_, key) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = call(
        &gw.url,
        &key,
        &sid,
        "demo.big",
        json!({"bytes": 24 * 1024 * 1024}),
        None,
    )
    .await;
    assert_eq!(
        r.error_code(),
        Some("upstream_invalid_response"),
        "{:?}",
        r.body
    );
    // The child is restarted; calls work again, not time out for ever.
    wait_for_async("calls to work again", Duration::from_secs(30), || async {
        let r = call(
            &gw.url,
            &key,
            &sid,
            "demo.echo",
            json!({"text": "again"}),
            None,
        )
        .await;
        (text_of(&r.body) == "again").then_some(())
    })
    .await;
    let ready: serde_json::Value = http()
        .get(format!("{}/ready", gw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ready["upstreams"][0]["restarts"].as_u64().unwrap() >= 1,
        "{ready}"
    );
    assert!(gw.logged("exceeds max_response_bytes; restarting it"));
}

/// A tool's own `[[tools]] timeout` overrides its upstream's, for that tool only.
#[tokio::test]
async fn a_tool_timeout_overrides_the_upstreams() {
    let tools = "[[tools]]\nmatch = \"demo.slow\"\ntimeout = \"300ms\"\n";
    let gw = Gateway::start(&demo_config("read-only", tools));
    let (_, key) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = call(&gw.url, &key, &sid, "demo.slow", json!({"ms": 2000}), None).await;
    assert_eq!(r.error_code(), Some("upstream_timeout"), "{:?}", r.body);
    // The upstream's own 3 s still governs its other tools... and this one within its limit.
    let r = call(&gw.url, &key, &sid, "demo.slow", json!({"ms": 10}), None).await;
    assert!(r.error_code().is_none(), "{:?}", r.body);
}

/// A tool whose upstream keeps timing out has its circuit opened, is refused while it is open,
/// and closes again after a good probe once the cool-down is over; each transition is in the
/// ledger. (The demo `slow` tool fails on demand: past its `[[tools]] timeout`.)
#[tokio::test]
async fn a_failing_tool_opens_its_circuit_and_a_good_probe_closes_it() {
    let extra = "[[tools]]\nmatch = \"demo.slow\"\ntimeout = \"150ms\"\n\n[breakers]\nmin_calls = 2\nfailure_rate = 1.0\ncool_down = \"1s\"\n";
    let gw = Gateway::start(&demo_config("read-only", extra));
    let (_, key) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &key).await;
    let slow = |ms: u64| call(&gw.url, &key, &sid, "demo.slow", json!({"ms": ms}), None);
    for _ in 0..2 {
        assert_eq!(slow(1000).await.error_code(), Some("upstream_timeout"));
    }
    let r = slow(0).await;
    assert_eq!(r.error_code(), Some("circuit_open"), "{:?}", r.body);
    let status = api_status(&gw, &key).await;
    assert_eq!(status["breakers"][0]["tool"], "demo.slow");
    assert_eq!(status["breakers"][0]["state"], "open");
    // Once the cool-down is over, a probe goes through and, answered, closes the circuit.
    wait_for_async(
        "the circuit to let a probe through",
        Duration::from_secs(5),
        || async { slow(0).await.error_code().is_none().then_some(()) },
    )
    .await;
    assert!(slow(0).await.error_code().is_none(), "closed");
    let methods: Vec<String> = wait_for("the three transitions", Duration::from_secs(5), || {
        let m: Vec<String> = ledger_now(&gw.db_path())
            .iter()
            .filter(|r| r["kind"] == "control")
            .map(|r| r["method"].as_str().unwrap_or("").to_string())
            .collect();
        (m.len() == 3).then_some(m)
    })
    .await;
    assert_eq!(
        methods,
        ["breaker/open", "breaker/half_open", "breaker/closed"]
    );
}
