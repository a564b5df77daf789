//! Audit-first for every governed method, in both wire eras: an in-process upstream counts, the
//! moment each request arrives, the decision records the gateway's ledger holds for that
//! request's correlation id. Exactly one must be there already — written before forwarding,
//! not merely at some point — and afterwards the ledger has the decision and its outcome under
//! the governed method. A denied request is recorded and never reaches the upstream.

mod common;
#[path = "common/fault_upstream.rs"]
mod fault_upstream;

use std::time::Duration;

use common::*;
use fault_upstream::{FaultState, PROMPT, RESOURCE, TEMPLATE};
use serde_json::{Value, json};

/// The gateway in front of the fault upstream `u`; `reader` may use everything, `narrow` only
/// `u.probe`.
async fn start() -> (Gateway, FaultState) {
    let (url, st) = fault_upstream::start().await;
    let cfg = format!(
        r#"
[roles.reader]
allow = ["*"]

[roles.narrow]
allow = ["u.probe"]

[[upstreams]]
name = "u"
transport = "http"
url = "{url}"
"#
    );
    let gw = Gateway::start(&cfg);
    *st.ledger.lock().unwrap() = Some(gw.db_path());
    (gw, st)
}

fn correlation(headers: &reqwest::header::HeaderMap) -> String {
    headers["x-correlation-id"].to_str().unwrap().to_string()
}

fn namespaced(name: &str) -> String {
    format!("u.{name}")
}

/// The requests every era governs the same way: (method, params, governed item).
fn shared_cases() -> Vec<(&'static str, Value, String)> {
    let prompt = namespaced(PROMPT);
    vec![
        (
            "prompts/get",
            json!({"name": prompt, "arguments": {"who": "x"}}),
            prompt.clone(),
        ),
        (
            "resources/read",
            json!({"uri": RESOURCE}),
            namespaced(RESOURCE),
        ),
        (
            "resources/read",
            json!({"uri": "fault://items/7"}),
            namespaced("fault://items/7"),
        ),
        (
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": prompt},
                   "argument": {"name": "who", "value": "a"}}),
            prompt.clone(),
        ),
        (
            "completion/complete",
            json!({"ref": {"type": "ref/resource", "uri": TEMPLATE},
                   "argument": {"name": "id", "value": "1"}}),
            namespaced(TEMPLATE),
        ),
    ]
}

/// The upstream got `method` under `cid` when exactly one decision record of it was already
/// in the ledger; the ledger then holds that one decision (allow, for `item`) and an `ok`
/// outcome, both under `method`.
async fn assert_recorded_first(
    gw: &Gateway,
    st: &FaultState,
    cid: &str,
    method: &str,
    item: Option<&str>,
) {
    let arrival = wait_for(
        &format!("{method} ({cid}) to reach the upstream"),
        Duration::from_secs(10),
        || st.arrival(method, cid),
    )
    .await;
    assert_eq!(
        arrival.decisions, 1,
        "{method}: decision records for {cid} when the upstream saw the request"
    );
    let db = gw.db_path();
    let of = |kind: &'static str| {
        move |r: &Value| r["correlation_id"] == cid && r["kind"] == kind && r["method"] == method
    };
    let outcome = wait_for_record(&db, &format!("the outcome of {method}"), of("outcome")).await;
    assert_eq!(outcome["code"], "ok", "{outcome}");
    let decisions: Vec<Value> = ledger_now(&db).into_iter().filter(of("decision")).collect();
    assert_eq!(decisions.len(), 1, "{method}: {decisions:?}");
    assert_eq!(decisions[0]["decision"], "allow", "{method}");
    assert_eq!(decisions[0]["tool"].as_str(), item, "{method}");
    assert_eq!(outcome["tool"].as_str(), item, "{method}");
}

