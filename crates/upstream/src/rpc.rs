//! What the gateway accepts from an upstream: responses to ids it issued, well formed, matched
//! back by id. Pure checks.

use serde_json::{Value, json};

use crate::UpstreamError;
use crate::call::Reply;

/// A message read from an upstream, classified.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A response to request `id` (its result, or its error as `UpstreamError::Rpc`), or an
    /// invalid response that still names an id (`InvalidResponse`).
    Response(u64, Reply),
    /// A request from the server (it has an id and a method).
    ServerRequest(Value),
    Notification(Value),
    /// JSON, but no usable id: cannot be matched to anything.
    Unmatchable(String),
}

/// Classify one JSON value read from an upstream (a stdio line, an HTTP body or SSE event).
pub fn classify(v: Value) -> Incoming {
    let Value::Object(m) = v else {
        return Incoming::Unmatchable("message is not an object".into());
    };
    if m.get("method").is_some_and(Value::is_string) {
        return if m.contains_key("id") {
            Incoming::ServerRequest(Value::Object(m))
        } else {
            Incoming::Notification(Value::Object(m))
        };
    }
    if m.contains_key("method") {
        return Incoming::Unmatchable("'method' is not a string".into());
    }
    let Some(id) = m.get("id").and_then(Value::as_u64) else {
        return Incoming::Unmatchable(
            "response id is missing or not one the gateway issued".into(),
        );
    };
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Incoming::Response(
            id,
            Err(UpstreamError::InvalidResponse(
                "'jsonrpc' is not \"2.0\"".into(),
            )),
        );
    }
    let reply = match (m.get("result"), m.get("error")) {
        (Some(r), None) => Ok(r.clone()),
        (None, Some(e)) => {
            let code = e.get("code").and_then(Value::as_i64);
            let message = e.get("message").and_then(Value::as_str);
            match (code, message) {
                (Some(code), Some(message)) => Err(UpstreamError::Rpc {
                    code,
                    message: message.to_string(),
                    data: e.get("data").cloned(),
                }),
                _ => Err(UpstreamError::InvalidResponse(
                    "'error' lacks an integer code or a string message".into(),
                )),
            }
        }
        _ => Err(UpstreamError::InvalidResponse(
            "a response needs exactly one of 'result' and 'error'".into(),
        )),
    };
    Incoming::Response(id, reply)
}

pub(crate) fn request(id: u64, method: &str, params: Option<Value>) -> Value {
    let mut v = json!({"jsonrpc": "2.0", "id": id, "method": method});
    if let Some(p) = params {
        v["params"] = p;
    }
    v
}

pub(crate) fn notification(method: &str, params: Option<Value>) -> Value {
    let mut v = json!({"jsonrpc": "2.0", "method": method});
    if let Some(p) = params {
        v["params"] = p;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_classified_strictly() {
        assert_eq!(
            classify(json!({"jsonrpc": "2.0", "id": 3, "result": {"a": 1}})),
            Incoming::Response(3, Ok(json!({"a": 1})))
        );
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "id": 3, "error": {"code": -1, "message": "no"}})),
            Incoming::Response(3, Err(UpstreamError::Rpc { code: -1, .. }))
        ));
        for bad in [
            json!({"jsonrpc": "1.0", "id": 3, "result": {}}),
            json!({"jsonrpc": "2.0", "id": 3}),
            json!({"jsonrpc": "2.0", "id": 3, "result": {}, "error": {"code": 1, "message": "x"}}),
            json!({"jsonrpc": "2.0", "id": 3, "error": {"code": "x", "message": "x"}}),
        ] {
            assert!(matches!(
                classify(bad),
                Incoming::Response(3, Err(UpstreamError::InvalidResponse(_)))
            ));
        }
        for unmatchable in [
            json!([1]),
            json!("x"),
            json!({"jsonrpc": "2.0", "id": "abc", "result": {}}),
            json!({"jsonrpc": "2.0", "result": {}}),
        ] {
            assert!(matches!(classify(unmatchable), Incoming::Unmatchable(_)));
        }
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "id": 1, "method": "sampling/createMessage"})),
            Incoming::ServerRequest(_)
        ));
        assert_eq!(
            classify(json!({"jsonrpc": "2.0", "method": "notifications/message"})),
            Incoming::Notification(json!({"jsonrpc": "2.0", "method": "notifications/message"}))
        );
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "method": 5})),
            Incoming::Unmatchable(_)
        ));
    }
}
