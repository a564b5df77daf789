//! The admin API and its CLI against a real gateway process: who may do what, bad input,
//! lost updates, tenants and keys taking effect on the next call, every act in the ledger,
//! reload, a tenant-limited auditor, and the OpenAPI document served.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// An admin key made with the CLI on the gateway's data directory.
fn admin_key(gw: &Gateway, role: &str, extra: &[&str]) -> String {
    let out = Command::new(bin())
        .args(["admin", "keys", "create", "--data-dir"])
        .arg(gw.data_dir())
        .args([
            "--role",
            role,
            "--name",
            &format!("{role}-holder"),
            "--json",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["key"].as_str().unwrap().to_string()
}

/// One admin API request.
async fn admin(
    gw: &Gateway,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = http().request(method.parse().unwrap(), format!("{}{path}", gw.admin));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn get(gw: &Gateway, path: &str, key: &str) -> Reply {
    admin(gw, "GET", path, Some(key), None, &[]).await
}

async fn send(gw: &Gateway, method: &str, path: &str, key: &str, body: Value) -> Reply {
    admin(gw, method, path, Some(key), Some(&body.to_string()), &[]).await
}

/// Create tenant `name` and an agent key of `role` in it through the API; returns the key.
async fn tenant_with_key(gw: &Gateway, key: &str, name: &str, role: &str) -> (String, String) {
    let r = send(gw, "POST", "/admin/v1/tenants", key, json!({"name": name})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = send(
        gw,
        "POST",
        "/admin/v1/keys",
        key,
        json!({"tenant": name, "agent": "bot", "role": role}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    (
        r.body["key"]["id"].as_str().unwrap().to_string(),
        r.body["secret"].as_str().unwrap().to_string(),
    )
}

/// `PATCH /admin/v1/tenants/{name}` with `body` at ETag `etag`.
async fn patch_tenant(gw: &Gateway, key: &str, name: &str, body: &str, etag: &str) -> Reply {
    let path = format!("/admin/v1/tenants/{name}");
    admin(
        gw,
        "PATCH",
        &path,
        Some(key),
        Some(body),
        &[("if-match", etag)],
    )
    .await
}

/// `demo.echo` in a session.
async fn echo(gw: &Gateway, agent: &str, sid: &str, text: &str) -> Reply {
    call(
        &gw.url,
        agent,
        sid,
        "demo.echo",
        json!({"text": text}),
        None,
    )
    .await
}

fn run_cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[tokio::test]
async fn every_endpoint_needs_an_admin_key_whose_role_includes_it() {
    let gw = Gateway::start(&demo_config(
        "enforce",
        "[audit]\ncheckpoint_interval = \"50ms\"\n",
    ));
    let (_, agent) = gw.key("agent", &[]);
    let keys: Vec<(&str, String)> = ["auditor", "approver", "admin"]
        .iter()
        .map(|r| (*r, admin_key(&gw, r, &[])))
        .collect();
    let root = &keys[2].1;
    send(
        &gw,
        "POST",
        "/admin/v1/tenants",
        root,
        json!({"name": "t1"}),
    )
    .await;
    // One call so that the ledger has a record and a checkpoint.
    let sid = initialize(&gw.url, &agent).await;
    echo(&gw, &agent, &sid, "x").await;
    wait_for_checkpoint(&gw, &agent, 1).await;

    let endpoints: &[(&str, &str, Option<&str>, &str)] = &[
        ("GET", "/admin/v1/whoami", None, "auditor"),
        ("GET", "/admin/v1/ledger/records", None, "auditor"),
        ("GET", "/admin/v1/ledger/records/0", None, "auditor"),
        ("GET", "/admin/v1/ledger/checkpoint", None, "auditor"),
        (
            "GET",
            "/admin/v1/ledger/proof/consistency?from=0",
            None,
            "auditor",
        ),
        ("GET", "/admin/v1/ledger/export", None, "auditor"),
        ("GET", "/admin/v1/tenants", None, "admin"),
        (
            "POST",
            "/admin/v1/tenants",
            Some(r#"{"name":"made"}"#),
            "admin",
        ),
        ("GET", "/admin/v1/tenants/t1", None, "admin"),
        (
            "PATCH",
            "/admin/v1/tenants/t1",
            Some(r#"{"description":"d"}"#),
            "admin",
        ),
        ("GET", "/admin/v1/keys", None, "admin"),
        (
            "POST",
            "/admin/v1/keys",
            Some(r#"{"tenant":"t1","agent":"a","role":"agent"}"#),
            "admin",
        ),
        ("GET", "/admin/v1/keys/000000000000", None, "admin"),
        ("POST", "/admin/v1/keys/000000000000/revoke", None, "admin"),
        (
            "POST",
            "/admin/v1/keys/000000000000/rotate",
            Some(r#"{"overlap":"1h"}"#),
            "admin",
        ),
        ("GET", "/admin/v1/roles", None, "admin"),
        (
            "POST",
            "/admin/v1/roles/reader/grants",
            Some(r#"{"pattern":"demo.none"}"#),
            "admin",
        ),
        (
            "DELETE",
            "/admin/v1/roles/reader/grants?pattern=demo.absent",
            None,
            "admin",
        ),
        ("GET", "/admin/v1/upstreams", None, "admin"),
        ("GET", "/admin/v1/catalog", None, "admin"),
        ("GET", "/admin/v1/effective-config", None, "admin"),
        ("GET", "/admin/v1/quotas?tenant=t1", None, "admin"),
        ("POST", "/admin/v1/reload", None, "admin"),
        ("GET", "/admin/v1/controls", None, "admin"),
        (
            "PUT",
            "/admin/v1/controls/tool:demo.none",
            Some(r#"{"engaged":false,"reason":"matrix"}"#),
            "admin",
        ),
    ];
    let rank = |r: &str| {
        ["auditor", "approver", "admin"]
            .iter()
            .position(|x| *x == r)
            .unwrap()
    };
    for (method, path, body, needed) in endpoints {
        for (role, key) in &keys {
            let r = admin(&gw, method, path, Some(key), *body, &[("if-match", "*")]).await;
            if rank(role) < rank(needed) {
                assert_eq!(r.status, 403, "{role} {method} {path}: {:?}", r.body);
                assert_eq!(
                    r.error_code(),
                    Some("admin_role_insufficient"),
                    "{role} {method} {path}"
                );
            } else {
                assert!(
                    r.status != 401 && r.status != 403 && r.status < 500,
                    "{role} {method} {path}: {} {:?}",
                    r.status,
                    r.body
                );
            }
        }
        let none = admin(&gw, method, path, None, *body, &[]).await;
        assert_eq!(
            (none.status, none.error_code()),
            (401, Some("missing_credentials")),
            "{method} {path}"
        );
        let as_agent = admin(&gw, method, path, Some(&agent), *body, &[]).await;
        assert_eq!(
            (as_agent.status, as_agent.error_code()),
            (401, Some("invalid_credentials")),
            "{method} {path}"
        );
        assert!(
            as_agent.body["reason"]
                .as_str()
                .unwrap()
                .contains("agent keys")
        );
        let via_header = admin(&gw, method, path, None, *body, &[("x-mcp-key", &agent)]).await;
        assert_eq!(via_header.status, 401, "{method} {path}");
    }
    // An admin key is refused on /mcp, whatever its role.
    for (_, key) in &keys {
        let r = rpc(&gw.url, key, None, "tools/list", json!({})).await;
        assert_eq!(
            (r.status, r.error_code()),
            (401, Some("invalid_credentials"))
        );
        assert!(
            r.body["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("admin key"),
            "{:?}",
            r.body
        );
    }
    // A revoked admin key is refused on its next request.
    let id = get(&gw, "/admin/v1/whoami", &keys[0].1).await.body["keyId"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run_cli(
        &[
            "admin",
            "keys",
            "revoke",
            "--data-dir",
            gw.data_dir().to_str().unwrap(),
            &id,
        ],
        &[],
    );
    assert!(out.status.success());
    let r = get(&gw, "/admin/v1/whoami", &keys[0].1).await;
    assert_eq!(r.error_code(), Some("credential_revoked"));
    // Nothing is served off the admin paths, and the MCP listener serves no admin path.
    assert_eq!(get(&gw, "/admin/v2/tenants", root).await.status, 404);
    let on_mcp = http()
        .get(format!("{}/admin/v1/whoami", gw.base))
        .bearer_auth(root)
        .send()
        .await
        .unwrap();
    assert_eq!(on_mcp.status().as_u16(), 404);
}

#[tokio::test]
async fn tenants_and_keys_refuse_bad_missing_oversized_and_hostile_input() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let key = admin_key(&gw, "admin", &[]);
    let big = format!(r#"{{"name":"x","description":"{}"}}"#, "a".repeat(70_000));
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        (
            "POST",
            "/admin/v1/tenants",
            "not json".into(),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/admin/v1/tenants",
            "[1,2]".into(),
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/admin/v1/tenants",
            "{}".into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/tenants",
            r#"{"name":5}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/tenants",
            r#"{"name":"a","admin":true}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/tenants",
            r#"{"name":""}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/tenants",
            format!(r#"{{"name":"{}"}}"#, "a".repeat(129)),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/tenants",
            r#"{"name":"../etc"}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/tenants",
            r#"{"name":"a b"}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/tenants",
            r#"{"name":"a\u0000b"}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/tenants",
            r#"{"name":"ünï"}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/tenants",
            r#"{"name":"ok","description":"a\u0007b"}"#.into(),
            422,
            "invalid_field",
        ),
        ("POST", "/admin/v1/tenants", big, 413, "payload_too_large"),
        (
            "PATCH",
            "/admin/v1/tenants/nope",
            r#"{"disabled":true}"#.into(),
            404,
            "object_not_found",
        ),
        (
            "POST",
            "/admin/v1/keys",
            r#"{"tenant":"ghost","agent":"a","role":"agent"}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/keys",
            r#"{"tenant":"t1","agent":"a","role":"root"}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/keys",
            r#"{"tenant":"t1","agent":"a/b","role":"agent"}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/keys",
            r#"{"tenant":"t1","agent":"a","role":"agent","expiresIn":"soon"}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/keys",
            r#"{"tenant":"t1","agent":"a"}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/admin/v1/keys/nope/rotate",
            r#"{"overlap":"1h"}"#.into(),
            404,
            "object_not_found",
        ),
        (
            "POST",
            "/admin/v1/keys/nope/rotate",
            "{}".into(),
            422,
            "invalid_field",
        ),
        (
            "PUT",
            "/admin/v1/controls/everything",
            r#"{"engaged":true,"reason":"r"}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "PUT",
            "/admin/v1/controls/class:nuclear",
            r#"{"engaged":true,"reason":"r"}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "PUT",
            "/admin/v1/controls/global",
            r#"{"engaged":true,"reason":""}"#.into(),
            422,
            "invalid_field",
        ),
        (
            "PUT",
            "/admin/v1/controls/global",
            r#"{"engaged":"yes","reason":"r"}"#.into(),
            422,
            "invalid_field",
        ),
    ];
    send(
        &gw,
        "POST",
        "/admin/v1/tenants",
        &key,
        json!({"name": "t1"}),
    )
    .await;
    for (method, path, body, status, code) in &cases {
        let r = admin(
            &gw,
            method,
            path,
            Some(&key),
            Some(body),
            &[("if-match", "*")],
        )
        .await;
        assert_eq!(
            (r.status, r.error_code()),
            (*status, Some(*code)),
            "{method} {path} {}: {:?}",
            &body[..body.len().min(80)],
            r.body
        );
        assert!(r.headers.contains_key("x-correlation-id"));
        assert!(r.body["guidance"].is_string());
    }
    // A body that is not declared as JSON is refused before it is read as JSON.
    let r = http()
        .post(format!("{}/admin/v1/tenants", gw.admin))
        .bearer_auth(&key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    // A name that exists is a conflict; nothing was lost or changed.
    let r = send(
        &gw,
        "POST",
        "/admin/v1/tenants",
        &key,
        json!({"name": "t1", "description": "again"}),
    )
    .await;
    assert_eq!((r.status, r.error_code()), (409, Some("already_exists")));
    let t = get(&gw, "/admin/v1/tenants/t1", &key).await;
    assert_eq!(
        (t.body["description"].as_str(), t.body["version"].as_u64()),
        (Some(""), Some(1))
    );
    // Hostile query strings on the ledger.
    for q in [
        "limit=0",
        "limit=100000",
        "from=-1",
        "since=yesterday",
        "tenant=a&tenant=b",
        "nope=1",
        "kind=%00",
    ] {
        let r = get(&gw, &format!("/admin/v1/ledger/records?{q}"), &key).await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, Some("invalid_query")),
            "{q}: {:?}",
            r.body
        );
    }
    let r = get(&gw, "/admin/v1/ledger/records/abc", &key).await;
    assert_eq!(r.status, 400);
    let r = get(&gw, "/admin/v1/ledger/records/99999", &key).await;
    assert_eq!((r.status, r.error_code()), (404, Some("object_not_found")));
    // None of the refusals was recorded as a change: only the one tenant was made.
    let acts = get(&gw, "/admin/v1/ledger/records?kind=control", &key).await;
    let methods: Vec<&str> = acts.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["admin/tenants.create"]);
}

#[tokio::test]
async fn concurrent_edits_of_a_tenant_are_detected_not_lost() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let key = admin_key(&gw, "admin", &[]);
    let r = send(
        &gw,
        "POST",
        "/admin/v1/tenants",
        &key,
        json!({"name": "acme"}),
    )
    .await;
    let etag = r.headers["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, "\"1\"");
    let path = "/admin/v1/tenants/acme";
    let first = patch_tenant(&gw, &key, "acme", r#"{"description":"first"}"#, &etag).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.headers["etag"], "\"2\"");
    // A second writer that read version 1 does not overwrite the first's change.
    let second = patch_tenant(&gw, &key, "acme", r#"{"description":"second"}"#, &etag).await;
    assert_eq!(
        (second.status, second.error_code()),
        (412, Some("precondition_failed"))
    );
    let missing = admin(
        &gw,
        "PATCH",
        path,
        Some(&key),
        Some(r#"{"description":"third"}"#),
        &[],
    )
    .await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (428, Some("precondition_required"))
    );
    let now = get(&gw, path, &key).await;
    assert_eq!(now.body["description"], "first");
    assert_eq!(now.headers["etag"], "\"2\"");
    // Many writers at version 2 at once: exactly one wins.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (admin_base, key) = (gw.admin.clone(), key.clone());
            tokio::spawn(async move {
                http()
                    .patch(format!("{admin_base}/admin/v1/tenants/acme"))
                    .bearer_auth(key)
                    .header("if-match", "\"2\"")
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"description":"w{i}"}}"#))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 412, 412, 412, 412, 412, 412, 412]);
    assert_eq!(get(&gw, path, &key).await.body["version"], 3);
}

#[tokio::test]
async fn a_disabled_tenant_and_a_revoked_key_are_refused_on_the_very_next_call() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let key = admin_key(&gw, "admin", &[]);
    let (id, agent) = tenant_with_key(&gw, &key, "acme", "agent").await;
    let sid = initialize(&gw.url, &agent).await;
    let ok = echo(&gw, &agent, &sid, "a").await;
    assert!(ok.body["result"].is_object(), "{:?}", ok.body);

    let t = get(&gw, "/admin/v1/tenants/acme", &key).await;
    let tag = t.headers["etag"].to_str().unwrap().to_string();
    let off = patch_tenant(&gw, &key, "acme", r#"{"disabled":true}"#, &tag).await;
    assert_eq!(off.status, 200);
    let r = echo(&gw, &agent, &sid, "b").await;
    assert_eq!(
        (r.status, r.error_code()),
        (403, Some("tenant_disabled")),
        "{:?}",
        r.body
    );
    // The tenant is disabled for the CLI's view too, and for a key made now it is refused.
    let r = send(
        &gw,
        "POST",
        "/admin/v1/keys",
        &key,
        json!({"tenant": "acme", "agent": "b2", "role": "agent"}),
    )
    .await;
    assert_eq!(r.error_code(), Some("invalid_field"));
    let on = patch_tenant(&gw, &key, "acme", r#"{"disabled":false}"#, "\"2\"").await;
    assert_eq!(on.status, 200);
    let r = echo(&gw, &agent, &sid, "c").await;
    assert!(r.body["result"].is_object(), "enabled again: {:?}", r.body);

    let revoked = send(
        &gw,
        "POST",
        &format!("/admin/v1/keys/{id}/revoke"),
        &key,
        json!({}),
    )
    .await;
    assert_eq!(
        (revoked.status, revoked.body["state"].as_str()),
        (200, Some("revoked"))
    );
    let r = echo(&gw, &agent, &sid, "d").await;
    assert_eq!(
        (r.status, r.error_code()),
        (401, Some("credential_revoked"))
    );
    // Revoking again changes nothing and records nothing more.
    let again = send(
        &gw,
        "POST",
        &format!("/admin/v1/keys/{id}/revoke"),
        &key,
        json!({}),
    )
    .await;
    assert_eq!(again.status, 200);
    let revokes = get(
        &gw,
        "/admin/v1/ledger/records?kind=control&tenant=acme",
        &key,
    )
    .await;
    let n = revokes.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "admin/keys.revoke")
        .count();
    assert_eq!(n, 1);

    // Rotation: a new secret for the same agent, the old one valid for the overlap.
    let (id2, agent2) = {
        let r = send(
            &gw,
            "POST",
            "/admin/v1/keys",
            &key,
            json!({"tenant": "acme", "agent": "bot2", "role": "agent"}),
        )
        .await;
        (
            r.body["key"]["id"].as_str().unwrap().to_string(),
            r.body["secret"].as_str().unwrap().to_string(),
        )
    };
    let rot = send(
        &gw,
        "POST",
        &format!("/admin/v1/keys/{id2}/rotate"),
        &key,
        json!({"overlap": "0s"}),
    )
    .await;
    assert_eq!(rot.status, 201, "{:?}", rot.body);
    let fresh = rot.body["secret"].as_str().unwrap().to_string();
    let sid2 = initialize(&gw.url, &fresh).await;
    assert!(echo(&gw, &fresh, &sid2, "e").await.body["result"].is_object());
    let r = rpc(&gw.url, &agent2, None, "tools/list", json!({})).await;
    assert_eq!(r.error_code(), Some("credential_revoked"));
    let twice = send(
        &gw,
        "POST",
        &format!("/admin/v1/keys/{id2}/rotate"),
        &key,
        json!({"overlap": "1h"}),
    )
    .await;
    assert_eq!(
        (twice.status, twice.error_code()),
        (409, Some("state_conflict"))
    );
}

#[tokio::test]
async fn every_admin_act_is_a_ledger_record_written_before_it_takes_effect_and_the_ledger_verifies()
{
    let gw = Gateway::start(&demo_config(
        "enforce",
        "[audit]\ncheckpoint_interval = \"50ms\"\n",
    ));
    let key = admin_key(&gw, "admin", &[]);
    let whoami = get(&gw, "/admin/v1/whoami", &key).await.body;
    let (id, agent) = tenant_with_key(&gw, &key, "acme", "agent").await;
    let sid = initialize(&gw.url, &agent).await;
    let t = patch_tenant(&gw, &key, "acme", r#"{"disabled":true}"#, "\"1\"").await;
    assert_eq!(t.status, 200);
    let refused = echo(&gw, &agent, &sid, "x").await;
    assert_eq!(refused.error_code(), Some("tenant_disabled"));
    send(
        &gw,
        "POST",
        &format!("/admin/v1/keys/{id}/revoke"),
        &key,
        json!({}),
    )
    .await;
    let sw = send(
        &gw,
        "PUT",
        "/admin/v1/controls/tool:demo.echo",
        &key,
        json!({"engaged": true, "reason": "incident 7"}),
    )
    .await;
    assert_eq!(sw.status, 200, "{:?}", sw.body);
    let reload = admin(&gw, "POST", "/admin/v1/reload", Some(&key), None, &[]).await;
    assert_eq!(reload.status, 200, "{:?}", reload.body);

    let all = get(&gw, "/admin/v1/ledger/records?limit=1000", &key)
        .await
        .body;
    let records = all["records"].as_array().unwrap();
    let methods: Vec<&str> = records
        .iter()
        .filter(|r| r["kind"] == "control")
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "admin/tenants.create",
            "admin/keys.create",
            "admin/tenants.disable",
            "admin/keys.revoke",
            "controls/kill",
            "config/reload"
        ]
    );
    let actor = format!("admin:{}", whoami["keyId"].as_str().unwrap());
    for r in records.iter().filter(|r| r["kind"] == "control") {
        assert_eq!(r["agent"], actor.as_str(), "{r}");
    }
    let disable = records
        .iter()
        .find(|r| r["method"] == "admin/tenants.disable")
        .unwrap();
    assert_eq!(disable["facts"]["auth_method"], "admin_key");
    assert_eq!(disable["facts"]["admin_role"], "admin");
    assert_eq!(disable["facts"]["object"], "tenant:acme");
    assert_ne!(disable["facts"]["before"], disable["facts"]["after"]);
    assert_eq!(disable["facts"]["before"].as_str().unwrap().len(), 64);
    assert_eq!(
        disable["correlation_id"],
        t.headers["x-correlation-id"].to_str().unwrap()
    );
    // The disable was recorded before the refusal it caused.
    let refusal = records
        .iter()
        .find(|r| r["code"] == "tenant_disabled")
        .expect("the refused call is recorded");
    assert!(disable["seq"].as_u64() < refusal["seq"].as_u64());
    let reload_rec = records
        .iter()
        .find(|r| r["method"] == "config/reload")
        .unwrap();
    assert_eq!(
        reload_rec["facts"]["old_config_hash"],
        reload_rec["facts"]["new_config_hash"]
    );

    // One record with its proof; and the whole ledger verifies offline.
    let size = all["ledgerSize"].as_u64().unwrap();
    let admin_agent = gw.key("admin", &[]).1;
    wait_for_checkpoint(&gw, &admin_agent, size).await;
    let one = get(
        &gw,
        &format!("/admin/v1/ledger/records/{}", disable["seq"]),
        &key,
    )
    .await;
    assert_eq!(one.body["record"]["method"], "admin/tenants.disable");
    assert!(
        one.body["proof"]["checkpoint"].is_string(),
        "{:?}",
        one.body
    );
    let data = gw.data_dir();
    let data = data.to_str().unwrap();
    let pk = run_cli(&["audit", "pubkey", "--data-dir", data], &[]);
    let pk = String::from_utf8(pk.stdout).unwrap().trim().to_string();
    let v = run_cli(
        &["audit", "verify", "--data-dir", data, "--pubkey", &pk],
        &[],
    );
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

fn reload_config(allow: &str, extra: &str) -> String {
    demo_config("enforce", "").replace(
        "[roles.reader]\nallow = [\"demo.notes_read\", \"demo.echo\"]",
        &format!("[roles.reader]\nallow = [{allow}]"),
    ) + extra
}

#[tokio::test]
async fn reload_applies_a_valid_policy_keeps_the_last_good_one_and_names_what_needs_a_restart() {
    let gw = Gateway::start(&reload_config("\"demo.notes_read\"", ""));
    let key = admin_key(&gw, "admin", &[]);
    let (_, reader) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &reader).await;
    let denied = echo(&gw, &reader, &sid, "x").await;
    assert!(denied.body["error"].is_object(), "{:?}", denied.body);

    // A grant added to the file takes effect on the next call after a reload.
    std::fs::write(
        &gw.config,
        reload_config("\"demo.notes_read\", \"demo.echo\"", ""),
    )
    .unwrap();
    let r = admin(&gw, "POST", "/admin/v1/reload", Some(&key), None, &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["applied"], json!(["roles"]));
    assert_eq!(r.body["restartRequired"], json!([]));
    let ok = echo(&gw, &reader, &sid, "x").await;
    assert!(ok.body["result"].is_object(), "{:?}", ok.body);

    // An invalid file changes nothing and says why, everywhere.
    std::fs::write(&gw.config, "[policy]\nmode = \"sometimes\"\n").unwrap();
    let r = admin(&gw, "POST", "/admin/v1/reload", Some(&key), None, &[]).await;
    assert_eq!((r.status, r.error_code()), (422, Some("reload_failed")));
    assert_eq!(r.body["errors"][0]["field"], "policy.mode", "{:?}", r.body);
    let ok = echo(&gw, &reader, &sid, "y").await;
    assert!(
        ok.body["result"].is_object(),
        "the last good config serves: {:?}",
        ok.body
    );
    let status = api_status(&gw, &reader).await;
    assert_eq!(status["reload"]["last"]["ok"], false);
    assert_eq!(status["reload"]["generation"], 1);
    assert!(
        metrics_text(&gw)
            .await
            .contains("portcullis_config_invalid 1")
    );
    assert!(gw.logged("config reload refused"));

    // A change to a start-only setting is named, and the rest applied; SIGHUP reloads too.
    std::fs::write(
        &gw.config,
        reload_config("\"demo.notes_read\"", "")
            .replace("shutdown_grace = \"10s\"", "shutdown_grace = \"9s\""),
    )
    .unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let last = wait_for_async("the SIGHUP reload", Duration::from_secs(10), || async {
        let s = api_status(&gw, &reader).await;
        (s["reload"]["generation"] == 2).then_some(s)
    })
    .await;
    assert_eq!(last["reload"]["last"]["actor"], "signal:SIGHUP");
    assert_eq!(last["reload"]["last"]["restartRequired"], json!(["server"]));
    assert_eq!(last["reload"]["last"]["applied"], json!(["roles"]));
    assert!(
        metrics_text(&gw)
            .await
            .contains("portcullis_config_invalid 0")
    );
    let denied = echo(&gw, &reader, &sid, "z").await;
    assert!(
        denied.body["error"].is_object(),
        "the grant is gone again: {:?}",
        denied.body
    );
}

#[tokio::test]
async fn a_call_in_flight_finishes_under_the_policy_it_started_with() {
    let gw = Gateway::start(&reload_config("\"demo.notes_read\", \"demo.slow\"", ""));
    let key = admin_key(&gw, "admin", &[]);
    let (_, reader) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &reader).await;
    let (url, k, s) = (gw.url.clone(), reader.clone(), sid.clone());
    let slow =
        tokio::spawn(
            async move { call(&url, &k, &s, "demo.slow", json!({"ms": 1500}), None).await },
        );
    wait_for_record(&gw.db_path(), "the slow call's decision", |r| {
        r["tool"] == "demo.slow" && r["decision"] == "allow"
    })
    .await;
    std::fs::write(&gw.config, reload_config("\"demo.notes_read\"", "")).unwrap();
    let r = admin(&gw, "POST", "/admin/v1/reload", Some(&key), None, &[]).await;
    assert_eq!(r.status, 200);
    let done = slow.await.unwrap();
    assert!(done.body["result"].is_object(), "{:?}", done.body);
    let after = call(&gw.url, &reader, &sid, "demo.slow", json!({"ms": 1}), None).await;
    assert!(
        after.body["error"].is_object(),
        "a new call is decided under the new policy"
    );
}

#[tokio::test]
async fn an_auditor_limited_to_a_tenant_pulls_its_export_and_nothing_more() {
    let gw = Gateway::start(&demo_config(
        "enforce",
        "[audit]\ncheckpoint_interval = \"50ms\"\n",
    ));
    let root = admin_key(&gw, "admin", &[]);
    let (_, a) = tenant_with_key(&gw, &root, "acme", "agent").await;
    let (_, b) = tenant_with_key(&gw, &root, "other", "agent").await;
    for k in [&a, &b] {
        let sid = initialize(&gw.url, k).await;
        call(&gw.url, k, &sid, "demo.echo", json!({"text": "x"}), None).await;
    }
    let auditor = admin_key(&gw, "auditor", &["--tenant", "acme"]);
    let size = get(&gw, "/admin/v1/ledger/records", &root).await.body["ledgerSize"]
        .as_u64()
        .unwrap();
    wait_for_checkpoint(&gw, &a, size).await;

    let page = get(&gw, "/admin/v1/ledger/records?limit=1000", &auditor).await;
    let records = page.body["records"].as_array().unwrap();
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r["tenant"] == "acme"), "{records:?}");
    let theirs = get(&gw, "/admin/v1/ledger/records?tenant=other", &auditor).await;
    assert_eq!(
        (theirs.status, theirs.error_code()),
        (403, Some("admin_role_insufficient"))
    );
    let other_seq = get(&gw, "/admin/v1/ledger/records?tenant=other&limit=1", &root)
        .await
        .body["records"][0]["seq"]
        .clone();
    let hidden = get(
        &gw,
        &format!("/admin/v1/ledger/records/{other_seq}"),
        &auditor,
    )
    .await;
    assert_eq!(hidden.status, 404);
    for path in [
        "/admin/v1/tenants",
        "/admin/v1/keys",
        "/admin/v1/controls",
        "/admin/v1/effective-config",
    ] {
        assert_eq!(get(&gw, path, &auditor).await.status, 403, "{path}");
    }

    // The export, through the CLI, verifies offline and holds only that tenant's records.
    let out_file = gw.dir.path().join("acme.json");
    let env = [
        ("PORTCULLIS_ADMIN_KEY", auditor.as_str()),
        ("PORTCULLIS_ADMIN_URL", gw.admin.as_str()),
    ];
    let o = run_cli(
        &[
            "admin",
            "ledger",
            "export",
            "--out",
            out_file.to_str().unwrap(),
        ],
        &env,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bundle: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(bundle["tenant"], "acme");
    let n = bundle["record_count"].as_u64().unwrap();
    assert!(n >= 1 && n as usize == bundle["records"].as_array().unwrap().len());
    let data = gw.data_dir();
    let pk = run_cli(
        &["audit", "pubkey", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    let pk = String::from_utf8(pk.stdout).unwrap().trim().to_string();
    let v = run_cli(
        &[
            "audit",
            "verify-export",
            out_file.to_str().unwrap(),
            "--pubkey",
            &pk,
        ],
        &[],
    );
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let o = run_cli(&["admin", "ledger", "export", "--tenant", "other"], &env);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("admin_role_insufficient"));
    // A tenant limit is for auditor keys only.
    let o = run_cli(
        &[
            "admin",
            "keys",
            "create",
            "--data-dir",
            data.to_str().unwrap(),
            "--role",
            "admin",
            "--name",
            "x",
            "--tenant",
            "acme",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(64));
}

#[tokio::test]
async fn an_operator_manages_the_gateway_from_the_cli() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let key = admin_key(&gw, "admin", &[]);
    let key_file = gw.dir.path().join("admin.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let base = [
        "--admin-url",
        gw.admin.as_str(),
        "--admin-key-file",
        key_file.to_str().unwrap(),
        "--json",
    ];
    let cli = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&base);
        let o = run_cli(&all, &[]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (
            o.status.code(),
            v,
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, v, err) = cli(&[
        "admin",
        "tenants",
        "create",
        "acme",
        "--description",
        "Acme Corp",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["name"], "acme");
    let (code, v, _) = cli(&[
        "admin",
        "agent-keys",
        "create",
        "--tenant",
        "acme",
        "--agent",
        "bot",
        "--role",
        "agent",
    ]);
    assert_eq!(code, Some(0));
    let secret = v["secret"].as_str().unwrap().to_string();
    let sid = initialize(&gw.url, &secret).await;
    let (code, v, _) = cli(&["admin", "tenants", "disable", "acme"]);
    assert_eq!((code, v["disabled"].as_bool()), (Some(0), Some(true)));
    let r = echo(&gw, &secret, &sid, "x").await;
    assert_eq!(r.error_code(), Some("tenant_disabled"));
    let (code, _, _) = cli(&["admin", "tenants", "enable", "acme"]);
    assert_eq!(code, Some(0));
    let (code, v, _) = cli(&[
        "admin",
        "controls",
        "engage",
        "read_only:acme",
        "--reason",
        "maintenance",
    ]);
    assert_eq!((code, v["engaged"].as_bool()), (Some(0), Some(true)));
    let (code, v, _) = cli(&["admin", "controls", "list"]);
    assert_eq!(code, Some(0));
    assert_eq!(v["switches"][0]["scope"], "read_only:acme");
    let (code, v, _) = cli(&["reload"]);
    assert_eq!((code, v["ok"].as_bool()), (Some(0), Some(true)));
    let (code, v, _) = cli(&[
        "admin", "ledger", "query", "--kind", "control", "--tenant", "acme",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(v["records"].as_array().unwrap().len(), 5, "{v}");
    let (code, _, err) = cli(&["admin", "tenants", "show", "nope"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("object_not_found"), "{err}");
    // The key comes from the environment, or a file; never from a flag.
    let o = run_cli(
        &["admin", "whoami", "--admin-url", &gw.admin],
        &[("PORTCULLIS_ADMIN_KEY", &key)],
    );
    assert!(o.status.success());
    let o = run_cli(&["admin", "whoami", "--admin-url", &gw.admin], &[]);
    assert_eq!(o.status.code(), Some(64));
    let o = run_cli(
        &["admin", "whoami", "--admin-url", "http://127.0.0.1:1"],
        &[("PORTCULLIS_ADMIN_KEY", &key)],
    );
    assert_eq!(o.status.code(), Some(69));
    // A URL that is not HTTP(S), and key files that are missing, empty or junk: usage errors.
    let o = run_cli(
        &["admin", "whoami", "--admin-url", "ftp://127.0.0.1:1"],
        &[("PORTCULLIS_ADMIN_KEY", &key)],
    );
    assert_eq!(o.status.code(), Some(64));
    let junk = gw.dir.path().join("junk.key");
    for content in [String::new(), "x".repeat(10_000), "pca_\u{e9}".to_string()] {
        std::fs::write(&junk, &content).unwrap();
        let o = run_cli(
            &[
                "admin",
                "whoami",
                "--admin-url",
                &gw.admin,
                "--admin-key-file",
                junk.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(o.status.code(), Some(64), "{content:.20}");
    }
    let o = run_cli(
        &[
            "admin",
            "whoami",
            "--admin-url",
            &gw.admin,
            "--admin-key-file",
            "/nonexistent/key",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(64));
    // A well-formed key that is not an admin key is refused by the gateway, not the CLI.
    std::fs::write(
        &junk,
        "pca_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .unwrap();
    let o = run_cli(
        &[
            "admin",
            "whoami",
            "--admin-url",
            &gw.admin,
            "--admin-key-file",
            junk.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid_credentials"));
}

#[tokio::test]
async fn the_openapi_document_served_is_the_one_checked_in() {
    let gw = Gateway::start(&demo_config("enforce", ""));
    let r = http()
        .get(format!("{}/admin/openapi.json", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let served: Value = r.json().await.unwrap();
    let file: Value =
        serde_json::from_str(include_str!("../../../docs/admin-openapi.json")).unwrap();
    assert_eq!(served, file);
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served["info"]["x-schema-version"], 1);
}

#[tokio::test]
async fn quota_usage_is_visible_per_tenant_and_agent() {
    let gw = Gateway::start(&demo_config(
        "enforce",
        "[[limits.quota]]\nscope = \"agent\"\nwindow = \"day\"\ncalls = 50\n",
    ));
    let key = admin_key(&gw, "admin", &[]);
    let (_, agent) = tenant_with_key(&gw, &key, "acme", "agent").await;
    let sid = initialize(&gw.url, &agent).await;
    for i in 0..3 {
        call(
            &gw.url,
            &agent,
            &sid,
            "demo.echo",
            json!({"text": i.to_string()}),
            None,
        )
        .await;
    }
    let r = get(&gw, "/admin/v1/quotas?tenant=acme&agent=bot", &key).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["quotas"][0]["calls"],
        json!({"used": 3, "limit": 50}),
        "{:?}",
        r.body
    );
    let other = get(&gw, "/admin/v1/quotas?tenant=acme&agent=nobody", &key).await;
    assert_eq!(other.body["quotas"][0]["calls"]["used"], 0);
    for bad in ["", "?agent=bot", "?tenant=a%20b", "?tenant=acme&x=1"] {
        let r = get(&gw, &format!("/admin/v1/quotas{bad}"), &key).await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, Some("invalid_query")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_grant_made_through_the_api_takes_effect_on_the_next_call_and_survives_a_restart() {
    let gw = Gateway::start(&reload_config("\"demo.notes_read\"", ""));
    let key = admin_key(&gw, "admin", &[]);
    let (_, reader) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &reader).await;
    assert!(echo(&gw, &reader, &sid, "a").await.body["error"].is_object());

    let r = send(
        &gw,
        "POST",
        "/admin/v1/roles/reader/grants",
        &key,
        json!({"pattern": "demo.echo"}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(
        echo(&gw, &reader, &sid, "b").await.body["result"].is_object(),
        "granted"
    );
    let roles = get(&gw, "/admin/v1/roles", &key).await.body;
    let reader_role = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "reader")
        .unwrap()
        .clone();
    assert_eq!(reader_role["allow"], json!(["demo.notes_read"]));
    assert_eq!(reader_role["grants"], json!(["demo.echo"]));
    for (role, body, status, code) in [
        (
            "reader",
            json!({"pattern": "demo.echo"}),
            409,
            "already_exists",
        ),
        (
            "ghost",
            json!({"pattern": "demo.echo"}),
            422,
            "invalid_field",
        ),
        ("reader", json!({"pattern": "["}), 422, "invalid_field"),
        ("reader", json!({"pattern": "a b"}), 422, "invalid_field"),
        ("reader", json!({"pattern": ""}), 422, "invalid_field"),
        (
            "reader",
            json!({"pattern": "x".repeat(300)}),
            422,
            "invalid_field",
        ),
        ("reader", json!({"pattern": 3}), 422, "invalid_field"),
    ] {
        let r = send(
            &gw,
            "POST",
            &format!("/admin/v1/roles/{role}/grants"),
            &key,
            body.clone(),
        )
        .await;
        assert_eq!(
            (r.status, r.error_code()),
            (status, Some(code)),
            "{role} {body}"
        );
    }
    // A grant never adds write rights: the reader still cannot write.
    let w = send(
        &gw,
        "POST",
        "/admin/v1/roles/reader/grants",
        &key,
        json!({"pattern": "demo.notes_write"}),
    )
    .await;
    assert_eq!(w.status, 201);
    let write = call(
        &gw.url,
        &reader,
        &sid,
        "demo.notes_write",
        json!({"key": "k", "text": "t"}),
        None,
    )
    .await;
    assert_eq!(
        write.body["result"]["_meta"]["io.portcullis/dryRun"]["liveCallWouldBeAllowed"], false,
        "{:?}",
        write.body
    );

    // Grants are in the store: a restart keeps them.
    let gw = gw.kill_and_restart();
    let sid = initialize(&gw.url, &reader).await;
    assert!(
        echo(&gw, &reader, &sid, "c").await.body["result"].is_object(),
        "kept across a restart"
    );
    let r = admin(
        &gw,
        "DELETE",
        "/admin/v1/roles/reader/grants?pattern=demo.echo",
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(
        echo(&gw, &reader, &sid, "d").await.body["error"].is_object(),
        "removed"
    );
    let r = admin(
        &gw,
        "DELETE",
        "/admin/v1/roles/reader/grants?pattern=demo.echo",
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!((r.status, r.error_code()), (404, Some("object_not_found")));
    let r = admin(
        &gw,
        "DELETE",
        "/admin/v1/roles/reader/grants",
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!((r.status, r.error_code()), (400, Some("invalid_query")));
    let acts = get(&gw, "/admin/v1/ledger/records?kind=control", &key)
        .await
        .body;
    let methods: Vec<&str> = acts["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "admin/roles.grant",
            "admin/roles.grant",
            "admin/roles.revoke_grant"
        ]
    );

    // The CLI adds and removes them too.
    let env = [
        ("PORTCULLIS_ADMIN_KEY", key.as_str()),
        ("PORTCULLIS_ADMIN_URL", gw.admin.as_str()),
    ];
    let o = run_cli(&["admin", "grants", "add", "reader", "demo.echo"], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(echo(&gw, &reader, &sid, "e").await.body["result"].is_object());
    let o = run_cli(&["admin", "grants", "remove", "reader", "demo.echo"], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[tokio::test]
async fn a_token_with_an_admin_role_claim_administers_and_one_without_is_refused() {
    use portcullis_identity::test_keys::{TestKey, jwks};
    let idp_key = TestKey::ec("ec-1");
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks(&[&idp_key]).to_string()).unwrap();
    let extra = format!(
        "[identity]\nresource = \"https://gw.test/mcp\"\n\n[[identity.oidc]]\nissuer = \"https://idp.test\"\njwks_file = \"{}\"\n\n[admin]\ntoken_roles = {{ admin = [\"pc-admin\"], auditor = [\"pc-audit\"] }}\n",
        jwks_file.display()
    );
    let gw = Gateway::start(&demo_config("enforce", &extra));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token = |sub: &str, roles: &[&str], exp: i64| {
        idp_key.sign(&json!({
            "iss": "https://idp.test", "aud": "https://gw.test/mcp", "sub": sub,
            "tenant": "ops", "roles": roles, "iat": now - 10, "exp": exp,
        }))
    };
    let ops = token("alice", &["agent", "pc-admin"], now + 300);
    let me = get(&gw, "/admin/v1/whoami", &ops).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(
        (me.body["role"].as_str(), me.body["authMethod"].as_str()),
        (Some("admin"), Some("oidc"))
    );
    let r = send(
        &gw,
        "POST",
        "/admin/v1/tenants",
        &ops,
        json!({"name": "acme"}),
    )
    .await;
    assert_eq!(r.status, 201);
    let rec = &get(&gw, "/admin/v1/ledger/records?kind=control", &ops)
        .await
        .body["records"][0];
    assert_eq!(rec["facts"]["auth_method"], "oidc");
    assert_eq!(rec["agent"], "admin:oidc:https://idp.test#alice");

    let audit = token("bob", &["pc-audit"], now + 300);
    assert_eq!(
        get(&gw, "/admin/v1/ledger/records", &audit).await.status,
        200
    );
    let r = get(&gw, "/admin/v1/tenants", &audit).await;
    assert_eq!(
        (r.status, r.error_code()),
        (403, Some("admin_role_insufficient"))
    );
    let agent = token("bot", &["agent"], now + 300);
    let r = get(&gw, "/admin/v1/whoami", &agent).await;
    assert_eq!(
        (r.status, r.error_code()),
        (403, Some("admin_role_insufficient"))
    );
    let expired = token("alice", &["pc-admin"], now - 600);
    let r = get(&gw, "/admin/v1/whoami", &expired).await;
    assert_eq!(
        (r.status, r.error_code()),
        (401, Some("credential_expired"))
    );
    let forged = TestKey::ec("ec-1").sign(&json!({"iss": "https://idp.test", "aud": "https://gw.test/mcp", "sub": "eve", "roles": ["pc-admin"], "iat": now, "exp": now + 60}));
    let r = get(&gw, "/admin/v1/whoami", &forged).await;
    assert_eq!(r.status, 401, "a token signed by another key: {:?}", r.body);
    // Admin keys still work beside tokens.
    let key = admin_key(&gw, "auditor", &[]);
    assert_eq!(
        get(&gw, "/admin/v1/whoami", &key).await.body["authMethod"],
        "admin_key"
    );
}