// Multi-threaded: the in-process upstream must answer while Gateway::start blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_governed_requests_are_recorded_before_the_upstream_sees_them() {
    let (gw, st) = start().await;
    let (_, key) = gw.key("reader", &[]);
    let sid = initialize(&gw.url, &key).await;
    let resource = namespaced(RESOURCE);
    let mut cases = shared_cases();
    cases.extend([
        (
            "resources/subscribe",
            json!({"uri": RESOURCE}),
            resource.clone(),
        ),
        (
            "resources/unsubscribe",
            json!({"uri": RESOURCE}),
            resource.clone(),
        ),
    ]);
    for (method, params, item) in cases {
        let r = rpc(&gw.url, &key, Some(&sid), method, params).await;
        assert!(r.body["result"].is_object(), "{method}: {:?}", r.body);
        assert_recorded_first(&gw, &st, &correlation(&r.headers), method, Some(&item)).await;
    }

    // The gateway answers at once and tells the upstream in the background, under the
    // correlation id of the client's request.
    let r = rpc(
        &gw.url,
        &key,
        Some(&sid),
        "logging/setLevel",
        json!({"level": "debug"}),
    )
    .await;
    assert_eq!(r.body["result"], json!({}), "{:?}", r.body);
    assert_recorded_first(&gw, &st, &correlation(&r.headers), "logging/setLevel", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_governed_requests_are_recorded_before_the_upstream_sees_them() {
    let (gw, st) = start().await;
    let (_, key) = gw.key("reader", &[]);
    let mut cases = shared_cases();
    cases.push((
        "tools/call",
        json!({"name": "u.probe", "arguments": {}}),
        namespaced("probe"),
    ));
    for (method, params, item) in cases {
        let r = modern(&gw.url, &key, method, params, &[]).await;
        assert_eq!(
            r.body["result"]["resultType"], "complete",
            "{method}: {:?}",
            r.body
        );
        assert_recorded_first(&gw, &st, &correlation(&r.headers), method, Some(&item)).await;
    }

    // A log level lower than any asked before is sent upstream as a logging/setLevel, under
    // the correlation id of the request that carried it.
    let r = modern(
        &gw.url,
        &key,
        "tools/list",
        json!({"_meta": {"io.modelcontextprotocol/logLevel": "debug"}}),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_recorded_first(&gw, &st, &correlation(&r.headers), "logging/setLevel", None).await;
}

/// Open a `subscriptions/listen` stream watching `uri`; returns it once acknowledged.
async fn listen(gw: &Gateway, key: &str, uri: &str) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 41, "method": "subscriptions/listen", "params": {
        "notifications": {"resourceSubscriptions": [uri]},
        "_meta": modern_meta(),
    }});
    let mut stream = http()
        .post(&gw.url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", "subscriptions/listen")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let (ack, _) = read_events(&mut stream, |_| true).await;
    assert_eq!(
        ack[0]["params"]["notifications"]["resourceSubscriptions"][0], uri,
        "{ack:?}"
    );
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_subscription_is_recorded_before_the_upstream_is_asked() {
    let (gw, st) = start().await;
    let (_, key) = gw.key("reader", &[]);
    let first = listen(&gw, &key, RESOURCE).await;
    let cid = correlation(first.headers());
    assert_recorded_first(
        &gw,
        &st,
        &cid,
        "resources/subscribe",
        Some(&namespaced(RESOURCE)),
    )
    .await;

    // A second watcher of the same URI is governed and recorded too, but the upstream is
    // already asked.
    let second = listen(&gw, &key, RESOURCE).await;
    let again = correlation(second.headers());
    let outcome = wait_for_record(&gw.db_path(), "the second watcher's outcome", |r| {
        r["correlation_id"] == again.as_str() && r["kind"] == "outcome"
    })
    .await;
    assert_eq!(outcome["method"], "resources/subscribe");
    assert_eq!(outcome["code"], "ok");
    assert!(!st.saw(&again), "the upstream was asked only once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_request_is_recorded_and_never_reaches_the_upstream() {
    let (gw, st) = start().await;
    let (_, key) = gw.key("narrow", &[]);
    let sid = initialize(&gw.url, &key).await;
    let mut refused = Vec::new();
    for (method, params, item) in shared_cases() {
        let legacy = rpc(&gw.url, &key, Some(&sid), method, params.clone()).await;
        let stateless = modern(&gw.url, &key, method, params, &[]).await;
        for r in [legacy, stateless] {
            let code = r
                .error_code()
                .unwrap_or_else(|| panic!("{method}: {:?}", r.body));
            refused.push((
                correlation(&r.headers),
                method,
                item.clone(),
                code.to_string(),
            ));
        }
    }
    let subscribe = rpc(
        &gw.url,
        &key,
        Some(&sid),
        "resources/subscribe",
        json!({"uri": RESOURCE}),
    )
    .await;
    refused.push((
        correlation(&subscribe.headers),
        "resources/subscribe",
        namespaced(RESOURCE),
        subscribe.error_code().unwrap_or_default().to_string(),
    ));

    let records = ledger_now(&gw.db_path());
    for (cid, method, item, code) in refused {
        let mine: Vec<&Value> = records
            .iter()
            .filter(|r| r["correlation_id"] == cid.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "{method}: only a decision record: {mine:?}");
        let d = mine[0];
        assert_eq!(d["kind"], "decision", "{method}");
        assert_eq!(d["decision"], "deny", "{method}");
        assert_eq!(d["method"], method);
        assert_eq!(d["tool"], item.as_str(), "{method}");
        assert_eq!(d["code"], code.as_str(), "{method}");
        assert!(!st.saw(&cid), "{method} reached the upstream");
    }

    // The allowed request is forwarded, so the upstream was reachable all along.
    let r = call(&gw.url, &key, &sid, "u.probe", json!({}), None).await;
    assert_eq!(text_of(&r.body), "decision records: 1", "{:?}", r.body);
    assert!(st.saw(&correlation(&r.headers)));
}
