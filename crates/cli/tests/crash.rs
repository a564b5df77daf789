//! Crash safety: the gateway is killed with SIGKILL while many tool calls are in flight, then
//! restarted on the same data. The ledger verifies, every call whose client got a forwarded
//! result has its decision record, and the restarted gateway appends and signs on.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// One `tools/call`; the correlation id if the client got the tool's result.
async fn echo(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    sid: &str,
    text: &str,
) -> Option<String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "demo.echo", "arguments": {"text": text}}});
    let resp = client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", sid)
        .body(body.to_string())
        .send()
        .await
        .ok()?;
    let cid = resp
        .headers()
        .get("x-correlation-id")?
        .to_str()
        .ok()?
        .to_string();
    let v: Value = resp.json().await.ok()?;
    (text_of(&v) == text).then_some(cid)
}

fn audit(gw: &Gateway, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("audit")
        .args(args)
        .arg("--data-dir")
        .arg(gw.data_dir())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_under_load_loses_no_answered_call_and_the_ledger_verifies() {
    let gw = Gateway::start(&demo_config(
        "enforce",
        "[audit]\ncheckpoint_interval = \"50ms\"\n",
    ));
    let (_, key) = gw.key("reader", &[]);
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..32 {
        let sid = initialize(&gw.url, &key).await;
        let (url, key, answered) = (gw.url.clone(), key.clone(), answered.clone());
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            for i in 0.. {
                match echo(&client, &url, &key, &sid, &format!("w{w}-{i}")).await {
                    Some(cid) => answered.lock().unwrap().push(cid),
                    None => return,
                }
            }
        }));
    }
    // Kill under load: once many calls were answered, while the workers keep calling.
    wait_for("100 answered calls", Duration::from_secs(60), || {
        (answered.lock().unwrap().len() >= 100).then_some(())
    })
    .await;
    let gw = tokio::task::spawn_blocking(move || gw.kill_and_restart())
        .await
        .unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();

    let o = audit(&gw, &["verify"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The killed process can add nothing more; outcomes it had not committed are lost (by
    // design), so there is nothing to wait for.
    let records = ledger_now(&gw.db_path());
    let decided: HashSet<&str> = records
        .iter()
        .filter(|r| r["kind"] == "decision" && r["decision"] == "allow")
        .filter_map(|r| r["correlation_id"].as_str())
        .collect();
    let missing: Vec<&String> = answered
        .iter()
        .filter(|c| !decided.contains(c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered calls have no decision record, e.g. {:?}",
        missing.len(),
        answered.len(),
        missing.first()
    );

    // The restarted gateway appends on top and signs a checkpoint consistent with the old ones.
    let sid = initialize(&gw.url, &key).await;
    let r = call(
        &gw.url,
        &key,
        &sid,
        "demo.echo",
        json!({"text": "after"}),
        None,
    )
    .await;
    assert_eq!(text_of(&r.body), "after");
    let after = r.headers["x-correlation-id"].to_str().unwrap().to_string();
    let has_after = |recs: &[Value]| {
        recs.iter()
            .any(|o| o["kind"] == "outcome" && o["correlation_id"] == after.as_str())
    };
    let recs = ledger_until(&gw.db_path(), has_after);
    assert!(
        has_after(&recs),
        "the call after the restart has its outcome record"
    );
    let size = recs.len() as u64;
    let cp = wait_for_checkpoint(&gw, &key, size).await;
    assert_eq!(cp["size"].as_u64(), Some(size));
    let pk = String::from_utf8(audit(&gw, &["pubkey"]).stdout).unwrap();
    let o = audit(&gw, &["verify", "--pubkey", pk.trim()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
