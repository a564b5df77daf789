use axum::http::HeaderValue;

use super::*;

fn params(v: Value) -> Option<Map<String, Value>> {
    v.as_object().cloned()
}

fn hdr(v: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(DRY_RUN_HEADER, HeaderValue::from_str(v).unwrap());
    h
}

#[test]
fn calls_are_dry_run_unless_explicitly_live() {
    let none = HeaderMap::new();
    let p = parse_params(params(json!({"name": "a.b"})).as_ref(), &none).unwrap();
    assert!(!p.live);
    assert_eq!(p.arguments, json!({}));
    let p = parse_params(
        params(json!({"name": "a.b", "_meta": {"dry_run": false}})).as_ref(),
        &none,
    )
    .unwrap();
    assert!(p.live);
    let p = parse_params(params(json!({"name": "a.b"})).as_ref(), &hdr("false")).unwrap();
    assert!(p.live);
    let p = parse_params(
        params(json!({"name": "a.b", "_meta": {"dry_run": false}})).as_ref(),
        &hdr("true"),
    )
    .unwrap();
    assert!(!p.live, "any request for a dry-run wins");
    for loose in ["FALSE", "False", " false", "false ", "0", "no", ""] {
        let f = parse_params(params(json!({"name": "a.b"})).as_ref(), &hdr(loose)).unwrap_err();
        assert_eq!(f.code, ErrorCode::InvalidParams, "{loose:?}");
    }
}

#[test]
fn malformed_params_are_invalid() {
    let none = HeaderMap::new();
    for bad in [
        json!({}),
        json!({"name": 3}),
        json!({"name": ""}),
        json!({"name": "x".repeat(300)}),
        json!({"name": "a.b", "arguments": [1]}),
        json!({"name": "a.b", "arguments": "x"}),
        json!({"name": "a.b", "_meta": 1}),
        json!({"name": "a.b", "_meta": {"dry_run": "no"}}),
    ] {
        let f = parse_params(params(bad.clone()).as_ref(), &none).unwrap_err();
        assert_eq!(f.code, ErrorCode::InvalidParams, "{bad}");
    }
    assert!(parse_params(None, &none).is_err());
    assert!(parse_params(params(json!({"name": "a.b"})).as_ref(), &hdr("maybe")).is_err());
}

#[test]
fn a_repeated_dry_run_header_is_refused() {
    let mut h = hdr("false");
    h.append(DRY_RUN_HEADER, HeaderValue::from_static("true"));
    let f = parse_params(params(json!({"name": "a.b"})).as_ref(), &h).unwrap_err();
    assert_eq!(f.code, ErrorCode::RepeatedHeader);
}

fn key_hdr(v: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(IDEMPOTENCY_HEADER, HeaderValue::from_bytes(v).unwrap());
    h
}

#[test]
fn the_idempotency_key_comes_from_the_header_or_meta() {
    let none = HeaderMap::new();
    let p = parse_params(params(json!({"name": "a.b"})).as_ref(), &none).unwrap();
    assert_eq!(p.idempotency_key, None);
    let p = parse_params(params(json!({"name": "a.b"})).as_ref(), &key_hdr(b"k-1")).unwrap();
    assert_eq!(p.idempotency_key.as_deref(), Some("k-1"));
    let meta = json!({"name": "a.b", "_meta": {"io.portcullis/idempotencyKey": "k-2"}});
    let p = parse_params(params(meta.clone()).as_ref(), &none).unwrap();
    assert_eq!(p.idempotency_key.as_deref(), Some("k-2"));
    let p = parse_params(params(meta.clone()).as_ref(), &key_hdr(b"k-2")).unwrap();
    assert_eq!(p.idempotency_key.as_deref(), Some("k-2"), "both, the same");
    let f = parse_params(params(meta).as_ref(), &key_hdr(b"k-3")).unwrap_err();
    assert_eq!(f.code, ErrorCode::InvalidParams);
    assert!(f.reason.contains("differ"), "{}", f.reason);
}

#[test]
fn malformed_oversized_and_hostile_idempotency_keys_are_refused() {
    let none = HeaderMap::new();
    let long = "k".repeat(256);
    for bad in [
        b"".as_slice(),
        b"a b",
        b"tab\there",
        long.as_bytes(),
        b"\xff\xfe",
    ] {
        let f = parse_params(params(json!({"name": "a.b"})).as_ref(), &key_hdr(bad)).unwrap_err();
        assert_eq!(f.code, ErrorCode::InvalidParams, "{bad:?}");
    }
    for bad in [
        json!(""),
        json!(7),
        json!(null),
        json!({"k": 1}),
        json!("ü"),
        json!(long),
    ] {
        let p = json!({"name": "a.b", "_meta": {"io.portcullis/idempotencyKey": bad}});
        let f = parse_params(params(p).as_ref(), &none).unwrap_err();
        assert_eq!(f.code, ErrorCode::InvalidParams, "{bad}");
    }
    let ok = "k".repeat(255);
    let p = parse_params(
        params(json!({"name": "a.b"})).as_ref(),
        &key_hdr(ok.as_bytes()),
    )
    .unwrap();
    assert_eq!(p.idempotency_key.as_deref(), Some(ok.as_str()));
    let mut twice = key_hdr(b"a");
    twice.append(IDEMPOTENCY_HEADER, HeaderValue::from_static("b"));
    let f = parse_params(params(json!({"name": "a.b"})).as_ref(), &twice).unwrap_err();
    assert_eq!(f.code, ErrorCode::RepeatedHeader);
}
