//! Keys: insert, find, list oldest first, unique ids, first revocation wins.

use std::sync::Arc;

use portcullis_store::{Backend, StoreError};

use super::key;

pub async fn keys_are_found_and_listed_oldest_first<B: Backend>(s: Arc<B>) {
    assert!(s.list_keys().await.unwrap().is_empty());
    for (id, created) in [("c", 3), ("b", 2), ("a", 2), ("d", 1)] {
        s.insert_key(key(id, created)).await.unwrap();
    }
    assert_eq!(s.find_key("b").await.unwrap(), Some(key("b", 2)));
    assert_eq!(s.find_key("zzz").await.unwrap(), None);
    let ids: Vec<String> = s
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, ["d", "a", "b", "c"], "by creation time, then id");
}

pub async fn a_duplicate_key_id_conflicts<B: Backend>(s: Arc<B>) {
    s.insert_key(key("k", 1)).await.unwrap();
    let mut other = key("k", 2);
    other.role = "admin".into();
    assert!(matches!(
        s.insert_key(other).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.find_key("k").await.unwrap(), Some(key("k", 1)));
    assert_eq!(s.list_keys().await.unwrap().len(), 1);
}

pub async fn revoking_keeps_the_first_revocation_time<B: Backend>(s: Arc<B>) {
    s.insert_key(key("k", 1)).await.unwrap();
    s.insert_key(key("other", 1)).await.unwrap();
    assert!(s.revoke_key("k", 5).await.unwrap());
    assert!(s.revoke_key("k", 9).await.unwrap());
    assert!(s.revoke_key("k", 2).await.unwrap());
    assert_eq!(s.find_key("k").await.unwrap().unwrap().revoked_ms, Some(5));
    assert_eq!(s.find_key("other").await.unwrap().unwrap().revoked_ms, None);
    assert!(!s.revoke_key("zzz", 5).await.unwrap());
    assert_eq!(s.find_key("zzz").await.unwrap(), None);
}
