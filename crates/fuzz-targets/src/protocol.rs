//! The JSON-RPC decoder (every request body) and MCP header values (`Mcp-Name`, `Mcp-Param-*`).

use base64::Engine as _;
use portcullis_protocol::jsonrpc::{self, DecodeError, Id, MAX_ID_LEN, MAX_METHOD_LEN, Message};
use portcullis_protocol::{ErrorCode, mcp, strict};
use serde_json::Value;

/// `jsonrpc::decode`: a decoded message re-encodes to JSON that decodes to the same message;
/// what it accepts respects the size limits; its error kinds agree with the strict JSON parse,
/// which reads what serde_json reads except repeated keys; `id_hint` finds a request's id.
pub fn jsonrpc_decode(data: &[u8]) {
    let parsed = strict::from_slice(data);
    match (&parsed, serde_json::from_slice::<Value>(data)) {
        (Ok(strict), Ok(lax)) => assert_eq!(strict, &lax),
        (Ok(_), Err(e)) => panic!("strict JSON accepted what serde_json refuses: {e}"),
        (Err(_), _) => {}
    }
    let hint = DecodeError::id_hint(data);
    match jsonrpc::decode(data) {
        Ok(m) => {
            let again = jsonrpc::decode(m.to_value().to_string().as_bytes())
                .expect("a re-encoded message decodes");
            // Exact, floats included: numbers are parsed to the nearest double
            // (serde_json's float_roundtrip), so a client's number reaches the tool unchanged.
            assert_eq!(
                again.to_value(),
                m.to_value(),
                "re-encoded message decodes differently"
            );
            let (id, method) = match &m {
                Message::Request(r) => (Some(&r.id), Some(&r.method)),
                Message::Notification(n) => (None, Some(&n.method)),
                Message::Response(r) => (Some(&r.id), None),
            };
            if let Some(method) = method {
                assert!(!method.is_empty() && method.len() <= MAX_METHOD_LEN);
            }
            if let Some(Id::Str(s)) = id {
                assert!(s.len() <= MAX_ID_LEN);
            }
            assert_eq!(hint.as_ref(), id, "id_hint disagrees with the decoded id");
        }
        Err(e) => {
            match &e {
                DecodeError::Parse(_) => {
                    assert!(parsed.is_err(), "valid JSON refused as unparsable")
                }
                DecodeError::Batch => assert!(matches!(parsed, Ok(Value::Array(_)))),
                DecodeError::Invalid(_) => assert!(matches!(parsed, Ok(ref v) if !v.is_array())),
            }
            assert!(matches!(
                e.code(),
                ErrorCode::ParseError | ErrorCode::BatchNotSupported | ErrorCode::InvalidRequest
            ));
        }
    }
}

const SENTINEL_PREFIX: &str = "=?base64?";
const SENTINEL_SUFFIX: &str = "?=";

/// `mcp::decode_header_value`: only visible ASCII is read; a plain value stands for itself;
/// any decoded text, put back in the Base64 sentinel form, decodes to the same text.
pub fn mcp_header_value(data: &[u8]) {
    let Ok(text) = mcp::decode_header_value(data) else {
        return;
    };
    assert!(
        data.iter()
            .all(|b| *b == b'\t' || (0x20..=0x7e).contains(b))
    );
    let raw = std::str::from_utf8(data).expect("visible ASCII is UTF-8");
    let sentinel =
        raw.starts_with(SENTINEL_PREFIX) && raw[SENTINEL_PREFIX.len()..].ends_with(SENTINEL_SUFFIX);
    if !sentinel {
        assert_eq!(text, raw, "a plain value must stand for itself");
    }
    let encoded = format!(
        "{SENTINEL_PREFIX}{}{SENTINEL_SUFFIX}",
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
    );
    assert_eq!(
        mcp::decode_header_value(encoded.as_bytes()).as_deref(),
        Ok(text.as_str())
    );
}
