use axum::body::Body;
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt;
use portcullis_protocol::ErrorCode;

use crate::respond::Failure;

/// The host of a Host header value — `name[:port]`, `ipv4[:port]` or `[ipv6][:port]` — without
/// its port and brackets, lower-cased; `None` for anything else (`[::1]anything`, a bare IPv6
/// address, an empty or non-numeric port, characters no host name has).
fn host_part(host: &str) -> Option<String> {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let (addr, after) = rest.split_once(']')?;
            addr.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            (addr, port)
        }
        None => {
            let (name, port) = match host.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (host, None),
            };
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !name_ok {
                return None;
            }
            (name, port)
        }
    };
    if port.is_some_and(|p| {
        p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err()
    }) {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// The Host header must be present once and name an allowed host.
pub fn check_host(headers: &HeaderMap, allowed: &[String]) -> Result<(), Failure> {
    let host = super::single(headers, header::HOST.as_str())?
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::ForbiddenHost,
                "the Host header is missing or not ASCII",
            )
        })?;
    let Some(h) = host_part(host) else {
        return Err(Failure::new(
            ErrorCode::ForbiddenHost,
            format!(
                "'{}' is not a host and port",
                truncate(host, 100).escape_default()
            ),
        ));
    };
    if allowed.contains(&h) {
        Ok(())
    } else {
        Err(Failure::new(
            ErrorCode::ForbiddenHost,
            format!("host '{}' is not allowed", truncate(&h, 100)),
        ))
    }
}

/// Whether `origin` is the allowed entry `pattern`: equal (ignoring case), or, for an entry
/// ending in `:*`, the same scheme and host with any explicit port.
fn origin_matches(pattern: &str, origin: &str) -> bool {
    if pattern.eq_ignore_ascii_case(origin) {
        return true;
    }
    let Some(prefix) = pattern.strip_suffix(":*") else {
        return false;
    };
    origin.len() > prefix.len() + 1
        && origin.is_char_boundary(prefix.len())
        && origin[..prefix.len()].eq_ignore_ascii_case(prefix)
        && origin[prefix.len()..]
            .strip_prefix(':')
            .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

/// An Origin header, when present, must be one of the allowed origins.
pub fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), Failure> {
    let Some(origin) = super::single(headers, header::ORIGIN.as_str())? else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| Failure::new(ErrorCode::ForbiddenOrigin, "the Origin header is not ASCII"))?;
    if allowed.iter().any(|a| origin_matches(a, origin)) {
        Ok(())
    } else {
        Err(Failure::new(
            ErrorCode::ForbiddenOrigin,
            format!("origin '{}' is not allowed", truncate(origin, 100)),
        ))
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// POST bodies must be JSON.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), Failure> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(Failure::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "Content-Type must be application/json, not '{}'",
                truncate(ct, 100)
            ),
        ))
    }
}

/// What a client accepts as an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts {
    pub json: bool,
    pub sse: bool,
}

/// Read `Accept`. A missing header means JSON only; one that names neither JSON nor an event
/// stream is refused.
pub fn check_accept(headers: &HeaderMap) -> Result<Accepts, Failure> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(Accepts {
            json: true,
            sse: false,
        });
    };
    let accept = accept.to_str().unwrap_or("");
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .collect();
    let has = |m: &str| types.iter().any(|t| t.eq_ignore_ascii_case(m));
    let any = has("*/*");
    let a = Accepts {
        json: any || has("application/json") || has("application/*"),
        sse: any || has("text/event-stream") || has("text/*"),
    };
    if a.json || a.sse {
        Ok(a)
    } else {
        Err(Failure::new(
            ErrorCode::NotAcceptable,
            "Accept must include application/json or text/event-stream",
        ))
    }
}

/// Read the body, refusing more than `limit` bytes (by Content-Length up front, and while
/// reading for chunked bodies).
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    within: std::time::Duration,
) -> Result<bytes::Bytes, Failure> {
    tokio::time::timeout(within, read_body_unbounded(headers, body, limit))
        .await
        .unwrap_or_else(|_| {
            Err(Failure::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request body did not arrive within {} s",
                    within.as_secs()
                ),
            ))
        })
}

