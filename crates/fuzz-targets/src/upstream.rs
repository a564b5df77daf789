//! What an upstream sends: stdio lines, HTTP bodies and SSE event data, classified.

use portcullis_protocol::jsonrpc::{self, Id, Message};
use portcullis_upstream::{Incoming, UpstreamError, classify};
use serde_json::Value;

fn check(v: Value) {
    let strict = jsonrpc::decode_value(v.clone());
    let obj = v.as_object();
    let method = obj.and_then(|m| m.get("method"));
    let has_id = obj.is_some_and(|m| m.contains_key("id"));
    match classify(v.clone()) {
        Incoming::ServerRequest(m) => {
            assert_eq!(m, v);
            assert!(method.is_some_and(Value::is_string) && has_id);
        }
        Incoming::Notification(m) => {
            assert_eq!(m, v);
            assert!(method.is_some_and(Value::is_string) && !has_id);
        }
        Incoming::Response(id, reply) => {
            let obj = obj.expect("a response is an object");
            assert!(method.is_none());
            assert_eq!(obj.get("id").and_then(Value::as_u64), Some(id));
            match reply {
                Ok(result) => {
                    assert_eq!(obj.get("jsonrpc"), Some(&Value::from("2.0")));
                    assert_eq!(obj.get("result"), Some(&result));
                    assert!(!obj.contains_key("error"));
                }
                Err(UpstreamError::Rpc { code, message, .. }) => {
                    let e = &obj["error"];
                    assert!(!obj.contains_key("result"));
                    assert_eq!(e["code"].as_i64(), Some(code));
                    assert_eq!(e["message"].as_str(), Some(message.as_str()));
                }
                Err(UpstreamError::InvalidResponse(_)) => {}
                Err(other) => panic!("unexpected classification error {other:?}"),
            }
        }
        Incoming::Unmatchable(_) => {
            let id = obj.and_then(|m| m.get("id")).and_then(Value::as_u64);
            assert!(method.is_some_and(|m| !m.is_string()) || (method.is_none() && id.is_none()));
        }
    }
    // What the strict decoder accepts from a client, the upstream side reads the same way.
    match (strict, classify(v)) {
        (Ok(Message::Request(_)), got) => assert!(matches!(got, Incoming::ServerRequest(_))),
        (Ok(Message::Notification(_)), got) => assert!(matches!(got, Incoming::Notification(_))),
        (Ok(Message::Response(r)), got) => match r.id {
            Id::Num(n) if n >= 0 => match (r.outcome, got) {
                (Ok(a), Incoming::Response(id, Ok(b))) => assert!(id == n as u64 && a == b),
                (Err(e), Incoming::Response(id, Err(UpstreamError::Rpc { code, .. }))) => {
                    assert!(id == n as u64 && e["code"].as_i64() == Some(code))
                }
                (outcome, got) => panic!("{outcome:?} classified as {got:?}"),
            },
            _ => assert!(matches!(got, Incoming::Unmatchable(_))),
        },
        (Err(_), _) => {}
    }
}

/// `classify` on the input read as a stdio stream (each non-blank line, as the stdio
/// connector reads them) and as one HTTP body: each kind it reports is what the message is,
/// and it agrees with the strict decoder on every message that decoder accepts.
pub fn upstream_classify(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        check(v);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(16) {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            check(v);
        }
    }
}
