//! Signed actor requests through the real gateway: a key made by `portcullis actors keygen`
//! (Ed25519) and an HMAC secret from the gateway's environment; signed calls run and their
//! decision records say who signed with which key; a body changed after signing, a replayed
//! signature and a stale timestamp are refused and recorded; a secret the gateway cannot read
//! stops it at start.

mod common;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use portcullis_identity::actor::{self, body_hash, sign_ed25519, sign_hmac};
use serde_json::{Value, json};

const SECRET: &str = "a shared secret of more than thirty-two bytes";

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `actors keygen` for an Ed25519 key: its seed and the config entry.
fn keygen(kid: &str) -> ([u8; 32], String) {
    let out = Command::new(bin())
        .args([
            "actors", "keygen", "--kid", kid, "--tenant", "acme", "--role", "agent", "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    use base64::Engine;
    let seed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v["private"].as_str().unwrap())
        .unwrap();
    (
        seed.try_into().unwrap(),
        v["config"].as_str().unwrap().to_string(),
    )
}

enum Signer {
    Ed([u8; 32]),
    Hmac,
}

/// Who signs: the key and the actor it signs for.
struct Who<'a> {
    signer: &'a Signer,
    kid: &'a str,
    actor: &'a str,
}

/// POST `body` to the MCP endpoint signed by `who` at `ts`, sending `sent` as the body (the
/// signed one unless a test changes it).
async fn post_signed(
    gw: &Gateway,
    who: &Who<'_>,
    ts: i64,
    body: &Value,
    sent: &Value,
    session: Option<&str>,
) -> Reply {
    let (kid, actor_id) = (who.kid, who.actor);
    let signed = body.to_string();
    let hash = body_hash(signed.as_bytes());
    let m = actor::canonical("POST", "/mcp", actor_id, ts, kid, &hash);
    let sig = match who.signer {
        Signer::Ed(seed) => sign_ed25519(seed, &m).unwrap(),
        Signer::Hmac => sign_hmac(SECRET.as_bytes(), &m),
    };
    let ts = ts.to_string();
    let mut headers = vec![
        ("x-actor-id", actor_id),
        ("x-actor-ts", ts.as_str()),
        ("x-actor-kid", kid),
        ("x-actor-content-sha256", hash.as_str()),
        ("x-actor-sig", sig.as_str()),
    ];
    if let Some(s) = session {
        headers.push(("mcp-session-id", s));
    }
    post_raw(&gw.url, None, None, sent.to_string(), &headers).await
}

fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "signer", "version": "1"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_run_and_every_bad_one_is_refused_and_recorded() {
    let (seed, entry) = keygen("bot-ed");
    let hmac_entry = "[[identity.actors]]\nkid = \"bot-h\"\nalgorithm = \"hmac-sha256\"\nsecret = \"env:BOT_SECRET\"\ntenant = \"acme\"\nrole = \"agent\"\nactors = [\"etl-*\"]\n";
    let gw = Gateway::start_with_env(
        &demo_config("enforce", &format!("{entry}\n{hmac_entry}")),
        &[("BOT_SECRET", SECRET)],
    );
    let ed = Signer::Ed(seed);
    let init = initialize_body();
    let r = post_signed(
        &gw,
        &Who {
            signer: &ed,
            kid: "bot-ed",
            actor: "report-bot",
        },
        now_s() - 10,
        &init,
        &init,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let sid = r.session().unwrap();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "demo.echo", "arguments": {"text": "signed"}}});
    let r = post_signed(
        &gw,
        &Who {
            signer: &ed,
            kid: "bot-ed",
            actor: "report-bot",
        },
        now_s() - 9,
        &call,
        &call,
        Some(&sid),
    )
    .await;
    assert_eq!(text_of(&r.body), "signed", "{:?}", r.body);
    let decision = wait_for_record(&gw.db_path(), "the call's decision", |rec| {
        rec["tool"] == "demo.echo" && rec["kind"] == "decision"
    })
    .await;
    assert_eq!(
        (&decision["tenant"], &decision["agent"]),
        (&json!("acme"), &json!("report-bot"))
    );
    assert_eq!(decision["facts"]["auth_method"], "signed_actor");
    assert_eq!(decision["facts"]["auth_key_id"], "bot-ed");
    assert_eq!(decision["facts"]["auth_algorithm"], "ed25519");

    // HMAC, from the environment; its key may sign only for etl-* actors.
    let h = Signer::Hmac;
    let r = post_signed(
        &gw,
        &Who {
            signer: &h,
            kid: "bot-h",
            actor: "etl-nightly",
        },
        now_s(),
        &init,
        &init,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = post_signed(
        &gw,
        &Who {
            signer: &h,
            kid: "bot-h",
            actor: "report-bot",
        },
        now_s(),
        &init,
        &init,
        None,
    )
    .await;
    assert_eq!(r.body["code"], "invalid_credentials", "{:?}", r.body);

    // The body changed after signing.
    let mut changed = call.clone();
    changed["params"]["arguments"]["text"] = json!("tampered");
    let r = post_signed(
        &gw,
        &Who {
            signer: &ed,
            kid: "bot-ed",
            actor: "report-bot",
        },
        now_s() - 8,
        &call,
        &changed,
        Some(&sid),
    )
    .await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    assert_eq!(r.body["code"], "invalid_credentials");
    assert!(r.body["reason"].as_str().unwrap().contains("body"));
    // A replayed request: the same signature twice.
    let ts = now_s() - 7;
    let first = post_signed(
        &gw,
        &Who {
            signer: &ed,
            kid: "bot-ed",
            actor: "report-bot",
        },
        ts,
        &init,
        &init,
        None,
    )
    .await;
    assert_eq!(first.status, 200);
    let again = post_signed(
        &gw,
        &Who {
            signer: &ed,
            kid: "bot-ed",
            actor: "report-bot",
        },
        ts,
        &init,
        &init,
        None,
    )
    .await;
    assert_eq!(again.status, 401);
    assert_eq!(again.body["code"], "replayed_request");
    // The retry carries the first request's correlation id: derived from the actor, the time
    // and the body hash.
    let cid = |r: &Reply| r.headers["x-correlation-id"].to_str().unwrap().to_string();
    assert_eq!(cid(&first), cid(&again));
    // A timestamp outside the window.
    let stale = post_signed(
        &gw,
        &Who {
            signer: &ed,
            kid: "bot-ed",
            actor: "report-bot",
        },
        now_s() - 600,
        &init,
        &init,
        None,
    )
    .await;
    assert_eq!(stale.body["code"], "invalid_credentials");
    assert_ne!(cid(&first), cid(&stale), "another time, another id");

    let recs = ledger_until(&gw.db_path(), |recs| {
        recs.iter()
            .filter(|r| r["decision"] == "deny" && r["facts"]["credential"] == "signed_actor")
            .count()
            >= 4
    });
    let codes: Vec<&str> = recs
        .iter()
        .filter(|r| r["decision"] == "deny" && r["facts"]["credential"] == "signed_actor")
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"replayed_request"), "{codes:?}");
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == "invalid_credentials")
            .count(),
        3,
        "{codes:?}"
    );
}

#[tokio::test]
async fn a_secret_the_gateway_cannot_read_stops_it_at_start() {
    let entry = "[[identity.actors]]\nkid = \"bot-h\"\nalgorithm = \"hmac-sha256\"\nsecret = \"env:PORTCULLIS_TEST_UNSET_SECRET\"\ntenant = \"acme\"\nrole = \"agent\"\n";
    let err = match Gateway::try_start(&demo_config("enforce", entry)) {
        Ok(_) => panic!("started without its secret"),
        Err(e) => e,
    };
    assert!(err.contains("PORTCULLIS_TEST_UNSET_SECRET"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_and_its_successor_are_both_valid_for_the_overlap() {
    let (old_seed, old_entry) = keygen("bot-1");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("portcullis.toml");
    std::fs::write(&cfg, demo_config("enforce", &old_entry)).unwrap();
    let out = Command::new(bin())
        .args([
            "actors",
            "rotate",
            "--kid",
            "bot-1",
            "--new-kid",
            "bot-2",
            "--overlap",
            "1h",
            "--json",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    use base64::Engine;
    let new_seed: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v["private"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    // The operator applies what the command printed: the old entry gets its not_after.
    let printed = v["config"].as_str().unwrap();
    let (new_entry, old_change) = printed.split_once("# In the entry of 'bot-1':\n").unwrap();
    assert!(new_entry.contains("not_before = ") && old_change.starts_with("not_after = "));
    let gw = Gateway::start(&demo_config(
        "enforce",
        &format!("{old_entry}{old_change}\n{new_entry}"),
    ));
    let init = initialize_body();
    for (signer, kid, ts) in [
        (Signer::Ed(old_seed), "bot-1", now_s() - 2),
        (Signer::Ed(new_seed), "bot-2", now_s() - 1),
    ] {
        let who = Who {
            signer: &signer,
            kid,
            actor: "report-bot",
        };
        let r = post_signed(&gw, &who, ts, &init, &init, None).await;
        assert_eq!(r.status, 200, "{kid}: {:?}", r.body);
    }
}
