//! Audit stage helpers: what a call's ledger records say about its arguments. Arguments are
//! kept as a hash plus a redacted, size-capped preview; API keys and bearer tokens are always
//! redacted, and the operator adds patterns in `audit.redact`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;
use sha2::{Digest, Sha256};

const REDACTED: &str = "[REDACTED]";

static ALWAYS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"pcl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}",
        r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+",
        r#"(?i)"(authorization|x-mcp-key|api[_-]?key|password|secret|token)"\s*:\s*"(?:[^"\\]|\\.)*""#,
    ]
    .iter()
    .map(|p| Regex::new(p).expect("built-in redaction pattern"))
    .collect()
});

pub struct Redactor {
    extra: Vec<Regex>,
    preview_bytes: usize,
}

impl Redactor {
    pub fn new(extra: Vec<Regex>, preview_bytes: usize) -> Redactor {
        Redactor {
            extra,
            preview_bytes,
        }
    }

    /// Redacted, size-capped preview of `args` (compact JSON).
    pub fn preview(&self, args: &Value) -> String {
        let mut text = args.to_string();
        for re in ALWAYS.iter().chain(self.extra.iter()) {
            if re.is_match(&text) {
                text = re
                    .replace_all(&text, |caps: &regex::Captures<'_>| match caps.get(1) {
                        Some(key) if caps.len() > 1 => {
                            format!("\"{}\":\"{REDACTED}\"", key.as_str())
                        }
                        _ => REDACTED.to_string(),
                    })
                    .into_owned();
            }
        }
        if text.len() > self.preview_bytes {
            let mut cut = self.preview_bytes;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        text
    }
}

/// Lower-case hex SHA-256 of the arguments' compact JSON (object keys sorted).
pub fn args_hash(args: &Value) -> String {
    hex::encode(Sha256::digest(args.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn r() -> Redactor {
        Redactor::new(vec![Regex::new(r"\d{4}-\d{4}-\d{4}-\d{4}").unwrap()], 256)
    }

    #[test]
    fn keys_tokens_and_secret_fields_are_always_redacted() {
        let key = format!("pcl_{}_{}", "a1".repeat(6), "Z".repeat(43));
        let p = r().preview(&json!({
            "note": format!("use {key} please"),
            "auth": "Bearer abc.def-ghi",
            "password": "hunter2",
            "nested": {"api_key": "k-123", "token": "t\"x"},
            "card": "1234-5678-9012-3456",
        }));
        for secret in [
            key.as_str(),
            "abc.def-ghi",
            "hunter2",
            "k-123",
            "t\\\"x",
            "1234-5678",
        ] {
            assert!(!p.contains(secret), "{secret} leaked in {p}");
        }
        assert!(p.contains("[REDACTED]"));
        assert!(p.contains("\"password\":\"[REDACTED]\""), "{p}");
    }

    #[test]
    fn previews_are_capped_on_a_char_boundary() {
        let p = Redactor::new(vec![], 10).preview(&json!({"t": "ééééééééééé"}));
        assert!(p.len() <= 10 + '…'.len_utf8());
        assert!(p.ends_with('…'));
    }

    #[test]
    fn hashes_are_stable_and_order_independent() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":2,"b":1}"#).unwrap();
        assert_eq!(args_hash(&a), args_hash(&b));
        assert_ne!(args_hash(&a), args_hash(&json!({"a": 3})));
        assert_eq!(args_hash(&a).len(), 64);
    }
}
