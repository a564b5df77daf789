//! Checkpoints: the latest is the largest, and they only grow.

use std::sync::Arc;

use portcullis_store::{Backend, StoreError};

use super::checkpoint;

pub async fn the_latest_checkpoint_is_the_largest<B: Backend>(s: Arc<B>) {
    assert_eq!(s.latest_checkpoint().await.unwrap(), None);
    s.save_checkpoint(checkpoint(3, [3; 32])).await.unwrap();
    assert_eq!(
        s.latest_checkpoint().await.unwrap(),
        Some(checkpoint(3, [3; 32]))
    );
    s.save_checkpoint(checkpoint(5, [5; 32])).await.unwrap();
    assert_eq!(
        s.latest_checkpoint().await.unwrap(),
        Some(checkpoint(5, [5; 32]))
    );
}

pub async fn checkpoints_only_grow<B: Backend>(s: Arc<B>) {
    s.save_checkpoint(checkpoint(5, [5; 32])).await.unwrap();
    for size in [5, 4, 0] {
        assert!(
            matches!(
                s.save_checkpoint(checkpoint(size, [9; 32])).await,
                Err(StoreError::Conflict(_))
            ),
            "size {size}"
        );
    }
    assert_eq!(
        s.latest_checkpoint().await.unwrap(),
        Some(checkpoint(5, [5; 32]))
    );
    s.save_checkpoint(checkpoint(6, [6; 32])).await.unwrap();
}
