//! What a call's ledger records say about its arguments. Arguments are kept as a hash plus a
//! redacted, size-capped preview, which is permanent and signed into the ledger, so redaction
//! errs on the side of hiding:
//!
//! - the value of any member whose *name* says secret — `password`, `passwd`, `secret`,
//!   `token`, `authorization`, `cookie`, `credentials`, and names ending in a word such as
//!   `_token`, `_secret`, `_password`, or in `_key` after another word (`api_key`,
//!   `private_key`, `accessToken`, `CLIENT-SECRET`, in any case and separator style) — is
//!   replaced whole, whatever its type;
//! - inside every string, values that look secret wherever they appear: API keys of this
//!   gateway, bearer tokens, JWTs, AWS access key ids, PEM private keys, the credentials of
//!   a URL (`https://user:pass@host`), and `password=`/`token=`-style pairs;
//! - plus the operator's `audit.redact` patterns.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

const REDACTED: &str = "[REDACTED]";

/// Patterns replaced wherever they appear in a string, with what replaces them.
static VALUE_PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"pcl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", REDACTED),
        (r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+", REDACTED),
        (
            r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
            REDACTED,
        ),
        (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", REDACTED),
        (
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
            REDACTED,
        ),
        (
            r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@",
            "${1}[REDACTED]@",
        ),
        (
            r"(?i)\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?token|client[_-]?secret)=)[^&\s]+",
            "${1}[REDACTED]",
        ),
    ]
    .into_iter()
    .map(|(p, with)| (Regex::new(p).expect("built-in redaction pattern"), with))
    .collect()
});

/// Names whose value is secret, as their words joined in lower case.
const SECRET_NAMES: [&str; 17] = [
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "auth",
    "credential",
    "credentials",
    "cookie",
    "setcookie",
    "apikey",
    "xmcpkey",
    "privatekey",
    "sessionid",
    "bearer",
];

/// Last words that make a name secret.
const SECRET_LAST_WORDS: [&str; 7] = [
    "secret",
    "token",
    "password",
    "passwd",
    "passphrase",
    "credential",
    "credentials",
];

/// The words of a member name: split at `_`, `-`, `.`, spaces and lower-to-upper case changes,
/// lower-cased.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if matches!(c, '_' | '-' | '.' | ' ') {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Whether a member of this name holds a secret.
pub fn secret_name(name: &str) -> bool {
    let w = words(name);
    let Some(last) = w.last() else {
        return false;
    };
    SECRET_NAMES.contains(&w.concat().as_str())
        || SECRET_LAST_WORDS.contains(&last.as_str())
        || (last == "key" && w.len() >= 2)
}

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

    fn redact_str(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (re, with) in VALUE_PATTERNS.iter() {
            if re.is_match(&out) {
                out = re.replace_all(&out, *with).into_owned();
            }
        }
        for re in &self.extra {
            if re.is_match(&out) {
                out = re.replace_all(&out, REDACTED).into_owned();
            }
        }
        out
    }

    fn redact(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.redact_str(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.redact(x)).collect()),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    let value = if secret_name(k) {
                        Value::String(REDACTED.into())
                    } else {
                        self.redact(x)
                    };
                    out.insert(self.redact_str(k), value);
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    /// Redacted, size-capped preview of `args` (compact JSON). The operator's patterns also run
    /// over the whole text, so one may span members.
    pub fn preview(&self, args: &Value) -> String {
        let mut text = self.redact(args).to_string();
        for re in &self.extra {
            if re.is_match(&text) {
                text = re.replace_all(&text, REDACTED).into_owned();
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
    fn secret_names_are_recognised_in_any_case_and_separator_style() {
        for name in [
            "password",
            "PASSWORD",
            "passwd",
            "pwd",
            "secret",
            "token",
            "Authorization",
            "access_token",
            "accessToken",
            "refresh-token",
            "REFRESH_TOKEN",
            "client_secret",
            "clientSecret",
            "private_key",
            "privateKey",
            "api_key",
            "apiKey",
            "API-KEY",
            "x-mcp-key",
            "aws_secret_access_key",
            "db.password",
            "github token",
            "sessionId",
            "cookie",
            "credentials",
        ] {
            assert!(secret_name(name), "{name}");
        }
        for name in [
            "key",
            "text",
            "tokens_used",
            "author",
            "passage",
            "keyboard",
            "monkey",
        ] {
            assert!(!secret_name(name), "{name}");
        }
    }

    #[test]
    fn secret_values_are_redacted_whatever_their_type_and_wherever_they_appear() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----";
        let p = Redactor::new(vec![], 4096).preview(&json!({
            "client_secret": {"nested": "s3cr3t-object"},
            "apiKey": 424242,
            "refreshToken": ["r1-list", "r2-list"],
            "note": format!("jwt {jwt} and AKIAABCDEFGHIJKLMNOP here"),
            "url": "postgres://admin:hunter3@db.internal:5432/app",
            "query": "https://x.example/cb?token=abc123&other=1",
            "file": pem,
            "key": "a note key stays",
        }));
        for secret in [
            "s3cr3t-object",
            "424242",
            "r1-list",
            jwt,
            "AKIAABCDEFGHIJKLMNOP",
            "hunter3",
            "abc123",
            "MIIEabc",
        ] {
            assert!(!p.contains(secret), "{secret} leaked in {p}");
        }
        assert!(p.contains("postgres://[REDACTED]@db.internal"), "{p}");
        assert!(p.contains("other=1"), "{p}");
        assert!(p.contains("a note key stays"), "{p}");
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