async fn read_body_unbounded(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, Failure> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        Failure::new(
            ErrorCode::PayloadTooLarge,
            format!("request body exceeds {limit} bytes"),
        )
    };
    if let Some(n) = declared
        && n > limit as u64
    {
        if n <= (limit + DRAIN_MAX) as u64 {
            drain(body).await;
        }
        return Err(too_large());
    }
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Failure::new(
                ErrorCode::InvalidRequest,
                format!("could not read the body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            drain(body).await;
            return Err(too_large());
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// How much of an oversized body is read and thrown away so the client, still sending, gets
/// the 413 instead of a reset connection; anything larger is cut off.
const DRAIN_MAX: usize = 1 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

async fn drain(mut body: Body) {
    let work = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_MAX {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, work).await;
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn origins_match_exactly_or_with_any_port() {
        assert!(origin_matches(
            "https://app.example.com",
            "HTTPS://APP.example.com"
        ));
        assert!(!origin_matches(
            "https://app.example.com",
            "https://app.example.com:8443"
        ));
        assert!(origin_matches(
            "http://127.0.0.1:*",
            "http://127.0.0.1:49152"
        ));
        assert!(!origin_matches("http://127.0.0.1:*", "http://127.0.0.1"));
        assert!(!origin_matches("http://127.0.0.1:*", "http://127.0.0.1:"));
        assert!(!origin_matches(
            "http://127.0.0.1:*",
            "http://127.0.0.1:80x"
        ));
        assert!(!origin_matches(
            "http://127.0.0.1:*",
            "http://127.0.0.10:80"
        ));
        assert!(!origin_matches(
            "http://127.0.0.1:*",
            "http://127.0.0.1.evil.example:80"
        ));
        assert!(!origin_matches(
            "http://127.0.0.1:*",
            "https://127.0.0.1:443"
        ));
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn allowed() -> Vec<String> {
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
    }

    #[test]
    fn hosts_are_matched_without_port() {
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:9",
            "LOCALHOST",
        ] {
            assert!(
                check_host(&headers(&[("host", ok)]), &allowed()).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "evil.com",
            "evil.com:8080",
            "localhost.evil.com",
            "127.0.0.2",
            "[::2]:1",
            "",
            "[::1]anything",
            "[::1]evil.com",
            "[::1]:",
            "[::1]:x",
            "[::1",
            "::1",
            "localhost:",
            "localhost:99999",
            "localhost:8080:1",
            "localhost:+80",
            "local host",
            "localhost@evil.com",
            "[localhost]:80",
        ] {
            let f = check_host(&headers(&[("host", bad)]), &allowed()).unwrap_err();
            assert_eq!(f.code, ErrorCode::ForbiddenHost, "{bad}");
        }
        assert!(check_host(&HeaderMap::new(), &allowed()).is_err());
    }

    #[test]
    fn origins_must_match_exactly_when_present() {
        let list = vec!["https://app.example.com".to_string()];
        assert!(check_origin(&HeaderMap::new(), &list).is_ok());
        assert!(check_origin(&headers(&[("origin", "https://app.example.com")]), &list).is_ok());
        for bad in [
            "https://app.example.com.evil.com",
            "http://app.example.com",
            "null",
            "https://evil.com",
        ] {
            let f = check_origin(&headers(&[("origin", bad)]), &list).unwrap_err();
            assert_eq!(f.code, ErrorCode::ForbiddenOrigin);
        }
        assert!(check_origin(&headers(&[("origin", "http://localhost:8080")]), &[]).is_err());
    }

    #[test]
    fn content_type_and_accept() {
        assert!(
            check_content_type(&headers(&[(
                "content-type",
                "application/json; charset=utf-8"
            )]))
            .is_ok()
        );
        assert!(check_content_type(&headers(&[("content-type", "text/plain")])).is_err());
        assert!(check_content_type(&HeaderMap::new()).is_err());
        let json_only = Accepts {
            json: true,
            sse: false,
        };
        assert_eq!(check_accept(&HeaderMap::new()).unwrap(), json_only);
        assert_eq!(
            check_accept(&headers(&[(
                "accept",
                "application/json, text/event-stream"
            )]))
            .unwrap(),
            Accepts {
                json: true,
                sse: true
            }
        );
        assert_eq!(
            check_accept(&headers(&[("accept", "text/event-stream")])).unwrap(),
            Accepts {
                json: false,
                sse: true
            }
        );
        assert_eq!(
            check_accept(&headers(&[("accept", "text/html")]))
                .unwrap_err()
                .code,
            ErrorCode::NotAcceptable
        );
    }

    const SECOND: std::time::Duration = std::time::Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn a_body_that_does_not_arrive_in_time_is_refused() {
        let (_tx, body) = {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
            (tx, Body::from_stream(tokio_stream_of(rx)))
        };
        let f = read_body(&HeaderMap::new(), body, 10, SECOND)
            .await
            .unwrap_err();
        assert_eq!(f.code, ErrorCode::RequestTimeout);
    }

    /// A stream of what the channel receives (the sender never sends: a stalled body).
    fn tokio_stream_of(
        mut rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
    ) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let ok = read_body(&HeaderMap::new(), Body::from("x".repeat(10)), 10, SECOND)
            .await
            .unwrap();
        assert_eq!(ok.len(), 10);
        let f = read_body(&HeaderMap::new(), Body::from("x".repeat(11)), 10, SECOND)
            .await
            .unwrap_err();
        assert_eq!(f.code, ErrorCode::PayloadTooLarge);
        let f = read_body(
            &headers(&[("content-length", "999999")]),
            Body::empty(),
            10,
            SECOND,
        )
        .await
        .unwrap_err();
        assert_eq!(f.code, ErrorCode::PayloadTooLarge);
    }
}
