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

mod round_trip {
    use proptest::prelude::*;

    use super::*;

    /// Strings of at most 240 bytes (any characters, control and non-ASCII included).
    fn text(max_chars: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(any::<char>(), 0..max_chars).prop_map(String::from_iter)
    }

    /// Floats that serde_json's default parser reads back exactly (few digits, small exponent);
    /// arbitrary floats can come back one ULP off (see `fuzz/RESULTS.md`).
    fn float() -> impl Strategy<Value = f64> {
        (-10_000_000i64..10_000_000, 0i32..12).prop_map(|(m, e)| m as f64 / 10f64.powi(e))
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            float().prop_map(Value::from),
            text(20).prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(text(12), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn params() -> impl Strategy<Value = Option<Map<String, Value>>> {
        prop::option::of(
            prop::collection::btree_map(text(12), json(), 0..6)
                .prop_map(|m| m.into_iter().collect()),
        )
    }

    fn id() -> impl Strategy<Value = Id> {
        prop_oneof![any::<i64>().prop_map(Id::Num), text(60).prop_map(Id::Str)]
    }

    fn method() -> impl Strategy<Value = String> {
        prop::collection::vec(any::<char>(), 1..60).prop_map(String::from_iter)
    }

    fn error() -> impl Strategy<Value = Value> {
        (any::<i64>(), text(40), prop::option::of(json())).prop_map(|(code, message, data)| {
            let mut e = serde_json::json!({"code": code, "message": message});
            if let Some(d) = data {
                e["data"] = d;
            }
            e
        })
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (id(), method(), params()).prop_map(|(id, method, params)| Message::Request(Request {
                id,
                method,
                params
            })),
            (method(), params()).prop_map(|(method, params)| Message::Notification(Notification {
                method,
                params
            })),
            (id(), json()).prop_map(|(id, r)| Message::Response(Response { id, outcome: Ok(r) })),
            (id(), error()).prop_map(|(id, e)| Message::Response(Response {
                id,
                outcome: Err(e)
            })),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn encoded_messages_decode_to_themselves(m in message()) {
            let bytes = serde_json::to_vec(&m.to_value()).unwrap();
            prop_assert_eq!(decode(&bytes), Ok(m.clone()));
            prop_assert_eq!(decode_value(m.to_value()), Ok(m));
        }

        #[test]
        fn an_unknown_member_is_refused(m in message(), key in "[a-z_]{1,8}") {
            prop_assume!(!matches!(
                key.as_str(),
                "jsonrpc" | "id" | "method" | "params" | "result" | "error"
            ));
            let mut v = m.to_value();
            v[key.as_str()] = Value::Null;
            prop_assert!(matches!(decode_value(v), Err(DecodeError::Invalid(_))));
        }
    }
}
