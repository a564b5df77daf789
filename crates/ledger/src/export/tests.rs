use ed25519_dalek::SigningKey;

use super::*;
use crate::merkle::{inclusion_proof, root};
use crate::note::NoteSigner;
use crate::{Decision, RECORD_VERSION, RecordKind};

fn record(seq: u64, tenant: &str) -> Record {
    Record {
        version: RECORD_VERSION,
        seq,
        time_ms: 1_000 + seq as i64,
        kind: RecordKind::Decision,
        correlation_id: format!("c{seq}"),
        tenant: tenant.into(),
        agent: "a".into(),
        credential_id: "k".into(),
        method: "tools/call".into(),
        tool: None,
        tool_class: None,
        decision: Some(Decision::Allow),
        code: None,
        args_hash: None,
        args_preview: None,
        latency_us: None,
        facts: Default::default(),
    }
}

struct Ledger {
    texts: Vec<String>,
    leaves: Vec<merkle::Hash>,
    signer: NoteSigner,
}

fn ledger() -> Ledger {
    let texts: Vec<String> = (0..20)
        .map(|i| {
            let r = record(i, if i % 3 == 0 { "red" } else { "blue" });
            String::from_utf8(canonical::canonical_bytes(&r).unwrap()).unwrap()
        })
        .collect();
    let leaves = texts
        .iter()
        .map(|t| merkle::hash_leaf(t.as_bytes()))
        .collect();
    Ledger {
        texts,
        leaves,
        signer: NoteSigner::new("test/log", SigningKey::from_bytes(&[9; 32])).unwrap(),
    }
}

impl Ledger {
    fn bundle(&self, tenant: Option<&str>) -> ExportBundle {
        let cp = Checkpoint {
            origin: "test/log".into(),
            size: self.leaves.len() as u64,
            root: root(&self.leaves),
        };
        let records: Vec<ExportedRecord> = self
            .texts
            .iter()
            .enumerate()
            .filter(|(_, t)| tenant.is_none_or(|x| t.contains(&format!("\"tenant\":\"{x}\""))))
            .map(|(i, t)| {
                ExportedRecord::new(i as u64, t.clone(), &inclusion_proof(&self.leaves, i))
            })
            .collect();
        ExportBundle {
            format: EXPORT_FORMAT.into(),
            checkpoint: cp.sign(&self.signer).unwrap(),
            tenant: tenant.map(str::to_string),
            since_ms: None,
            until_ms: None,
            record_count: records.len() as u64,
            records,
        }
    }

    fn check(&self, b: &ExportBundle) -> Result<ExportReport, ExportError> {
        verify_bundle(&serde_json::to_vec(b).unwrap(), &self.signer.verifier())
    }
}

fn bad_seq(r: Result<ExportReport, ExportError>) -> u64 {
    match r {
        Err(ExportError::Record { seq, .. }) => seq,
        other => panic!("expected a named record, got {other:?}"),
    }
}

#[test]
fn whole_and_tenant_exports_verify() {
    let l = ledger();
    assert_eq!(l.check(&l.bundle(None)).unwrap().records, 20);
    let red = l.bundle(Some("red"));
    assert_eq!(l.check(&red).unwrap().records, 7);
    assert_eq!(l.check(&red).unwrap().checkpoint.size, 20);
}

#[test]
fn an_edited_record_is_named() {
    let l = ledger();
    let mut b = l.bundle(None);
    b.records[4].record = b.records[4].record.replace("\"c4\"", "\"cX\"");
    assert_eq!(bad_seq(l.check(&b)), 4);
}

#[test]
fn a_spliced_record_of_another_tenant_is_named() {
    let l = ledger();
    let mut b = l.bundle(Some("red"));
    let blue = l.bundle(None).records[1].clone();
    b.records.insert(1, blue);
    b.record_count += 1;
    assert_eq!(bad_seq(l.check(&b)), 1);
}

#[test]
fn swapped_and_duplicated_records_are_named() {
    let l = ledger();
    let mut b = l.bundle(None);
    b.records.swap(2, 3);
    assert_eq!(bad_seq(l.check(&b)), 2);
    let mut b = l.bundle(None);
    let dup = b.records[5].clone();
    b.records.insert(6, dup);
    b.record_count += 1;
    assert_eq!(bad_seq(l.check(&b)), 5);
}

#[test]
fn a_moved_record_with_its_seq_rewritten_fails_its_proof() {
    let l = ledger();
    let mut b = l.bundle(None);
    b.records[3].proof = b.records[4].proof.clone();
    assert_eq!(bad_seq(l.check(&b)), 3);
    let mut b = l.bundle(None);
    b.records[7].seq = 25;
    assert_eq!(bad_seq(l.check(&b)), 25);
}

#[test]
fn truncated_and_malformed_bundles_are_refused() {
    let l = ledger();
    let bytes = serde_json::to_vec(&l.bundle(None)).unwrap();
    let key = l.signer.verifier();
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        assert!(matches!(
            verify_bundle(&bytes[..cut], &key),
            Err(ExportError::Malformed(_))
        ));
    }
    let mut b = l.bundle(None);
    b.records.truncate(10);
    assert!(matches!(l.check(&b), Err(ExportError::Malformed(_))));
    let mut b = l.bundle(None);
    b.format = "other".into();
    assert!(matches!(l.check(&b), Err(ExportError::Malformed(_))));
    let mut v: serde_json::Value = serde_json::to_value(l.bundle(None)).unwrap();
    v["extra"] = 1.into();
    assert!(matches!(
        verify_bundle(v.to_string().as_bytes(), &key),
        Err(ExportError::Malformed(_))
    ));
    let mut b = l.bundle(None);
    b.records[0].proof = vec!["00".repeat(32); 65];
    assert_eq!(bad_seq(l.check(&b)), 0);
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let l = ledger();
    let mut b = l.bundle(None);
    let other = NoteSigner::new("test/log", SigningKey::from_bytes(&[8; 32])).unwrap();
    let cp = Checkpoint::parse(l.signer.verifier().open(&b.checkpoint).unwrap()).unwrap();
    b.checkpoint = cp.sign(&other).unwrap();
    assert!(matches!(l.check(&b), Err(ExportError::Checkpoint(_))));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Any single flipped bit in a record's bytes, its proof or the signed note is caught,
        /// and never by a panic.
        #[test]
        fn any_flipped_bit_in_a_bundle_is_refused(entry in 0usize..20, pick in 0usize..3, at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let l = ledger();
            let mut b = l.bundle(None);
            let target: &mut String = match pick {
                0 => &mut b.records[entry].record,
                1 => &mut b.records[entry].proof[0],
                _ => &mut b.checkpoint,
            };
            let mut bytes = std::mem::take(target).into_bytes();
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
            // A flip that leaves invalid UTF-8 cannot even be carried in the JSON bundle.
            if let Ok(text) = String::from_utf8(bytes) {
                *target = text;
                prop_assert!(l.check(&b).is_err());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let key = ledger().signer.verifier();
            prop_assert!(verify_bundle(&bytes, &key).is_err());
            let text = String::from_utf8_lossy(&bytes);
            let _ = text.parse::<NoteVerifier>();
            let _ = Checkpoint::open(&text, &key);
        }
    }
}
