//! The fixed checkpoint key the ledger targets verify with, and the valid inputs signed with it
//! that seed their corpora (`write_seeds` in `tests/replay.rs` writes them).

use ed25519_dalek::SigningKey;
use portcullis_ledger::export::{EXPORT_FORMAT, ExportBundle, ExportedRecord};
use portcullis_ledger::merkle::{self, Tree};
use portcullis_ledger::note::{Checkpoint, NoteSigner};
use portcullis_ledger::{Decision, RECORD_VERSION, Record, RecordKind, canonical};

/// Name of the fixed checkpoint key (and the checkpoints' origin).
pub const ORIGIN: &str = "fuzz.portcullis.example/log";

/// The fixed checkpoint signer: a constant key, so signed seeds stay valid.
pub fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[7; 32])).expect("a valid key name")
}

/// Another key, under the same name, whose signatures must never verify.
pub fn impostor() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[8; 32])).expect("a valid key name")
}

/// A record like the gateway writes; even records are decisions, odd ones outcomes.
pub fn record(seq: u64, tenant: &str) -> Record {
    let decision = seq.is_multiple_of(2);
    Record {
        version: RECORD_VERSION,
        seq,
        time_ms: 1_700_000_000_000 + seq as i64,
        kind: if decision {
            RecordKind::Decision
        } else {
            RecordKind::Outcome
        },
        correlation_id: format!("c-{seq}"),
        tenant: tenant.into(),
        agent: "agent-\u{e9}".into(),
        credential_id: "0123456789ab".into(),
        method: "tools/call".into(),
        tool: Some("demo.echo".into()),
        tool_class: Some("read".into()),
        decision: decision.then_some(Decision::Allow),
        code: (!decision).then(|| "ok".into()),
        args_hash: Some("ab".repeat(32)),
        args_preview: Some("{\"text\":\"hi \\\"there\\\"\"}".into()),
        latency_us: (!decision).then_some(1234),
        facts: [
            ("auth_method".to_string(), "api_key".to_string()),
            ("client".to_string(), "127.0.0.1:5\u{e9}".to_string()),
        ]
        .into(),
    }
}

/// The canonical text of `record(seq, tenant)`.
pub fn record_text(seq: u64, tenant: &str) -> String {
    let bytes = canonical::canonical_bytes(&record(seq, tenant)).expect("version 1");
    String::from_utf8(bytes).expect("canonical records are UTF-8")
}

/// A ledger of `size` records (every third one of tenant "red"), signed at its full size.
fn ledger(size: u64) -> (Vec<String>, Tree, String) {
    let texts: Vec<String> = (0..size)
        .map(|i| record_text(i, if i.is_multiple_of(3) { "red" } else { "blue" }))
        .collect();
    let tree = Tree::new(
        texts
            .iter()
            .map(|t| merkle::hash_leaf(t.as_bytes()))
            .collect(),
    );
    let note = Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: tree.root(size),
    }
    .sign(&signer())
    .expect("a checkpoint body is a valid note");
    (texts, tree, note)
}

/// A valid signed checkpoint of a ledger of `size` records.
pub fn checkpoint_note(size: u64) -> String {
    ledger(size).2
}

/// A valid export bundle of a ledger of `size` records, restricted to `tenant` if given.
pub fn export_bundle(size: u64, tenant: Option<&str>) -> String {
    let (texts, tree, note) = ledger(size);
    let records: Vec<ExportedRecord> = texts
        .into_iter()
        .enumerate()
        .filter(|(_, t)| tenant.is_none_or(|want| t.contains(&format!("\"tenant\":\"{want}\""))))
        .map(|(i, t)| ExportedRecord::new(i as u64, t, &tree.inclusion_proof(i as u64, size)))
        .collect();
    let bundle = ExportBundle {
        format: EXPORT_FORMAT.into(),
        checkpoint: note,
        tenant: tenant.map(str::to_string),
        since_ms: None,
        until_ms: None,
        record_count: records.len() as u64,
        records,
    };
    serde_json::to_string(&bundle).expect("a bundle serialises")
}
