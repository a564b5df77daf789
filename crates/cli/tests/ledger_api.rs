//! `/api/ledger/...` on the real gateway: authenticated like `/mcp`, proofs that verify against
//! the signed checkpoint, and structured JSON errors for missing, malformed, oversized and
//! hostile parameters.

mod common;

use std::process::Command;

use common::*;
use portcullis_ledger::note::{Checkpoint, NoteVerifier};
use portcullis_ledger::proof::{ConsistencyProof, InclusionProof};
use serde_json::Value;

async fn get(url: &str, key: Option<&str>) -> (u16, Value) {
    let mut rb = http().get(url);
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn strip_checkpoint(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("checkpoint");
    v
}

fn assert_error(r: &(u16, Value), status: u16, code: &str) {
    assert_eq!(r.0, status, "{:?}", r.1);
    assert_eq!(r.1["code"], code, "{:?}", r.1);
    for member in ["reason", "correlationId", "guidance"] {
        assert!(r.1[member].is_string(), "{member} missing: {:?}", r.1);
    }
}

/// A gateway with these `[audit]` settings and a reader key that made `calls` calls.
async fn start(audit: &str, calls: usize) -> (Gateway, String) {
    let gw = Gateway::start(&demo_config("enforce", &format!("[audit]\n{audit}\n")));
    let (_, key) = gw.key("reader", &[]);
    echo_calls(&gw.url, &key, calls).await;
    (gw, key)
}

#[tokio::test]
async fn the_ledger_endpoints_serve_proofs_that_verify_against_the_signed_checkpoint() {
    let (gw, key) = start("checkpoint_interval = \"100ms\"", 5).await;
    let size = ledger(&gw.db_path()).len() as u64;
    let cp = wait_for_checkpoint(&gw, &key, size).await;
    assert_eq!(cp["size"].as_u64(), Some(size), "{cp:?}");
    let o = Command::new(bin())
        .args(["audit", "pubkey", "--config"])
        .arg(&gw.config)
        .arg("--data-dir")
        .arg(gw.data_dir())
        .output()
        .unwrap();
    let pk: NoteVerifier = String::from_utf8(o.stdout).unwrap().trim().parse().unwrap();
    let signed = Checkpoint::open(cp["note"].as_str().unwrap(), &pk).unwrap();
    let metrics = metrics_text(&gw).await;
    assert!(
        metrics.contains("portcullis_ledger_checkpoint_failures_total 0"),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l
            .strip_prefix("portcullis_ledger_checkpoint_records ")
            .is_some_and(|n| n.parse::<u64>().unwrap() >= size)),
        "{metrics}"
    );
    assert_eq!(hex::encode(signed.root), cp["root"].as_str().unwrap());

    for seq in [0, size / 2, size - 1] {
        let (status, v) = get(
            &format!("{}/api/ledger/proof/inclusion?seq={seq}", gw.base),
            Some(&key),
        )
        .await;
        assert_eq!(status, 200, "{v:?}");
        assert_eq!(v["checkpoint"], cp["note"]);
        let p: InclusionProof = serde_json::from_value(strip_checkpoint(v)).unwrap();
        assert_eq!(
            (p.size, p.root.as_str()),
            (size, cp["root"].as_str().unwrap())
        );
        p.verify().unwrap();
    }
    let (status, v) = get(
        &format!("{}/api/ledger/proof/inclusion?seq=1&size=3", gw.base),
        Some(&key),
    )
    .await;
    assert_eq!(status, 200, "{v:?}");
    assert!(v["checkpoint"].is_null(), "no signed checkpoint has size 3");
    let (status, v) = get(
        &format!("{}/api/ledger/proof/consistency?from=2", gw.base),
        Some(&key),
    )
    .await;
    assert_eq!(status, 200, "{v:?}");
    let c: ConsistencyProof = serde_json::from_value(strip_checkpoint(v)).unwrap();
    assert_eq!(c.to, size);
    c.verify().unwrap();

    let base = &gw.base;
    let bad_queries = [
        "proof/inclusion",
        "proof/inclusion?seq=",
        "proof/inclusion?seq=abc",
        "proof/inclusion?seq=-1",
        "proof/inclusion?seq=1&seq=2",
        "proof/inclusion?seq=99999999999999999999999",
        &format!("proof/inclusion?seq={size}"),
        &format!("proof/inclusion?seq=0&size={}", size + 1),
        "proof/inclusion?seq=0&evil=%00",
        "proof/inclusion?seq=0%27%20OR%201=1",
        "proof/consistency",
        "proof/consistency?from=3&to=2",
        &format!("proof/consistency?from=0&to={}", size + 1),
        "checkpoint?x=1",
    ];
    for q in bad_queries {
        assert_error(
            &get(&format!("{base}/api/ledger/{q}"), Some(&key)).await,
            400,
            "invalid_query",
        );
    }
    // Refused requests are recorded (which grows the ledger), so they come last.
    assert_error(
        &get(&format!("{base}/api/ledger/checkpoint"), None).await,
        401,
        "missing_credentials",
    );
    assert_error(
        &get(
            &format!("{base}/api/ledger/proof/inclusion?seq=0"),
            Some("pcl_bogus"),
        )
        .await,
        401,
        "invalid_credentials",
    );
    let long = format!(
        "{base}/api/ledger/proof/inclusion?seq=1&{}",
        "a".repeat(4000)
    );
    assert_error(&get(&long, Some(&key)).await, 400, "invalid_query");
    let r = http()
        .post(format!("{base}/api/ledger/checkpoint"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "method_not_allowed");
}

#[tokio::test]
async fn before_the_first_checkpoint_the_endpoints_say_so() {
    let (gw, key) = start("checkpoint_interval = \"1h\"", 1).await;
    let base = &gw.base;
    assert_error(
        &get(&format!("{base}/api/ledger/checkpoint"), Some(&key)).await,
        404,
        "no_checkpoint",
    );
    assert_error(
        &get(
            &format!("{base}/api/ledger/proof/inclusion?seq=0"),
            Some(&key),
        )
        .await,
        404,
        "no_checkpoint",
    );
    let (status, v) = get(
        &format!("{base}/api/ledger/proof/inclusion?seq=0&size=1"),
        Some(&key),
    )
    .await;
    assert_eq!(status, 200, "an explicit size needs no checkpoint: {v:?}");
}

#[tokio::test]
async fn a_checkpoint_is_signed_as_soon_as_enough_records_were_added() {
    let (gw, key) = start(
        "checkpoint_interval = \"1h\"
checkpoint_size = 4",
        3,
    )
    .await;
    let size = ledger(&gw.db_path()).len() as u64;
    assert!(size >= 4);
    let cp = wait_for_checkpoint(&gw, &key, 4).await;
    assert!(cp["size"].as_u64().unwrap() >= 4, "{cp:?}");
}

#[tokio::test]
async fn a_ledger_rewritten_behind_the_gateways_back_is_never_signed() {
    let (gw, key) = start("checkpoint_interval = \"1h\"\ncheckpoint_size = 4", 2).await;
    let signed = wait_for_checkpoint(&gw, &key, 4).await["size"]
        .as_u64()
        .unwrap();
    echo_calls(&gw.url, &key, 1).await;
    rusqlite::Connection::open(gw.db_path())
        .unwrap()
        .execute(
            "UPDATE ledger SET leaf_hash = zeroblob(32) WHERE seq = ?1",
            [signed as i64],
        )
        .unwrap();
    echo_calls(&gw.url, &key, 2).await;
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = metrics_text(&gw).await;
        if !metrics.contains("portcullis_ledger_checkpoint_failures_total 0") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        !metrics.contains("portcullis_ledger_checkpoint_failures_total 0"),
        "{metrics}"
    );
    let (_, cp) = get(&format!("{}/api/ledger/checkpoint", gw.base), Some(&key)).await;
    assert_eq!(
        cp["size"].as_u64(),
        Some(signed),
        "nothing was signed over the rewrite"
    );
    assert!(gw.logged("refusing to sign"), "{}", gw.logs());
    let o = Command::new(bin())
        .args(["audit", "verify", "--data-dir"])
        .arg(gw.data_dir())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("record {signed}:")),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[cfg(unix)]
#[test]
fn the_gateway_refuses_to_start_with_a_key_file_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ledger.key");
    std::fs::write(&key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = demo_config(
        "enforce",
        &format!("[audit]\nsigning_key = \"{}\"\n", key.display()),
    );
    let err = Gateway::try_start(&cfg).err().expect("must not start");
    assert!(err.contains("chmod 600"), "{err}");
}
