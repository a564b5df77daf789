//! Ledger throughput: durable appends per second through the group-committing SQLite writer
//! (many concurrent appenders, each waiting until its record is durable), then the time
//! `verify_sqlite` takes over the whole file. Run with
//! `cargo bench -p portcullis-store --bench ledger`; it also times signing a checkpoint (the
//! first check reads every leaf hash, later ones only the new) and building a proof (records: `LEDGER_BENCH_RECORDS`, default
//! 1,000,000; concurrent appenders: `LEDGER_BENCH_TASKS`, default 4096; the database goes in
//! `LEDGER_BENCH_DIR`, default a temporary directory under `target/`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use portcullis_ledger::merkle::Tree;
use portcullis_ledger::note::NoteSigner;
use portcullis_ledger::{Decision, RECORD_VERSION, Record, RecordKind, proof};
use portcullis_store::{
    Checkpointer, LedgerStore, Lifecycle, SqliteOptions, SqliteStore, verify_sqlite,
};

#[allow(clippy::disallowed_methods)]
fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[allow(clippy::disallowed_methods)]
fn bench_dir() -> tempfile::TempDir {
    match std::env::var("LEDGER_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).expect("LEDGER_BENCH_DIR"),
        Err(_) => {
            let target = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target");
            tempfile::tempdir_in(target).expect("target dir")
        }
    }
}

/// A record shaped like a real decision record (about 330 bytes encoded).
fn record(i: u64) -> Record {
    Record {
        version: RECORD_VERSION,
        seq: 0,
        time_ms: 1_700_000_000_000 + i as i64,
        kind: RecordKind::Decision,
        correlation_id: format!("7f1c2e4a-0b5d-4c3e-9a8b-{i:012}"),
        tenant: format!("tenant-{}", i % 16),
        agent: "agent-build-bot".into(),
        credential_id: "0123456789ab".into(),
        method: "tools/call".into(),
        tool: Some("demo.notes_write".into()),
        tool_class: Some("write".into()),
        decision: Some(Decision::Allow),
        code: None,
        args_hash: Some("ab".repeat(32)),
        args_preview: Some(format!("{{\"key\":\"note-{i}\",\"text\":\"hello world\"}}")),
        latency_us: None,
        facts: Default::default(),
    }
}

fn main() {
    let total = env_u64("LEDGER_BENCH_RECORDS", 1_000_000);
    let tasks = env_u64("LEDGER_BENCH_TASKS", 4096);
    let dir = bench_dir();
    let path = dir.path().join("bench.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(
        SqliteStore::open(SqliteOptions {
            path: path.clone(),
            busy_timeout: Duration::from_secs(5),
        })
        .unwrap(),
    );
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (store, next) = (store.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            return;
                        }
                        store.append(record(i)).await.expect("append");
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        store.close().await;
    });
    let took = start.elapsed();
    println!(
        "append: {total} durable appends by {tasks} concurrent appenders in {:.2} s = {:.0} appends/s",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64()
    );
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let start = Instant::now();
    let report = verify_sqlite(&path, &[]).expect("the ledger verifies");
    let took = start.elapsed();
    assert_eq!(report.size, total);
    println!(
        "verify: {} records ({} MiB file) in {:.2} s = {:.0} records/s on {} threads",
        report.size,
        size >> 20,
        took.as_secs_f64(),
        report.size as f64 / took.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    checkpoint_and_proof_costs(&rt, &path, total);
}

fn secs(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// Signing cost at this size (first and incremental) and the cost of one inclusion proof.
fn checkpoint_and_proof_costs(rt: &tokio::runtime::Runtime, path: &std::path::Path, total: u64) {
    rt.block_on(async {
        let store = SqliteStore::open(SqliteOptions {
            path: path.to_path_buf(),
            busy_timeout: Duration::from_secs(5),
        })
        .unwrap();
        let signer = NoteSigner::new("bench", SigningKey::from_bytes(&[1; 32])).unwrap();
        let mut cp = Checkpointer::new(signer, "bench");
        let start = Instant::now();
        cp.sign(&store, &store, 0).await.unwrap().unwrap();
        let first = secs(start);
        let add = 10_000u64;
        for i in 0..add {
            store.append(record(total + i)).await.unwrap();
        }
        let start = Instant::now();
        cp.sign(&store, &store, 0).await.unwrap().unwrap();
        let next = secs(start);
        println!(
            "checkpoint: first signing at {total} records {first:.2} s (reads every leaf hash); next after {add} more {:.1} ms",
            next * 1e3
        );
        let size = total + add;
        let start = Instant::now();
        let tree = Tree::new(store.leaf_hashes(0, size).await.unwrap());
        let p = proof::inclusion(&tree, size / 3, size).unwrap();
        let took = secs(start);
        p.verify().unwrap();
        println!("proof: one inclusion proof at {size} records {took:.2} s (reads every leaf hash)");
        store.close().await;
    });
}
