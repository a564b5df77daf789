//! Identity through the real gateway: missing, bad, expired and revoked keys; sessions bound
//! to their principal.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn keys_are_checked_on_every_request() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).to_string();

    let r = post_raw(&gw.url, None, None, init.clone(), &[]).await;
    assert_eq!(
        (r.status, r.error_code()),
        (401, Some("missing_credentials"))
    );
    assert!(
        r.body["correlationId"].is_string()
            && r.body["guidance"].is_string()
            && r.body["reason"].is_string()
    );
    assert_eq!(r.headers["www-authenticate"], "Bearer");

    let r = post_raw(&gw.url, Some("not-a-key"), None, init.clone(), &[]).await;
    assert_eq!(
        (r.status, r.error_code()),
        (401, Some("invalid_credentials"))
    );

    let (_, good) = gw.key("reader", &[]);
    let mut forged = good.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let r = post_raw(&gw.url, Some(&forged), None, init.clone(), &[]).await;
    assert_eq!(
        (r.status, r.error_code()),
        (401, Some("invalid_credentials"))
    );

    let r = post_raw(&gw.url, None, None, init.clone(), &[("x-mcp-key", &good)]).await;
    assert_eq!(r.status, 200, "X-MCP-KEY is accepted: {:?}", r.body);

    let (_, short) = gw.key("reader", &["--expires-in", "1s"]);
    let first = post_raw(&gw.url, Some(&short), None, init.clone(), &[]).await;
    assert_eq!(
        first.status, 200,
        "accepted before it expires: {:?}",
        first.body
    );
    let (url, short, body) = (gw.url.as_str(), short.as_str(), init.as_str());
    let r = wait_for_async(
        "the one-second key to expire",
        Duration::from_secs(10),
        || async move {
            let r = post_raw(url, Some(short), None, body.to_string(), &[]).await;
            (r.status != 200).then_some(r)
        },
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (401, Some("credential_expired")),
        "{:?}",
        r.body
    );

    let (id, revokable) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &revokable).await;
    gw.revoke(&id);
    let r = rpc(&gw.url, &revokable, Some(&sid), "tools/list", json!({})).await;
    assert_eq!(
        (r.status, r.error_code()),
        (401, Some("credential_revoked")),
        "revocation applies at once"
    );
}

#[tokio::test]
async fn a_session_cannot_be_used_by_another_principal() {
    let gw = Gateway::start(&demo_config("read-only", ""));
    let (_, alice) = gw.key("reader", &[]);
    let (_, mallory) = gw.key("admin", &[]);
    let sid = initialize(&gw.url, &alice).await;
    let r = rpc(&gw.url, &mallory, Some(&sid), "tools/list", json!({})).await;
    assert_eq!(
        (r.status, r.error_code()),
        (404, Some("session_not_found")),
        "another principal's session is not confirmed to exist"
    );
    let r = rpc(&gw.url, &alice, Some(&sid), "tools/list", json!({})).await;
    assert_eq!(r.status, 200);

    let r = rpc(
        &gw.url,
        &alice,
        Some("0123456789abcdef0123456789abcdef"),
        "tools/list",
        json!({}),
    )
    .await;
    assert_eq!((r.status, r.error_code()), (404, Some("session_not_found")));
    let r = rpc(&gw.url, &alice, None, "tools/list", json!({})).await;
    assert_eq!((r.status, r.error_code()), (400, Some("session_required")));

    let del = http()
        .delete(&gw.url)
        .bearer_auth(&mallory)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(
        del.status(),
        404,
        "another principal's session is not confirmed"
    );
    let del = http()
        .delete(&gw.url)
        .bearer_auth(&alice)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let r = rpc(&gw.url, &alice, Some(&sid), "tools/list", json!({})).await;
    assert_eq!(r.error_code(), Some("session_not_found"));
}

/// `keys rotate ID --overlap DUR` on the gateway's store: the command's output and status.
fn rotate(gw: &Gateway, id: &str, overlap: &str) -> std::process::Output {
    std::process::Command::new(bin())
        .args([
            "keys",
            "rotate",
            "--json",
            "--overlap",
            overlap,
            "--data-dir",
        ])
        .arg(gw.data_dir())
        .arg(id)
        .output()
        .unwrap()
}

async fn pings(gw: &Gateway, key: &str) -> Option<String> {
    let r = rpc(&gw.url, key, None, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}})).await;
    r.error_code().map(str::to_string)
}

#[tokio::test]
async fn a_rotated_key_overlaps_its_successor_then_stops() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let (old_id, old) = gw.key("agent", &["--expires-in", "30d"]);
    let out = rotate(&gw, &old_id, "1h");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let new = v["key"].as_str().unwrap().to_string();
    assert_eq!(v["replaces"], old_id.as_str());
    assert_eq!(
        (&v["tenant"], &v["agent"], &v["role"]),
        (&json!("t1"), &json!("agent-agent"), &json!("agent"))
    );
    let lifetime = v["expiresMs"].as_i64().unwrap() - v["createdMs"].as_i64().unwrap();
    assert!(
        (30 * 86_400_000 - 5_000..=30 * 86_400_000).contains(&lifetime),
        "{lifetime}"
    );
    assert_eq!(
        pings(&gw, &old).await,
        None,
        "the old key works during the overlap"
    );
    assert_eq!(pings(&gw, &new).await, None);
    let listed = std::process::Command::new(bin())
        .args(["keys", "list", "--json", "--data-dir"])
        .arg(gw.data_dir())
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let state = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state(&old_id), "rotating");
    // A key being rotated is not rotated again; the new one can be, at once.
    assert!(!rotate(&gw, &old_id, "1h").status.success());
    let new_id = v["id"].as_str().unwrap().to_string();
    let out = rotate(&gw, &new_id, "0s");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        pings(&gw, &new).await.as_deref(),
        Some("credential_revoked")
    );
    let unknown = rotate(&gw, "nosuchkey", "1h");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no key"));
}
