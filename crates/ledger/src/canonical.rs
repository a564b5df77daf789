//! The canonical byte encoding of a record (versions 1 and 2): compact JSON (no whitespace),
//! members in the order of `Record`'s fields, absent optional members omitted (never `null`),
//! `facts` (version 2) with its names in byte order, integers in plain decimal, strings escaped
//! as serde_json escapes them, UTF-8. Every field is covered by the leaf hash. See
//! `docs/ledger.md`.

use sha2::{Digest, Sha256};

use crate::{LedgerError, RECORD_VERSIONS, Record};

/// Encode a record canonically. A version 1 record has no `facts`.
pub fn canonical_bytes(r: &Record) -> Result<Vec<u8>, LedgerError> {
    if !RECORD_VERSIONS.contains(&r.version) {
        return Err(LedgerError::UnknownVersion(r.version));
    }
    if r.version == 1 && !r.facts.is_empty() {
        return Err(LedgerError::Malformed(
            "a version 1 record has no facts".into(),
        ));
    }
    serde_json::to_vec(r).map_err(|e| LedgerError::Malformed(e.to_string()))
}

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ canonical bytes).
pub fn leaf_hash(r: &Record) -> Result<[u8; 32], LedgerError> {
    Ok(crate::merkle::hash_leaf(&canonical_bytes(r)?))
}

/// Decode stored bytes, refusing anything that does not re-encode to exactly the same bytes.
pub fn parse_canonical(bytes: &[u8]) -> Result<Record, LedgerError> {
    let r: Record =
        serde_json::from_slice(bytes).map_err(|e| LedgerError::Malformed(e.to_string()))?;
    if !RECORD_VERSIONS.contains(&r.version) {
        return Err(LedgerError::UnknownVersion(r.version));
    }
    if canonical_bytes(&r)? != bytes {
        return Err(LedgerError::NotCanonical);
    }
    Ok(r)
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decision, RECORD_VERSION, RecordKind};

    pub(crate) fn sample() -> Record {
        Record {
            version: RECORD_VERSION,
            seq: 7,
            time_ms: 1_700_000_000_123,
            kind: RecordKind::Decision,
            correlation_id: "c-1".into(),
            tenant: "acme".into(),
            agent: "bot".into(),
            credential_id: "0123456789ab".into(),
            method: "tools/call".into(),
            tool: Some("demo.echo".into()),
            tool_class: Some("read".into()),
            decision: Some(Decision::Allow),
            code: None,
            args_hash: Some("ab".repeat(32)),
            args_preview: Some("{\"text\":\"é \\\"q\\\"\"}".into()),
            latency_us: None,
            facts: [("auth_method".to_string(), "api_key".to_string())].into(),
        }
    }

    #[test]
    fn the_encoding_is_fixed() {
        let bytes = canonical_bytes(&sample()).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"version":2,"seq":7,"time_ms":1700000000123,"kind":"decision","correlation_id":"c-1","#), "{text}");
        assert!(
            text.ends_with(r#","facts":{"auth_method":"api_key"}}"#),
            "{text}"
        );
        assert!(!text.contains("null"), "absent fields are omitted: {text}");
        assert!(!text.contains("\"code\""));
        assert_eq!(
            hex::encode(leaf_hash(&sample()).unwrap()),
            hex::encode(crate::merkle::hash_leaf(&bytes)),
        );
        assert_eq!(parse_canonical(&bytes).unwrap(), sample());
    }

    #[test]
    fn every_field_change_changes_the_leaf_hash() {
        let base = leaf_hash(&sample()).unwrap();
        type Edit = Box<dyn Fn(&mut Record)>;
        let edits: Vec<Edit> = vec![
            Box::new(|r| r.seq += 1),
            Box::new(|r| r.time_ms += 1),
            Box::new(|r| r.kind = RecordKind::Outcome),
            Box::new(|r| r.correlation_id.push('x')),
            Box::new(|r| r.tenant.push('x')),
            Box::new(|r| r.agent.push('x')),
            Box::new(|r| r.credential_id.push('x')),
            Box::new(|r| r.method.push('x')),
            Box::new(|r| r.tool = None),
            Box::new(|r| r.tool_class = Some("write".into())),
            Box::new(|r| r.decision = Some(Decision::Deny)),
            Box::new(|r| r.code = Some("ok".into())),
            Box::new(|r| r.args_hash = None),
            Box::new(|r| r.args_preview = Some(String::new())),
            Box::new(|r| r.latency_us = Some(0)),
            Box::new(|r| r.facts.clear()),
            Box::new(|r| {
                r.facts.insert("client".into(), "127.0.0.1:1".into());
            }),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut r = sample();
            edit(&mut r);
            assert_ne!(leaf_hash(&r).unwrap(), base, "edit {i}");
        }
    }

    #[test]
    fn non_canonical_and_foreign_bytes_are_refused() {
        let text = String::from_utf8(canonical_bytes(&sample()).unwrap()).unwrap();
        let spaced = text.replacen(",", ", ", 1);
        assert_eq!(
            parse_canonical(spaced.as_bytes()),
            Err(LedgerError::NotCanonical)
        );
        let with_null = format!("{},\"code\":null}}", &text[..text.len() - 1]);
        assert_eq!(
            parse_canonical(with_null.as_bytes()),
            Err(LedgerError::NotCanonical)
        );
        let reordered = text.replacen(r#""version":2,"seq":7"#, r#""seq":7,"version":2"#, 1);
        assert_eq!(
            parse_canonical(reordered.as_bytes()),
            Err(LedgerError::NotCanonical)
        );
        assert!(matches!(
            parse_canonical(b"{"),
            Err(LedgerError::Malformed(_))
        ));
        assert!(matches!(
            parse_canonical(b"\xff"),
            Err(LedgerError::Malformed(_))
        ));
        let v3 = text.replacen(r#""version":2"#, r#""version":3"#, 1);
        assert_eq!(
            parse_canonical(v3.as_bytes()),
            Err(LedgerError::UnknownVersion(3))
        );
        let facts_in_v1 = text.replacen(r#""version":2"#, r#""version":1"#, 1);
        assert!(matches!(
            parse_canonical(facts_in_v1.as_bytes()),
            Err(LedgerError::Malformed(_))
        ));
        let mut r = sample();
        r.version = 9;
        assert_eq!(canonical_bytes(&r), Err(LedgerError::UnknownVersion(9)));
    }

    #[test]
    fn version_1_records_still_parse_and_keep_their_bytes() {
        let mut r = sample();
        r.version = 1;
        r.facts.clear();
        let bytes = canonical_bytes(&r).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"version":1,"#) && !text.contains("facts"),
            "{text}"
        );
        assert_eq!(parse_canonical(&bytes).unwrap(), r);
    }

    #[test]
    fn facts_are_written_in_name_order() {
        let mut r = sample();
        r.facts.insert("client".into(), "c".into());
        r.facts.insert("b".into(), "x".into());
        let text = String::from_utf8(canonical_bytes(&r).unwrap()).unwrap();
        assert!(
            text.ends_with(r#","facts":{"auth_method":"api_key","b":"x","client":"c"}}"#),
            "{text}"
        );
        assert_eq!(parse_canonical(text.as_bytes()).unwrap(), r);
    }
}
