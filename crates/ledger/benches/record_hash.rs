//! A decision record's canonical encoding and RFC 6962 leaf hash: done for every record the
//! gateway appends.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_ledger::canonical::{canonical_bytes, leaf_hash};
use portcullis_ledger::{Decision, RECORD_VERSION, Record, RecordKind};

fn decision_record() -> Record {
    Record {
        version: RECORD_VERSION,
        seq: 123_456,
        time_ms: 1_790_000_000_000,
        kind: RecordKind::Decision,
        correlation_id: "3f0c2a9e-5b1d-4c8e-9a7f-2d6b8e1c4a90".into(),
        tenant: "acme".into(),
        agent: "ide-assistant".into(),
        credential_id: "k_8f3a2c1d9e".into(),
        method: "tools/call".into(),
        tool: Some("demo.echo".into()),
        tool_class: Some("read".into()),
        decision: Some(Decision::Allow),
        code: Some("ok".into()),
        args_hash: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
        args_preview: Some(r#"{"text":"portcullis-bench"}"#.into()),
        latency_us: None,
        facts: Default::default(),
    }
}

fn bench_record(c: &mut Criterion) {
    let r = decision_record();
    let mut g = c.benchmark_group("ledger_record");
    g.bench_function("canonical_bytes", |b| {
        b.iter(|| canonical_bytes(black_box(&r)))
    });
    g.bench_function("canonical_bytes_and_leaf_hash", |b| {
        b.iter(|| leaf_hash(black_box(&r)))
    });
    g.finish();
}

criterion_group!(benches, bench_record);
criterion_main!(benches);
