//! Ledger: gapless seqs, the Merkle head, ranges, queued appends and pruning.

use std::sync::Arc;

use portcullis_ledger::canonical::parse_canonical;
use portcullis_ledger::{RECORD_VERSION, merkle};
use portcullis_store::{Backend, StoreError};

use super::{checkpoint, record};
use crate::common::T0;

/// Append records `0..n` and return their leaf hashes.
async fn append_n<B: Backend>(s: &B, n: u64) -> Vec<[u8; 32]> {
    let mut leaves = Vec::new();
    for i in 0..n {
        leaves.push(s.append(record(i)).await.unwrap().leaf_hash);
    }
    leaves
}

pub async fn appends_get_consecutive_seqs_and_their_leaf_hashes<B: Backend>(s: Arc<B>) {
    for i in 0..10 {
        let a = s.append(record(i)).await.unwrap();
        assert_eq!(a.seq, i);
        let mut expected = record(i);
        expected.seq = i;
        let bytes = portcullis_ledger::canonical::canonical_bytes(&expected).unwrap();
        assert_eq!(a.leaf_hash, merkle::hash_leaf(&bytes), "record {i}");
    }
    assert_eq!(s.head().await.unwrap().size, 10);
}

pub async fn the_head_is_the_merkle_root_of_the_leaf_hashes<B: Backend>(s: Arc<B>) {
    let empty = s.head().await.unwrap();
    assert_eq!((empty.size, empty.root), (0, merkle::root(&[])));
    let mut leaves = Vec::new();
    for i in 0..13 {
        leaves.push(s.append(record(i)).await.unwrap().leaf_hash);
        let head = s.head().await.unwrap();
        assert_eq!(head.size, i + 1);
        assert_eq!(head.root, merkle::root(&leaves), "size {}", i + 1);
    }
}

pub async fn read_records_returns_ranges<B: Backend>(s: Arc<B>) {
    let leaves = append_n(&*s, 10).await;
    let rows = s.read_records(3, 4).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4, 5, 6]);
    for row in &rows {
        let parsed = parse_canonical(&row.bytes).unwrap();
        assert_eq!(parsed.seq, row.seq);
        assert_eq!(parsed.correlation_id, format!("c{}", row.seq));
        assert_eq!(row.leaf_hash, leaves[row.seq as usize]);
        assert_eq!(row.leaf_hash, merkle::hash_leaf(&row.bytes));
    }
    let tail = s.read_records(8, 100).await.unwrap();
    assert_eq!(tail.iter().map(|r| r.seq).collect::<Vec<_>>(), [8, 9]);
    assert!(s.read_records(10, 5).await.unwrap().is_empty());
    assert!(s.read_records(0, 0).await.unwrap().is_empty());
    assert_eq!(s.read_records(0, usize::MAX).await.unwrap().len(), 10);
}

pub async fn leaf_hashes_returns_ranges_and_refuses_past_the_end<B: Backend>(s: Arc<B>) {
    let leaves = append_n(&*s, 10).await;
    assert_eq!(s.leaf_hashes(2, 5).await.unwrap(), leaves[2..5]);
    assert_eq!(s.leaf_hashes(0, 10).await.unwrap(), leaves);
    assert!(s.leaf_hashes(10, 10).await.unwrap().is_empty());
    assert!(s.leaf_hashes(4, 4).await.unwrap().is_empty());
    for (from, to) in [(4, 11), (10, 11), (12, 15)] {
        assert!(
            matches!(s.leaf_hashes(from, to).await, Err(StoreError::Corrupt(_))),
            "{from}..{to}"
        );
    }
}

pub async fn enqueued_records_keep_their_order_and_resolve<B: Backend>(s: Arc<B>) {
    assert_eq!(s.append(record(0)).await.unwrap().seq, 0);
    let mut queued = Vec::new();
    for i in 1..=20 {
        queued.push(s.enqueue(record(i)).await.unwrap());
    }
    let mut seqs = Vec::new();
    for q in queued {
        seqs.push(q.await.unwrap().seq);
    }
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    let names: Vec<String> = s
        .read_records(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| parse_canonical(&r.bytes).unwrap().correlation_id)
        .collect();
    assert_eq!(names, (0..=20).map(|i| format!("c{i}")).collect::<Vec<_>>());
    assert_eq!(s.head().await.unwrap().size, 21);
}

pub async fn an_uncanonical_record_is_refused_and_takes_no_seq<B: Backend>(s: Arc<B>) {
    s.append(record(0)).await.unwrap();
    let mut bad = record(1);
    bad.version = RECORD_VERSION + 1;
    let refused = s.append(bad).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(s.append(record(2)).await.unwrap().seq, 1);
    assert_eq!(s.head().await.unwrap().size, 2);
}

pub async fn prune_removes_content_only_below_a_checkpoint_and_keeps_the_tree<B: Backend>(
    s: Arc<B>,
) {
    // Records 0..6 made at T0..T0 + 6.
    let mut leaves = append_n(&*s, 6).await;
    let p = s.prune(i64::MAX).await.unwrap();
    assert_eq!(
        (p.pruned_below, p.removed),
        (0, 0),
        "nothing is pruned before a checkpoint covers it"
    );
    let covered = s.head().await.unwrap();
    s.save_checkpoint(checkpoint(covered.size, covered.root))
        .await
        .unwrap();
    leaves.push(s.append(record(6)).await.unwrap().leaf_hash);
    let head = s.head().await.unwrap();

    let p = s.prune(T0 + 3).await.unwrap();
    assert_eq!((p.pruned_below, p.removed), (3, 3), "records before T0 + 3");
    let p = s.prune(T0 + 2).await.unwrap();
    assert_eq!(
        (p.pruned_below, p.removed),
        (3, 0),
        "a prune never goes back"
    );
    let p = s.prune(i64::MAX).await.unwrap();
    assert_eq!(
        (p.pruned_below, p.removed),
        (6, 3),
        "never past the checkpoint"
    );
    assert_eq!(s.head().await.unwrap(), head);
    assert_eq!(s.leaf_hashes(0, 7).await.unwrap(), leaves);
    assert_eq!(merkle::root(&leaves), head.root);
    let rows = s.read_records(0, 10).await.unwrap();
    assert_eq!(rows.len(), 7);
    assert!(rows[..6].iter().all(|r| r.bytes.is_empty()));
    assert_eq!(
        parse_canonical(&rows[6].bytes).unwrap().correlation_id,
        "c6"
    );
    assert_eq!(rows.iter().map(|r| r.leaf_hash).collect::<Vec<_>>(), leaves);
    assert_eq!(s.append(record(7)).await.unwrap().seq, 7);
}
