//! The canonical byte encoding of a record (version 1): compact JSON (no whitespace), members in
//! the order of `Record`'s fields, absent optional members omitted (never `null`), integers in
//! plain decimal, strings escaped as serde_json escapes them, UTF-8. Every field is covered by
//! the leaf hash. See `docs/ledger.md`.

use sha2::{Digest, Sha256};

use crate::{LedgerError, RECORD_VERSION, Record};

/// Encode a record canonically.
pub fn canonical_bytes(r: &Record) -> Result<Vec<u8>, LedgerError> {
    if r.version != RECORD_VERSION {
        return Err(LedgerError::UnknownVersion(r.version));
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
    if r.version != RECORD_VERSION {
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
    use crate::{Decision, RecordKind};

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
        }
    }

    #[test]
    fn the_encoding_is_fixed() {
        let bytes = canonical_bytes(&sample()).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"version":1,"seq":7,"time_ms":1700000000123,"kind":"decision","correlation_id":"c-1","#), "{text}");
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
        let reordered = text.replacen(r#""version":1,"seq":7"#, r#""seq":7,"version":1"#, 1);
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
        let v2 = text.replacen(r#""version":1"#, r#""version":2"#, 1);
        assert_eq!(
            parse_canonical(v2.as_bytes()),
            Err(LedgerError::UnknownVersion(2))
        );
        let mut r = sample();
        r.version = 9;
        assert_eq!(canonical_bytes(&r), Err(LedgerError::UnknownVersion(9)));
    }
}
