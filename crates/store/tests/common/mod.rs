//! Fixtures shared by the integration tests.

use portcullis_ledger::{Decision, RECORD_VERSION, Record, RecordKind};

/// When record 0 of [`record`] was made.
pub const T0: i64 = 1_700_000_000_000;

/// A decision record made at `T0 + i` ms, with correlation id `c<i>`.
pub fn record(i: u64) -> Record {
    Record {
        version: RECORD_VERSION,
        seq: 0,
        time_ms: T0 + i as i64,
        kind: RecordKind::Decision,
        correlation_id: format!("c{i}"),
        tenant: "t".into(),
        agent: "a".into(),
        credential_id: "k".into(),
        method: "tools/call".into(),
        tool: Some("demo.echo".into()),
        tool_class: Some("read".into()),
        decision: Some(Decision::Allow),
        code: None,
        args_hash: None,
        args_preview: Some(format!("{{\"n\":{i}}}")),
        latency_us: None,
        facts: Default::default(),
    }
}
