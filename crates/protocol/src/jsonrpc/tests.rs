use super::*;

fn err(s: &str) -> DecodeError {
    decode(s.as_bytes()).unwrap_err()
}

#[test]
fn request_notification_and_response_decode() {
    let m = decode(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}"#).unwrap();
    assert_eq!(
        m,
        Message::Request(Request {
            id: Id::Num(7),
            method: "tools/list".into(),
            params: Some(Map::new())
        })
    );
    let m = decode(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
    assert!(matches!(m, Message::Notification(n) if n.method == "notifications/initialized"));
    let m = decode(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
    assert!(matches!(m, Message::Response(r) if r.id == Id::Str("a".into()) && r.outcome.is_ok()));
}

#[test]
fn malformed_json_is_a_parse_error() {
    assert!(matches!(err("{"), DecodeError::Parse(_)));
    assert!(matches!(err(""), DecodeError::Parse(_)));
    assert!(matches!(err("\u{0}"), DecodeError::Parse(_)));
}

#[test]
fn batches_are_refused() {
    assert_eq!(
        err(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
        DecodeError::Batch
    );
    assert_eq!(err("[]"), DecodeError::Batch);
}

#[test]
fn structural_errors_are_invalid_requests() {
    for body in [
        r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        r#"{"id":1,"method":"ping"}"#,
        r#"{"jsonrpc":2.0,"id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":""}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","extra":1}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}"#,
        r#"{"jsonrpc":"2.0"}"#,
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"x"}}"#,
        r#""just a string""#,
        "42",
    ] {
        assert!(matches!(err(body), DecodeError::Invalid(_)), "{body}");
    }
}

#[test]
fn hostile_sizes_are_refused() {
    let long_method = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"{}"}}"#,
        "m".repeat(300)
    );
    assert!(matches!(err(&long_method), DecodeError::Invalid(_)));
    let long_id = format!(
        r#"{{"jsonrpc":"2.0","id":"{}","method":"ping"}}"#,
        "i".repeat(300)
    );
    assert!(matches!(err(&long_id), DecodeError::Invalid(_)));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(decode(deep.as_bytes()).is_err());
}

#[test]
fn id_hint_reads_ids_of_invalid_messages() {
    assert_eq!(
        DecodeError::id_hint(br#"{"jsonrpc":"1.0","id":3,"method":"x"}"#),
        Some(Id::Num(3))
    );
    assert_eq!(DecodeError::id_hint(b"{"), None);
}

#[test]
fn error_response_carries_the_contract() {
    let body = crate::ErrorBody::new(crate::ErrorCode::UnknownTool, "no such tool", "c-1");
    let v = error_response(Some(&Id::Num(1)), &body);
    assert_eq!(v["error"]["code"], -32602);
    assert_eq!(v["error"]["data"]["code"], "unknown_tool");
    assert_eq!(v["error"]["data"]["correlationId"], "c-1");
    assert!(v["error"]["data"]["guidance"].is_string());
}
