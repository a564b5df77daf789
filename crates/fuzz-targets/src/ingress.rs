//! Admission guards (Host, Origin) and `tools/call` params with the dry-run header.

use http::{HeaderMap, HeaderName, HeaderValue, header};
use portcullis_gateway::ingress::{check_host, check_origin};
use portcullis_gateway::methods::tools::{DRY_RUN_HEADER, IDEMPOTENCY_META, parse_params};
use portcullis_protocol::ErrorCode;
use serde_json::Value;

use crate::split_line;

fn one(name: HeaderName, value: &HeaderValue) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.append(name, value.clone());
    h
}

fn twice(name: HeaderName, value: &HeaderValue) -> HeaderMap {
    let mut h = one(name.clone(), value);
    h.append(name, value.clone());
    h
}

const HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1", "gateway.example.com"];
const ORIGINS: &[&str] = &[
    "https://app.example.com",
    "http://localhost:*",
    "http://127.0.0.1:*",
];

/// Whether `host` (a Host header, lower-cased) names one of `allowed`: `name`, `name:port`,
/// `[ipv6]` or `[ipv6]:port`, with a decimal port that fits 16 bits.
fn names_allowed_host(host: &str, allowed: &[String]) -> bool {
    let port_ok = |rest: &str| {
        rest.is_empty()
            || rest.strip_prefix(':').is_some_and(|p| {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
            })
    };
    allowed.iter().any(|a| {
        let named = if a.contains(':') {
            format!("[{a}]")
        } else {
            a.clone()
        };
        host.strip_prefix(&named).is_some_and(port_ok)
    })
}

/// Whether `origin` is what an allowed entry allows: the same text ignoring case, or for an
/// entry `<prefix>:*`, the prefix and a decimal port.
fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.to_ascii_lowercase();
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        origin == a
            || a.strip_suffix(":*").is_some_and(|prefix| {
                origin
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .is_some_and(|port| {
                        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                    })
            })
    })
}

/// `check_host` / `check_origin` with the input as the header's value (when it is a valid
/// header value): an accepted Host names an allowed host, an accepted Origin is an allowed
/// one, every refusal carries its stable code, and a repeated header is always refused.
pub fn ingress_host_origin(data: &[u8]) {
    let hosts: Vec<String> = HOSTS.iter().map(|s| s.to_string()).collect();
    let origins: Vec<String> = ORIGINS.iter().map(|s| s.to_string()).collect();
    assert!(
        check_host(&HeaderMap::new(), &hosts).is_err(),
        "a missing Host is refused"
    );
    assert!(
        check_origin(&HeaderMap::new(), &origins).is_ok(),
        "Origin is optional"
    );
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    match check_host(&one(header::HOST, &value), &hosts) {
        Ok(()) => {
            let host = value.to_str().expect("an accepted Host is ASCII");
            assert!(
                names_allowed_host(&host.to_ascii_lowercase(), &hosts),
                "Host {host:?} accepted"
            );
        }
        Err(f) => assert_eq!(f.code, ErrorCode::ForbiddenHost),
    }
    let repeated = check_host(&twice(header::HOST, &value), &hosts).unwrap_err();
    assert_eq!(repeated.code, ErrorCode::RepeatedHeader);

    match check_origin(&one(header::ORIGIN, &value), &origins) {
        Ok(()) => {
            let origin = value.to_str().expect("an accepted Origin is ASCII");
            assert!(
                origin_allowed(origin, &origins),
                "Origin {origin:?} accepted"
            );
        }
        Err(f) => assert_eq!(f.code, ErrorCode::ForbiddenOrigin),
    }
    assert!(check_origin(&one(header::ORIGIN, &value), &[]).is_err());
    let repeated = check_origin(&twice(header::ORIGIN, &value), &origins).unwrap_err();
    assert_eq!(repeated.code, ErrorCode::RepeatedHeader);
}

/// `tools/call` params: the first line is the `X-Portcullis-Dry-Run` header (absent when the
/// input has no newline or the line is not a header value), the rest the JSON params. What
/// is accepted has a bounded name and object arguments taken from the params; a call is live
/// only when the caller said `false` and nothing said `true`; an idempotency key in `_meta` is
/// taken as sent, and only in its form (1 to 255 visible ASCII characters); a repeated header
/// is refused.
pub fn tools_call_params(data: &[u8]) {
    let (header_line, json) = match split_line(data) {
        (line, Some(rest)) => (HeaderValue::from_bytes(line).ok(), rest),
        (all, None) => (None, all),
    };
    let name = HeaderName::from_static(DRY_RUN_HEADER);
    let headers = match &header_line {
        Some(v) => one(name.clone(), v),
        None => HeaderMap::new(),
    };
    let params = match serde_json::from_slice::<Value>(json) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    };
    let first = parse_params(params.as_ref(), &headers);
    if let Some(v) = &header_line {
        let f = parse_params(params.as_ref(), &twice(name, v)).unwrap_err();
        if first.is_ok() {
            assert_eq!(f.code, ErrorCode::RepeatedHeader);
        }
    }
    match first {
        Ok(p) => {
            let params = params.expect("accepted params exist");
            assert_eq!(
                params.get("name").and_then(Value::as_str),
                Some(p.name.as_str())
            );
            assert!(!p.name.is_empty() && p.name.len() <= 256);
            assert!(p.arguments.is_object());
            if let Some(args @ Value::Object(_)) = params.get("arguments") {
                assert_eq!(&p.arguments, args);
            }
            let meta = params
                .get("_meta")
                .and_then(|m| m.get("dry_run"))
                .and_then(Value::as_bool);
            let header = header_line.as_ref().map(HeaderValue::as_bytes);
            if let Some(h) = header {
                assert!(
                    h == b"true" || h == b"false",
                    "dry-run header {h:?} accepted"
                );
            }
            let key = params
                .get("_meta")
                .and_then(|m| m.get(IDEMPOTENCY_META))
                .and_then(Value::as_str);
            assert_eq!(p.idempotency_key.as_deref(), key, "the key is the caller's");
            if let Some(k) = key {
                assert!(
                    (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()),
                    "idempotency key {k:?} accepted"
                );
            }
            let said = |b: bool| meta == Some(b) || header == Some(b.to_string().as_bytes());
            assert_eq!(
                p.live,
                said(false) && !said(true),
                "live must need an explicit false"
            );
        }
        Err(f) => assert_eq!(f.code, ErrorCode::InvalidParams),
    }
}
