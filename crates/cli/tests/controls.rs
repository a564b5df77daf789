//! Controls and limits through the real gateway. Kill switches across processes: `portcullis controls kill` in one process stops the next
//! matching call of a running gateway on the same store, the change and every refusal are in
//! that gateway's ledger, and `controls revive` lets calls through again. A gateway started
//! with `PORTCULLIS_KILL_SWITCH=1` refuses everything from its first call. A rate limit refuses
//! the call past its burst with the wait and the limit in `error.data`.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use serde_json::json;

fn controls(gw: &Gateway, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("controls")
        .args(args)
        .arg("--config")
        .arg(&gw.config)
        .arg("--data-dir")
        .arg(gw.data_dir())
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn echo(gw: &Gateway, key: &str, sid: &str) -> Reply {
    call(&gw.url, key, sid, "demo.echo", json!({"text": "hi"}), None).await
}

/// Wait (up to 5 s) until `demo.echo` runs again.
async fn echo_runs_again(gw: &Gateway, key: &str, sid: &str) {
    wait_for_async(
        "the switch to be lifted",
        Duration::from_secs(5),
        || async {
            echo(gw, key, sid)
                .await
                .error_code()
                .is_none()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_set_by_another_process_stops_the_next_call_and_is_recorded() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    assert!(echo(&gw, &key, &sid).await.error_code().is_none());

    ok(&controls(
        &gw,
        &["kill", "--tool", "demo.echo", "--reason", "loops on echo"],
    ));
    let refused = wait_for_async(
        "the switch to be in force",
        Duration::from_secs(5),
        || async {
            let r = echo(&gw, &key, &sid).await;
            (r.error_code() == Some("killed")).then_some(r)
        },
    )
    .await;
    let reason = refused.body["error"]["data"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("tool:demo.echo") && reason.contains("loops on echo"),
        "{reason}"
    );
    // Another tool still runs.
    let other = call(&gw.url, &key, &sid, "demo.notes_read", json!({}), None).await;
    assert!(other.error_code().is_none(), "{:?}", other.body);

    let listed = ok(&controls(&gw, &["list", "--json"]));
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["scope"], "tool:demo.echo");
    assert_eq!(listed[0]["engaged"], true);

    ok(&controls(
        &gw,
        &["revive", "--tool", "demo.echo", "--reason", "fixed"],
    ));
    echo_runs_again(&gw, &key, &sid).await;

    let db = gw.db_path();
    let kill = wait_for_record(&db, "the kill record", |r| r["method"] == "controls/kill").await;
    assert_eq!(kill["kind"], "control");
    assert_eq!(kill["facts"]["scope"], "tool:demo.echo");
    assert_eq!(kill["facts"]["reason"], "loops on echo");
    assert!(kill["agent"].as_str().unwrap().starts_with("cli"));
    let revive = wait_for_record(&db, "the revive record", |r| {
        r["method"] == "controls/revive"
    })
    .await;
    assert!(revive["seq"].as_u64() > kill["seq"].as_u64());
    let denial = wait_for_record(&db, "the refusal", |r| r["code"] == "killed").await;
    assert_eq!(denial["decision"], "deny");
    assert_eq!(denial["facts"]["kill_switch"], "tool:demo.echo");

    // Lifting a switch that is not engaged, or naming none or two, is an error.
    assert!(
        !controls(&gw, &["revive", "--tool", "demo.echo"])
            .status
            .success()
    );
    for args in [&["kill"][..], &["kill", "--global", "--tenant", "t1"]] {
        let out = controls(&gw, args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--global"),
            "{args:?}"
        );
    }
    assert_eq!(
        controls(&gw, &["kill", "--class", "writes"]).status.code(),
        Some(64)
    );
    assert_eq!(
        controls(&gw, &["kill", "--agent", "no-slash"])
            .status
            .code(),
        Some(64)
    );
    assert_eq!(
        controls(&gw, &["kill", "--global", "--reason", "a\nb"])
            .status
            .code(),
        Some(64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_switch_stops_everything_from_the_first_call() {
    let gw = Gateway::start_with_env(
        &demo_config("enforce", ""),
        &[("PORTCULLIS_KILL_SWITCH", "1")],
    );
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = echo(&gw, &key, &sid).await;
    assert_eq!(r.error_code(), Some("killed"), "{:?}", r.body);
    let rec = wait_for_record(&gw.db_path(), "the kill record", |r| {
        r["method"] == "controls/kill"
    })
    .await;
    assert_eq!(rec["agent"], "env:PORTCULLIS_KILL_SWITCH");
    assert_eq!(rec["facts"]["scope"], "global");
    ok(&controls(&gw, &["revive", "--global"]));
    echo_runs_again(&gw, &key, &sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_rate_limit_is_refused_with_the_wait() {
    let limits = "[[limits.rate]]\nscope = \"tool\"\nmatch = \"demo.echo\"\nrate = \"2/m\"\n";
    let gw = Gateway::start(&demo_config("enforce", limits));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    for _ in 0..2 {
        assert!(echo(&gw, &key, &sid).await.error_code().is_none());
    }
    let r = echo(&gw, &key, &sid).await;
    assert_eq!(r.error_code(), Some("rate_limited"), "{:?}", r.body);
    let data = &r.body["error"]["data"];
    let wait = data["retryAfterMs"].as_u64().unwrap();
    assert!(
        wait > 25_000 && wait <= 30_000,
        "one cell every 30 s: {wait}"
    );
    assert_eq!(data["limit"], "tool demo.echo 2/m burst 2");
    // The IETF headers ride on the HTTP response that carries the JSON-RPC refusal.
    let header = |name: &str| r.headers[name].to_str().unwrap().to_string();
    let secs = wait.div_ceil(1000);
    assert_eq!(header("retry-after"), secs.to_string());
    assert_eq!(
        header("ratelimit-policy"),
        "\"tool demo.echo 2/m burst 2\";q=2;w=60"
    );
    assert_eq!(
        header("ratelimit"),
        format!("\"tool demo.echo 2/m burst 2\";r=0;t={secs}")
    );
    let other = call(&gw.url, &key, &sid, "demo.notes_read", json!({}), None).await;
    assert!(other.error_code().is_none(), "{:?}", other.body);
    let denial = wait_for_record(&gw.db_path(), "the refusal", |r| {
        r["code"] == "rate_limited"
    })
    .await;
    assert_eq!(denial["facts"]["rate_limit"], "tool demo.echo 2/m burst 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_quota_stays_used_up_across_a_restart_and_shows_in_status() {
    let quota = "[[limits.quota]]\nscope = \"agent\"\nwindow = \"day\"\ncalls = 2\n";
    let gw = Gateway::start(&demo_config("enforce", quota));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    for _ in 0..2 {
        assert!(echo(&gw, &key, &sid).await.error_code().is_none());
    }
    let r = echo(&gw, &key, &sid).await;
    assert_eq!(r.error_code(), Some("quota_exceeded"), "{:?}", r.body);
    let resets = r.body["error"]["data"]["resetsAtMs"].as_i64().unwrap();
    assert_eq!(resets % 86_400_000, 0, "the end of a UTC day");

    let gw = gw.kill_and_restart();
    let sid = initialize(&gw.url, &key).await;
    let r = echo(&gw, &key, &sid).await;
    assert_eq!(
        r.error_code(),
        Some("quota_exceeded"),
        "durable: {:?}",
        r.body
    );
    let status = api_status(&gw, &key).await;
    let q = &status["quotas"][0];
    assert_eq!(q["quota"], "agent * per day");
    assert_eq!(q["calls"], json!({"used": 2, "limit": 2}));
    assert_eq!(q["resetsAtMs"], resets);
}

/// Past `server.max_in_flight`, a request is shed at once with 503 and `Retry-After`, while
/// `/health` answers throughout and the calls in flight finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_slow_calls_is_shed_past_the_in_flight_cap() {
    let config = demo_config("enforce", "").replace("[server]\n", "[server]\nmax_in_flight = 2\n");
    let gw = Gateway::start(&config);
    let (_, key) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &key).await;
    // Open event streams (a session's GET stream lasts as long as its client) hold no slot.
    let mut streams = Vec::new();
    for _ in 0..2 {
        let s = initialize(&gw.url, &key).await;
        let stream = http()
            .get(&gw.url)
            .bearer_auth(&key)
            .header("mcp-session-id", &s)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        streams.push(stream);
    }
    assert!(
        echo(&gw, &key, &sid).await.error_code().is_none(),
        "two open streams and the cap at 2: calls are still served"
    );
    drop(streams);
    // Two slow calls, each on a session of its own (a session's request ids must be unique),
    // opened before the cap is reached.
    let mut held = Vec::new();
    for _ in 0..2 {
        let (url, key) = (gw.url.clone(), key.clone());
        let sid = initialize(&url, &key).await;
        held.push(tokio::spawn(async move {
            call(&url, &key, &sid, "demo.slow", json!({"ms": 2500}), None).await
        }));
    }
    // Both are in flight once both decision records are written (before forwarding).
    wait_for(
        "both slow calls to be forwarded",
        Duration::from_secs(5),
        || {
            let recs = ledger_now(&gw.db_path());
            let slow = recs
                .iter()
                .filter(|r| r["kind"] == "decision" && r["tool"] == "demo.slow")
                .count();
            (slow == 2).then_some(())
        },
    )
    .await;
    let shed = echo(&gw, &key, &sid).await;
    assert_eq!(shed.status, 503, "{:?}", shed.body);
    assert_eq!(shed.body["code"], "overloaded", "{:?}", shed.body);
    assert_eq!(shed.headers["retry-after"], "1");
    let health = http()
        .get(format!("{}/health", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "operations endpoints are not shed");
    for h in held {
        let r = h.await.unwrap();
        assert!(
            r.error_code().is_none(),
            "the calls in flight finish: {:?}",
            r.body
        );
    }
    assert!(
        echo(&gw, &key, &sid).await.error_code().is_none(),
        "served again"
    );
    let metrics = metrics_text(&gw).await;
    let shed_total: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_requests_shed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no shed counter in:\n{metrics}"));
    assert!(shed_total >= 1.0, "{shed_total}");
}

/// A per-address rate limit refuses a flood before any credential is looked at: bad keys past
/// it are 429, not 401, and are not recorded one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_address_past_its_rate_is_refused_before_identity() {
    // initialize is two requests (initialize, notifications/initialized), then a bad key and a
    // call: four within the burst.
    let limits = "[[limits.rate]]\nscope = \"client\"\nmatch = \"127.0.0.1\"\nrate = \"4/m\"\n";
    let gw = Gateway::start(&demo_config("enforce", limits));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    let bad = rpc(&gw.url, "pk_nope_nope", None, "ping", json!({})).await;
    assert_eq!(
        bad.status, 401,
        "within the rate, a bad key is refused by identity"
    );
    assert!(echo(&gw, &key, &sid).await.error_code().is_none());
    let over = rpc(&gw.url, "pk_nope_nope", None, "ping", json!({})).await;
    assert_eq!(over.status, 429, "{:?}", over.body);
    assert_eq!(over.body["code"], "rate_limited");
    let wait: u64 = over.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15).contains(&wait), "one cell every 15 s: {wait}");
    assert_eq!(over.body["limit"], "client 127.0.0.1 4/m burst 4");
    assert_eq!(
        over.headers["ratelimit-policy"],
        "\"client 127.0.0.1 4/m burst 4\";q=4;w=60"
    );
    assert_eq!(
        over.headers["ratelimit"].to_str().unwrap(),
        format!("\"client 127.0.0.1 4/m burst 4\";r=0;t={wait}")
    );
    let refusals = ledger_now(&gw.db_path())
        .iter()
        .filter(|r| r["code"] == "invalid_credentials")
        .count();
    assert_eq!(refusals, 1, "the limited request never reached identity");
}

/// A live note write with a fresh idempotency key.
async fn live_write(gw: &Gateway, key: &str, sid: &str, n: u32) -> Reply {
    call(
        &gw.url,
        key,
        sid,
        "demo.notes_write",
        json!({"key": "k", "text": "v"}),
        Some(json!({"dry_run": false, "io.portcullis/idempotencyKey": format!("w-{n}")})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degrade_puts_a_tenant_in_read_only_mode_and_restore_lifts_it() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    assert!(live_write(&gw, &key, &sid, 0).await.error_code().is_none());

    // Another tenant's mode leaves t1 alone.
    ok(&controls(
        &gw,
        &["degrade", "--read-only", "--tenant", "t2"],
    ));
    ok(&controls(
        &gw,
        &[
            "degrade",
            "--read-only",
            "--tenant",
            "t1",
            "--reason",
            "incident 42",
        ],
    ));
    let mut n = 1;
    let refused = wait_for_async("read-only mode", Duration::from_secs(5), || {
        n += 1;
        let n = n;
        let (gw, key, sid) = (&gw, &key, &sid);
        async move {
            let r = live_write(gw, key, sid, n).await;
            (r.error_code() == Some("read_only_mode")).then_some(r)
        }
    })
    .await;
    let reason = refused.body["error"]["data"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("read_only:t1") && reason.contains("incident 42"),
        "{reason}"
    );
    assert!(
        echo(&gw, &key, &sid).await.error_code().is_none(),
        "reads go on"
    );
    let preview = call(
        &gw.url,
        &key,
        &sid,
        "demo.notes_write",
        json!({"key": "k", "text": "v"}),
        None,
    )
    .await;
    assert_eq!(
        preview.body["result"]["isError"], true,
        "a preview still runs"
    );
    let status = api_status(&gw, &key).await;
    let scopes: Vec<&str> = status["switches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["read_only:t1", "read_only:t2"]);

    ok(&controls(
        &gw,
        &["restore", "--read-only", "--tenant", "t1"],
    ));
    wait_for_async("writes to run again", Duration::from_secs(5), || {
        n += 1;
        let n = n;
        let (gw, key, sid) = (&gw, &key, &sid);
        async move {
            live_write(gw, key, sid, n)
                .await
                .error_code()
                .is_none()
                .then_some(())
        }
    })
    .await;
    let db = gw.db_path();
    let degrade = wait_for_record(&db, "the degrade record", |r| {
        r["method"] == "controls/degrade" && r["tenant"] == "t1"
    })
    .await;
    assert_eq!(degrade["facts"]["scope"], "read_only:t1");
    assert_eq!(degrade["facts"]["reason"], "incident 42");
    wait_for_record(&db, "the restore record", |r| {
        r["method"] == "controls/restore"
    })
    .await;
    // The mode must be named, a bad tenant is refused, and lifting what is not set fails.
    assert_eq!(controls(&gw, &["degrade"]).status.code(), Some(64));
    assert_eq!(
        controls(&gw, &["degrade", "--read-only", "--tenant", "bad tenant"])
            .status
            .code(),
        Some(64)
    );
    assert!(
        !controls(&gw, &["restore", "--read-only", "--tenant", "t1"])
            .status
            .success()
    );
}
