use axum::http::HeaderValue;
use portcullis_protocol::Id;

use super::*;

fn req(method: &str, params: Value) -> Request {
    Request {
        id: Id::Num(1),
        method: method.into(),
        params: params.as_object().cloned(),
    }
}

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
    })
}

fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_bytes(v).unwrap(),
        );
    }
    h
}

fn good_headers(method: &str, name: Option<&[u8]>) -> HeaderMap {
    let mut pairs: Vec<(&str, &[u8])> = vec![
        ("mcp-protocol-version", b"2026-07-28"),
        ("mcp-method", method.as_bytes()),
    ];
    if let Some(n) = name {
        pairs.push(("mcp-name", n));
    }
    headers(&pairs)
}

fn code(r: Result<ModernClient, Failure>) -> ErrorCode {
    r.unwrap_err().code
}

#[test]
fn a_well_formed_request_passes_with_its_declarations() {
    let r = req("tools/call", json!({"name": "demo.echo", "_meta": meta()}));
    let c = validate(
        &good_headers("tools/call", Some(b"demo.echo")),
        &r,
        Method::ToolsCall,
    )
    .unwrap();
    assert_eq!(c.version, "2026-07-28");
    assert!(c.offers("sampling") && !c.offers("elicitation"));
    assert_eq!(c.log_rank, None);
    let encoded = b"=?base64?ZGVtby5lY2hv?=";
    assert!(
        validate(
            &good_headers("tools/call", Some(encoded)),
            &r,
            Method::ToolsCall
        )
        .is_ok()
    );
}

#[test]
fn header_and_body_disagreeing_is_a_header_mismatch() {
    let r = req("tools/call", json!({"name": "demo.echo", "_meta": meta()}));
    let m = Method::ToolsCall;
    assert_eq!(
        code(validate(
            &good_headers("tools/list", Some(b"demo.echo")),
            &r,
            m
        )),
        ErrorCode::HeaderMismatch
    );
    assert_eq!(
        code(validate(
            &good_headers("tools/call", Some(b"demo.other")),
            &r,
            m
        )),
        ErrorCode::HeaderMismatch
    );
    assert_eq!(
        code(validate(&good_headers("tools/call", None), &r, m)),
        ErrorCode::HeaderMismatch,
        "Mcp-Name is required for tools/call"
    );
    let no_method = headers(&[
        ("mcp-protocol-version", b"2026-07-28"),
        ("mcp-name", b"demo.echo"),
    ]);
    assert_eq!(code(validate(&no_method, &r, m)), ErrorCode::HeaderMismatch);
    let no_version = headers(&[("mcp-method", b"tools/call"), ("mcp-name", b"demo.echo")]);
    assert_eq!(
        code(validate(&no_version, &r, m)),
        ErrorCode::HeaderMismatch
    );
    let mut repeated = good_headers("tools/call", Some(b"demo.echo"));
    repeated.append("mcp-method", HeaderValue::from_static("tools/call"));
    assert_eq!(code(validate(&repeated, &r, m)), ErrorCode::HeaderMismatch);
    let other_version = headers(&[
        ("mcp-protocol-version", b"2025-11-25"),
        ("mcp-method", b"tools/call"),
        ("mcp-name", b"demo.echo"),
    ]);
    assert_eq!(
        code(validate(&other_version, &r, m)),
        ErrorCode::HeaderMismatch
    );
    let hostile = good_headers("tools/call", Some(b"=?base64?%%%?="));
    assert_eq!(code(validate(&hostile, &r, m)), ErrorCode::HeaderMismatch);
}

#[test]
fn missing_or_malformed_meta_and_unknown_revisions_are_refused() {
    let h = good_headers("tools/list", None);
    assert_eq!(
        code(validate(
            &h,
            &req("tools/list", json!({})),
            Method::ToolsList
        )),
        ErrorCode::InvalidMeta
    );
    let no_caps = json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}});
    assert_eq!(
        code(validate(&h, &req("tools/list", no_caps), Method::ToolsList)),
        ErrorCode::InvalidMeta
    );
    let mut bad_level = meta();
    bad_level["io.modelcontextprotocol/logLevel"] = json!("loud");
    assert_eq!(
        code(validate(
            &h,
            &req("tools/list", json!({"_meta": bad_level})),
            Method::ToolsList
        )),
        ErrorCode::InvalidMeta
    );
    let mut future = meta();
    future["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let h = headers(&[
        ("mcp-protocol-version", b"2099-01-01"),
        ("mcp-method", b"tools/list"),
    ]);
    let f = validate(
        &h,
        &req("tools/list", json!({"_meta": future})),
        Method::ToolsList,
    )
    .unwrap_err();
    assert_eq!(f.code, ErrorCode::UnsupportedProtocolVersion);
    assert_eq!(f.data.unwrap()["requested"], "2099-01-01");
}

#[test]
fn log_levels_are_read() {
    let mut m = meta();
    m["io.modelcontextprotocol/logLevel"] = json!("warning");
    let c = validate(
        &good_headers("tools/list", None),
        &req("tools/list", json!({"_meta": m})),
        Method::ToolsList,
    )
    .unwrap();
    assert_eq!(c.log_rank, mcp::log_level_rank("warning"));
}

#[test]
fn header_params_follow_the_schema() {
    let schema = json!({
        "type": "object",
        "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "n": {"type": "integer", "x-mcp-header": "N"},
            "nested": {"type": "object", "properties": {"deep": {"type": "boolean", "x-mcp-header": "Deep"}}},
            "plain": {"type": "string"}
        }
    });
    let mut out = Vec::new();
    collect_header_params(
        Some(&schema),
        &json!({"region": "us", "n": 42, "nested": {"deep": true}, "plain": "x"}),
        &mut out,
        0,
    );
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        out,
        vec![
            ("Deep".to_string(), json!(true)),
            ("N".to_string(), json!(42)),
            ("Region".to_string(), json!("us")),
        ]
    );
    let mut none = Vec::new();
    collect_header_params(Some(&schema), &json!({"region": null}), &mut none, 0);
    assert!(none.is_empty(), "absent or null arguments need no header");
    assert!(numbers_equal("42.0", &json!(42)));
    assert!(!numbers_equal("41", &json!(42)));
}
