//! Query strings of the ledger API (`/api/ledger/proof/...?seq=N&size=M`).

use portcullis_gateway::ledger_api::parse_query;
use portcullis_protocol::ErrorCode;

/// The parameter sets the ledger endpoints take.
const ENDPOINTS: &[&[&str]] = &[&[], &["seq", "size"], &["from", "to"]];

fn check(query: Option<&str>) {
    for allowed in ENDPOINTS {
        match parse_query(query, allowed) {
            Ok(q) => {
                let text = query.unwrap_or("");
                assert!(text.len() <= 256);
                assert!(q.len() <= allowed.len(), "more keys than allowed: {q:?}");
                for (k, v) in &q {
                    assert!(allowed.contains(&k.as_str()), "unknown key {k:?} kept");
                    let given: Vec<&str> = text
                        .split('&')
                        .filter_map(|p| p.strip_prefix(k.as_str())?.strip_prefix('='))
                        .collect();
                    assert_eq!(given.len(), 1, "{k} given {} times", given.len());
                    assert_eq!(given[0].parse::<u64>().ok(), Some(*v));
                    assert!(given[0].bytes().all(|b| b.is_ascii_digit()));
                }
            }
            Err(f) => assert_eq!(f.code, ErrorCode::InvalidQuery),
        }
    }
}

/// `parse_query`, on the input as the raw query text and on the query of the request target
/// `/?<input>` when that is a valid URI: what it accepts holds only allowed names, each once,
/// with the decimal value written in the query.
pub fn ledger_query(data: &[u8]) {
    check(None);
    let text = String::from_utf8_lossy(data);
    check(Some(&text));
    if let Ok(uri) = http::Uri::try_from(format!("/api/ledger/proof/inclusion?{text}")) {
        check(uri.query());
    }
}
