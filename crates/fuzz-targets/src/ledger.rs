//! The audit plane's parsers: canonical records (stored bytes, exported records), export
//! bundles (`portcullis audit verify-export`), signed checkpoint notes and verifier keys.

use portcullis_ledger::export::{ExportBundle, ExportError, verify_bundle};
use portcullis_ledger::note::{Checkpoint, NoteVerifier};
use portcullis_ledger::{LedgerError, Record, canonical, merkle};

use crate::fixtures;

/// `parse_canonical`: what it accepts is exactly its canonical encoding (so the leaf hash
/// covers the bytes as stored), and any record that merely deserialises, re-encoded, is
/// accepted as canonical and reads back the same.
pub fn ledger_canonical(data: &[u8]) {
    match canonical::parse_canonical(data) {
        Ok(r) => {
            assert_eq!(canonical::canonical_bytes(&r).as_deref(), Ok(data));
            assert_eq!(canonical::leaf_hash(&r), Ok(merkle::hash_leaf(data)));
        }
        Err(LedgerError::NotCanonical) => {
            let r: Record = serde_json::from_slice(data).expect("NotCanonical means it parsed");
            let bytes = canonical::canonical_bytes(&r).expect("same version");
            assert_ne!(bytes, data);
            assert_eq!(canonical::parse_canonical(&bytes), Ok(r));
        }
        Err(_) => {}
    }
}

/// `verify_bundle` with the fixed key: an accepted bundle is checked record by record (each
/// canonical, in order, below the checkpoint's size), still verifies when re-serialised, and
/// never verifies under another key.
pub fn ledger_export(data: &[u8]) {
    let key = fixtures::signer().verifier();
    let Ok(report) = verify_bundle(data, &key) else {
        return;
    };
    let bundle: ExportBundle = serde_json::from_slice(data).expect("a verified bundle parses");
    assert_eq!(report.records, bundle.records.len() as u64);
    let mut previous = None;
    for entry in &bundle.records {
        assert!(previous.is_none_or(|p| entry.seq > p));
        previous = Some(entry.seq);
        assert!(entry.seq < report.checkpoint.size);
        let r = canonical::parse_canonical(entry.record.as_bytes()).expect("canonical");
        assert_eq!(r.seq, entry.seq);
    }
    let again = serde_json::to_vec(&bundle).expect("a bundle serialises");
    assert_eq!(verify_bundle(&again, &key), Ok(report));
    let other = fixtures::impostor().verifier();
    assert!(matches!(
        verify_bundle(data, &other),
        Err(ExportError::Checkpoint(_))
    ));
}

/// Signed notes and verifier keys: a parsed key prints to a key that parses the same; a note
/// opened with the fixed key has a body signed by that key, and its checkpoint, printed and
/// signed again, opens to the same checkpoint; a checkpoint body that parses prints to one that
/// parses the same.
pub fn ledger_note(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(k) = text.parse::<NoteVerifier>() {
        assert_eq!(k.to_string().parse::<NoteVerifier>(), Ok(k));
    }
    if let Ok(cp) = Checkpoint::parse(&text) {
        assert_eq!(Checkpoint::parse(&cp.body()), Ok(cp));
    }
    let key = fixtures::signer().verifier();
    if let Ok(body) = key.open(&text) {
        assert!(text.starts_with(body) && body.ends_with('\n'));
        assert!(fixtures::impostor().verifier().open(&text).is_err());
    }
    if let Ok(cp) = Checkpoint::open(&text, &key) {
        let note = cp
            .sign(&fixtures::signer())
            .expect("a checkpoint body signs");
        assert_eq!(Checkpoint::open(&note, &key), Ok(cp));
    }
}
