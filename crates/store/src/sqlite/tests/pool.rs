//! The reader pool: a read that holds its connection does not stall other reads.

use super::*;

/// Only a guard against a hang; the lookup is expected to finish at once.
const GUARD: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_read_does_not_block_a_key_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    store.insert_key(key("k")).await.unwrap();

    let (started_tx, started) = oneshot::channel();
    let (finish, finish_rx) = std::sync::mpsc::channel::<()>();
    let long = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .read(move |_conn| {
                    let _ = started_tx.send(());
                    let _ = finish_rx.recv();
                    Ok(())
                })
                .await
        }
    });
    started.await.unwrap();

    let found = tokio::time::timeout(GUARD, store.find_key("k"))
        .await
        .expect("a key lookup waited for a held reader");
    assert!(found.unwrap().is_some());

    finish.send(()).unwrap();
    long.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_wait_for_a_free_connection_and_closing_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    let held: Vec<_> = {
        let mut leases = Vec::new();
        for _ in 0..READERS {
            leases.push(store.readers.lease().await.unwrap());
        }
        leases
    };
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { store.find_key("k").await }
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "every connection is held");
    drop(held);
    let found = tokio::time::timeout(GUARD, waiting).await.unwrap().unwrap();
    assert!(found.unwrap().is_none());
    store.close().await;
    assert!(matches!(
        store.readers.lease().await.err(),
        Some(StoreError::Closed)
    ));
}
