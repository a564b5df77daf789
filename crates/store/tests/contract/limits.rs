//! Limits: GCRA rate buckets as the trait states them, and quota counters that never pass
//! their limit.

use std::sync::Arc;

use portcullis_store::{Backend, QuotaOutcome, RateOutcome, RateSpec, RateTake, RatesOutcome};

use super::concurrently;

const SPEC: RateSpec = RateSpec {
    interval_us: 100_000,
    burst: 3,
};

fn allowed(remaining: u32) -> RateOutcome {
    RateOutcome::Allowed { remaining }
}

fn limited(retry_after_ms: u64) -> RateOutcome {
    RateOutcome::Limited { retry_after_ms }
}

pub async fn gcra_allows_a_burst_then_limits_with_the_exact_wait<B: Backend>(s: Arc<B>) {
    let t = 1_000_000;
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(s.take_rate("k", SPEC, t).await.unwrap());
    }
    assert_eq!(
        got,
        [
            allowed(2),
            allowed(1),
            allowed(0),
            limited(100),
            limited(100)
        ],
        "a refused cell is not taken"
    );
    assert_eq!(s.take_rate("k", SPEC, t + 40).await.unwrap(), limited(60));
    assert_eq!(s.take_rate("k", SPEC, t + 99).await.unwrap(), limited(1));
    assert_eq!(s.take_rate("k", SPEC, t + 100).await.unwrap(), allowed(0));
    assert_eq!(s.take_rate("k", SPEC, t + 100).await.unwrap(), limited(100));
}

pub async fn gcra_refills_one_cell_per_interval<B: Backend>(s: Arc<B>) {
    let t = 1_000_000;
    for _ in 0..3 {
        s.take_rate("k", SPEC, t).await.unwrap();
    }
    assert_eq!(s.take_rate("k", SPEC, t + 250).await.unwrap(), allowed(1));
    assert_eq!(s.take_rate("k", SPEC, t + 250).await.unwrap(), allowed(0));
    assert_eq!(s.take_rate("k", SPEC, t + 250).await.unwrap(), limited(50));
    // Long idle: a full burst again, never more.
    assert_eq!(
        s.take_rate("k", SPEC, t + 10_000).await.unwrap(),
        allowed(2)
    );
    let one = RateSpec {
        interval_us: 1_000_000,
        burst: 1,
    };
    assert_eq!(s.take_rate("slow", one, t).await.unwrap(), allowed(0));
    assert_eq!(s.take_rate("slow", one, t + 1).await.unwrap(), limited(999));
}

pub async fn rate_buckets_are_independent<B: Backend>(s: Arc<B>) {
    let t = 1_000_000;
    for _ in 0..3 {
        s.take_rate("a", SPEC, t).await.unwrap();
    }
    assert_eq!(s.take_rate("a", SPEC, t).await.unwrap(), limited(100));
    assert_eq!(s.take_rate("b", SPEC, t).await.unwrap(), allowed(2));
    assert_eq!(s.take_rate("a", SPEC, t).await.unwrap(), limited(100));
}

pub async fn several_buckets_are_taken_all_or_none<B: Backend>(s: Arc<B>) {
    let t = 1_000_000;
    let one = RateSpec {
        interval_us: 100_000,
        burst: 1,
    };
    let takes = [
        RateTake {
            key: "wide".into(),
            spec: SPEC,
        },
        RateTake {
            key: "narrow".into(),
            spec: one,
        },
    ];
    assert_eq!(
        s.take_rates(&takes, t).await.unwrap(),
        RatesOutcome::Allowed
    );
    assert_eq!(
        s.take_rates(&takes, t).await.unwrap(),
        RatesOutcome::Limited {
            index: 1,
            retry_after_ms: 100
        }
    );
    // The refused take spent nothing: "wide" gave one cell of its three.
    assert_eq!(s.take_rate("wide", SPEC, t).await.unwrap(), allowed(1));
    assert_eq!(
        s.take_rates(&takes, t + 100).await.unwrap(),
        RatesOutcome::Allowed
    );
    assert_eq!(s.take_rates(&[], t).await.unwrap(), RatesOutcome::Allowed);
}

pub async fn quota_counts_up_to_the_limit_and_never_past_it<B: Backend>(s: Arc<B>) {
    let counted = |used| QuotaOutcome::Counted { used };
    let exceeded = |used| QuotaOutcome::Exceeded { used };
    assert_eq!(s.add_usage("q", 0, 3, 5).await.unwrap(), counted(3));
    assert_eq!(s.add_usage("q", 0, 3, 5).await.unwrap(), exceeded(3));
    assert_eq!(s.usage("q", 0).await.unwrap(), 3, "an excess adds nothing");
    assert_eq!(s.add_usage("q", 0, 2, 5).await.unwrap(), counted(5));
    assert_eq!(s.add_usage("q", 0, 1, 5).await.unwrap(), exceeded(5));
    assert_eq!(s.add_usage("q", 0, u64::MAX, 5).await.unwrap(), exceeded(5));
    assert_eq!(s.add_usage("q", 0, 1, 6).await.unwrap(), counted(6));
    assert_eq!(s.usage("q", 0).await.unwrap(), 6);
}

pub async fn refunds_never_go_below_zero<B: Backend>(s: Arc<B>) {
    s.add_usage("q", 0, 3, 10).await.unwrap();
    s.refund_usage("q", 0, 2).await.unwrap();
    assert_eq!(s.usage("q", 0).await.unwrap(), 1);
    s.refund_usage("q", 0, 5).await.unwrap();
    assert_eq!(s.usage("q", 0).await.unwrap(), 0);
    s.refund_usage("never", 0, 5).await.unwrap();
    assert_eq!(s.usage("never", 0).await.unwrap(), 0);
    assert_eq!(
        s.add_usage("q", 0, 10, 10).await.unwrap(),
        QuotaOutcome::Counted { used: 10 }
    );
}

pub async fn usage_is_kept_per_key_and_window<B: Backend>(s: Arc<B>) {
    s.add_usage("q", 0, 4, 10).await.unwrap();
    s.add_usage("q", 60_000, 1, 10).await.unwrap();
    s.add_usage("r", 0, 2, 10).await.unwrap();
    assert_eq!(s.usage("q", 0).await.unwrap(), 4);
    assert_eq!(s.usage("q", 60_000).await.unwrap(), 1);
    assert_eq!(s.usage("r", 0).await.unwrap(), 2);
    assert_eq!(s.usage("r", 60_000).await.unwrap(), 0);
    s.refund_usage("q", 60_000, 1).await.unwrap();
    assert_eq!(s.usage("q", 0).await.unwrap(), 4);
}

pub async fn concurrent_usage_counts_exactly_up_to_the_limit<B: Backend>(s: Arc<B>) {
    let outcomes = concurrently(&s, 100, |s, _| async move {
        s.add_usage("q", 0, 1, 50).await.unwrap()
    })
    .await;
    let mut counted: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| match o {
            QuotaOutcome::Counted { used } => Some(*used),
            QuotaOutcome::Exceeded { .. } => None,
        })
        .collect();
    counted.sort_unstable();
    assert_eq!(counted, (1..=50).collect::<Vec<_>>());
    assert!(
        outcomes
            .iter()
            .filter(|o| matches!(o, QuotaOutcome::Exceeded { .. }))
            .all(|o| *o == QuotaOutcome::Exceeded { used: 50 })
    );
    assert_eq!(s.usage("q", 0).await.unwrap(), 50);
}
