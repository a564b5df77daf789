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
