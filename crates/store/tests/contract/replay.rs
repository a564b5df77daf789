//! Replay: one holder per key, in flight until completed, free again once released or
//! expired (a reservation holds up to and including its `expires_ms`).

use std::sync::Arc;

use portcullis_store::{Backend, Reservation, StoreError};

use super::concurrently;

fn inflight() -> Reservation {
    Reservation::InFlight {
        fingerprint: "fp".into(),
    }
}

fn done(result: &[u8]) -> Reservation {
    Reservation::Completed {
        fingerprint: "fp".into(),
        result: result.to_vec(),
    }
}

pub async fn exactly_one_of_many_concurrent_reservations_wins<B: Backend>(s: Arc<B>) {
    let outcomes = concurrently(&s, 100, |s, _| async move {
        s.reserve("nonce", "fp", 1000, 1).await.unwrap()
    })
    .await;
    let won = outcomes
        .iter()
        .filter(|r| **r == Reservation::Reserved)
        .count();
    assert_eq!(won, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|r| matches!(r, Reservation::Reserved | Reservation::InFlight { .. }))
    );
}

pub async fn a_reservation_is_in_flight_until_completed<B: Backend>(s: Arc<B>) {
    assert_eq!(
        s.reserve("k", "fp", 1000, 1).await.unwrap(),
        Reservation::Reserved
    );
    assert_eq!(s.reserve("k", "fp", 2000, 2).await.unwrap(), inflight());
    assert_eq!(
        s.reserve("other", "fp", 1000, 2).await.unwrap(),
        Reservation::Reserved
    );
    s.complete("k", b"result".to_vec(), 1000).await.unwrap();
    assert_eq!(
        s.reserve("k", "fp", 2000, 3).await.unwrap(),
        done(b"result")
    );
    assert!(matches!(
        s.complete("k", b"again".to_vec(), 1000).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.reserve("k", "fp", 2000, 4).await.unwrap(),
        done(b"result")
    );
    assert!(matches!(
        s.complete("never", b"x".to_vec(), 1000).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.reserve("other", "fp", 1000, 5).await.unwrap(), inflight());
}

pub async fn release_frees_a_reservation_that_did_not_complete<B: Backend>(s: Arc<B>) {
    assert_eq!(
        s.reserve("k", "fp", 1000, 1).await.unwrap(),
        Reservation::Reserved
    );
    s.release("k").await.unwrap();
    assert_eq!(
        s.reserve("k", "fp", 1000, 2).await.unwrap(),
        Reservation::Reserved
    );
    s.complete("k", b"done".to_vec(), 1000).await.unwrap();
    s.release("k").await.unwrap();
    assert_eq!(
        s.reserve("k", "fp", 1000, 3).await.unwrap(),
        done(b"done"),
        "a completed reservation is not released"
    );
    s.release("never").await.unwrap();
}

pub async fn an_expired_reservation_can_be_taken_again<B: Backend>(s: Arc<B>) {
    assert_eq!(
        s.reserve("k", "fp", 100, 1).await.unwrap(),
        Reservation::Reserved
    );
    assert_eq!(
        s.reserve("k", "fp", 500, 100).await.unwrap(),
        inflight(),
        "held at its expiry"
    );
    assert_eq!(
        s.reserve("k", "fp", 500, 101).await.unwrap(),
        Reservation::Reserved
    );
    assert_eq!(s.reserve("k", "fp", 600, 500).await.unwrap(), inflight());
    s.complete("k", b"r".to_vec(), 500).await.unwrap();
    assert_eq!(s.reserve("k", "fp", 600, 500).await.unwrap(), done(b"r"));
    assert_eq!(
        s.reserve("k", "fp", 900, 501).await.unwrap(),
        Reservation::Reserved,
        "a result is kept only until the reservation expires"
    );
}

pub async fn purge_forgets_expired_reservations_and_counts_them<B: Backend>(s: Arc<B>) {
    for (key, expires) in [("a", 10), ("b", 20), ("c", 30), ("d", 40)] {
        s.reserve(key, "fp", expires, 1).await.unwrap();
    }
    s.complete("c", b"c".to_vec(), 30).await.unwrap();
    assert_eq!(s.purge_expired(10).await.unwrap(), 0, "a holds at 10");
    assert_eq!(s.purge_expired(21).await.unwrap(), 2);
    assert_eq!(s.purge_expired(21).await.unwrap(), 0);
    assert!(matches!(
        s.complete("a", b"late".to_vec(), 30).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.purge_expired(31).await.unwrap(), 1);
    assert_eq!(
        s.reserve("d", "fp", 50, 31).await.unwrap(),
        inflight(),
        "an unexpired reservation stays"
    );
    assert_eq!(
        s.reserve("c", "fp", 50, 31).await.unwrap(),
        Reservation::Reserved
    );
}

pub async fn a_result_is_kept_as_long_as_completion_says_with_its_fingerprint<B: Backend>(
    s: Arc<B>,
) {
    assert_eq!(
        s.reserve("k", "digest-a", 100, 1).await.unwrap(),
        Reservation::Reserved
    );
    assert_eq!(
        s.reserve("k", "digest-b", 100, 2).await.unwrap(),
        Reservation::InFlight {
            fingerprint: "digest-a".into()
        },
        "the holder's fingerprint, not the asker's"
    );
    s.complete("k", b"r".to_vec(), 10_000).await.unwrap();
    let kept = Reservation::Completed {
        fingerprint: "digest-a".into(),
        result: b"r".to_vec(),
    };
    assert_eq!(s.reserve("k", "digest-b", 200, 5_000).await.unwrap(), kept);
    assert_eq!(s.purge_expired(9_999).await.unwrap(), 0);
    assert_eq!(s.reserve("k", "x", 200, 10_000).await.unwrap(), kept);
    assert_eq!(
        s.reserve("k", "digest-c", 20_000, 10_001).await.unwrap(),
        Reservation::Reserved
    );
}
