//! Result caps and the `max_results` bound through the real gateway, with the demo server's
//! `big` tool (a text of `bytes` characters) as the upstream: a result over its tool's caps is
//! cut with a marker the caller and the ledger see, or withheld; a count argument above its
//! bound is refused, and left out it is set to the bound.

mod common;

use common::*;
use serde_json::json;

async fn big(gw: &Gateway, key: &str, sid: &str, args: serde_json::Value) -> Reply {
    call(&gw.url, key, sid, "demo.big", args, None).await
}

#[tokio::test]
async fn a_result_over_its_cap_is_cut_with_a_marker_in_the_result_and_the_ledger() {
    let gw = Gateway::start(&demo_config(
        "enforce",
        "[[tools]]\nmatch = \"demo.big\"\nmax_result_bytes = 4096\n",
    ));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    let small = big(&gw, &key, &sid, json!({"bytes": 100})).await;
    assert_eq!(text_of(&small.body), "x".repeat(100));
    assert!(small.body["result"]["_meta"]["io.portcullis/truncated"].is_null());

    let r = big(&gw, &key, &sid, json!({"bytes": 100_000})).await;
    let result = &r.body["result"];
    let size = serde_json::to_vec(result).unwrap().len();
    assert!(size <= 4096, "{size} bytes went to the caller");
    let content = result["content"].as_array().unwrap();
    let kept = content[0]["text"].as_str().unwrap();
    assert!(
        kept.len() > 2000 && kept.chars().all(|c| c == 'x'),
        "{}",
        kept.len()
    );
    let marker = content.last().unwrap()["text"].as_str().unwrap();
    assert!(marker.contains("the gateway cut this result"), "{marker}");
    let meta = &result["_meta"]["io.portcullis/truncated"];
    assert_eq!(meta["keptItems"], 1);
    assert!(meta["resultBytes"].as_u64().unwrap() > 100_000);

    let cid = r.headers["x-correlation-id"].to_str().unwrap();
    let outcome = wait_for_record(&gw.db_path(), "the outcome record", |rec| {
        rec["correlation_id"] == cid && rec["kind"] == "outcome"
    })
    .await;
    assert_eq!(outcome["code"], "ok");
    assert!(
        outcome["facts"]["truncated"]
            .as_str()
            .unwrap()
            .contains("of 1 content items"),
        "{outcome}"
    );
}

#[tokio::test]
async fn refuse_withholds_a_result_over_its_cap() {
    let gw = Gateway::start(&demo_config(
        "enforce",
        "[[tools]]\nmatch = \"demo.big\"\nmax_result_bytes = 4096\non_oversize = \"refuse\"\n",
    ));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = big(&gw, &key, &sid, json!({"bytes": 10_000})).await;
    assert_eq!(r.error_code(), Some("result_too_large"), "{:?}", r.body);
    assert_eq!(r.body["error"]["data"]["maxResultBytes"], 4096);
    assert!(!r.body.to_string().contains(&"x".repeat(5000)));
    let cid = r.headers["x-correlation-id"].to_str().unwrap();
    wait_for_record(&gw.db_path(), "the outcome record", |rec| {
        rec["correlation_id"] == cid && rec["code"] == "result_too_large"
    })
    .await;
}

#[tokio::test]
async fn a_count_argument_is_bounded_and_set_when_left_out() {
    let gw = Gateway::start(&demo_config(
        "enforce",
        "[[tools]]\nmatch = \"demo.big\"\nresults_argument = \"bytes\"\nmax_results = 500\n",
    ));
    let (_, key) = gw.key("agent", &[]);
    let sid = initialize(&gw.url, &key).await;
    let r = big(&gw, &key, &sid, json!({"bytes": 501})).await;
    assert_eq!(r.error_code(), Some("invalid_params"), "{:?}", r.body);
    assert_eq!(r.body["error"]["data"]["max"], 500);
    assert_eq!(r.body["error"]["data"]["argument"], "bytes");
    // Not a whole number: the tool's own schema refuses it first.
    for bad in [json!("5"), json!(-1), json!(2.5), json!(null)] {
        let r = big(&gw, &key, &sid, json!({"bytes": bad})).await;
        assert_eq!(
            r.error_code(),
            Some("invalid_arguments"),
            "{bad}: {:?}",
            r.body
        );
    }
    let r = big(&gw, &key, &sid, json!({"bytes": 500})).await;
    assert_eq!(text_of(&r.body).len(), 500);
    // Left out: the tool requires it, and gets the bound.
    let r = big(&gw, &key, &sid, json!({})).await;
    assert_eq!(text_of(&r.body).len(), 500, "{:?}", r.body);
    let cid = r.headers["x-correlation-id"].to_str().unwrap();
    let decision = wait_for_record(&gw.db_path(), "the decision record", |rec| {
        rec["correlation_id"] == cid && rec["kind"] == "decision"
    })
    .await;
    assert_eq!(decision["facts"]["set_argument"], "bytes=500");
}
