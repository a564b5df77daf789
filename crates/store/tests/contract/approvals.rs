//! Approvals: created once, decided once while pending and unexpired, consumed exactly once
//! by a call that matches every binding field.

use std::sync::Arc;

use portcullis_store::{ApprovalBinding, ApprovalState, Backend, Consumption, StoreError};

use super::{approval, binding, concurrently};

/// Create approval `id` and approve it at 10.
async fn approved<B: Backend>(s: &B, id: &str) {
    s.create_approval(approval(id, 1)).await.unwrap();
    s.decide_approval(id, true, "admin", None, 10)
        .await
        .unwrap();
}

async fn state<B: Backend>(s: &B, id: &str) -> ApprovalState {
    s.approval(id).await.unwrap().unwrap().state
}

pub async fn approvals_are_created_once<B: Backend>(s: Arc<B>) {
    assert_eq!(s.approval("a").await.unwrap(), None);
    s.create_approval(approval("a", 1)).await.unwrap();
    assert_eq!(s.approval("a").await.unwrap(), Some(approval("a", 1)));
    let mut again = approval("a", 2);
    again.binding = binding("other");
    assert!(matches!(
        s.create_approval(again).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.approval("a").await.unwrap(), Some(approval("a", 1)));
}

pub async fn deciding_approves_or_denies<B: Backend>(s: Arc<B>) {
    s.create_approval(approval("yes", 1)).await.unwrap();
    s.create_approval(approval("no", 1)).await.unwrap();
    let yes = s
        .decide_approval("yes", true, "alice", Some("looks fine".into()), 20)
        .await
        .unwrap();
    let mut expected = approval("yes", 1);
    expected.state = ApprovalState::Approved;
    expected.decided_by = Some("alice".into());
    expected.decided_ms = Some(20);
    expected.reason = Some("looks fine".into());
    assert_eq!(yes, expected);
    assert_eq!(s.approval("yes").await.unwrap(), Some(expected));

    let no = s
        .decide_approval("no", false, "bob", None, 30)
        .await
        .unwrap();
    assert_eq!(
        (
            no.state,
            no.decided_by.as_deref(),
            no.decided_ms,
            no.reason.as_deref()
        ),
        (ApprovalState::Denied, Some("bob"), Some(30), None)
    );
    assert_eq!(s.approval("no").await.unwrap(), Some(no));
}

pub async fn deciding_twice_conflicts<B: Backend>(s: Arc<B>) {
    approved(&*s, "a").await;
    for approve in [true, false] {
        assert!(matches!(
            s.decide_approval("a", approve, "mallory", None, 11).await,
            Err(StoreError::Conflict(_))
        ));
    }
    let a = s.approval("a").await.unwrap().unwrap();
    assert_eq!(
        (a.state, a.decided_by.as_deref(), a.decided_ms),
        (ApprovalState::Approved, Some("admin"), Some(10))
    );
}

pub async fn deciding_an_expired_approval_conflicts<B: Backend>(s: Arc<B>) {
    // Both expire at 1000: deciding at 1000 is still in time, at 1001 it is not.
    s.create_approval(approval("late", 1)).await.unwrap();
    s.create_approval(approval("just", 1)).await.unwrap();
    assert!(matches!(
        s.decide_approval("late", true, "admin", None, 1001).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(state(&*s, "late").await, ApprovalState::Pending);
    s.decide_approval("just", true, "admin", None, 1000)
        .await
        .unwrap();
}

pub async fn deciding_an_unknown_approval_is_not_found<B: Backend>(s: Arc<B>) {
    assert!(matches!(
        s.decide_approval("nope", true, "admin", None, 1).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn consuming_needs_every_binding_field<B: Backend>(s: Arc<B>) {
    approved(&*s, "a").await;
    let changes: [fn(&mut ApprovalBinding); 6] = [
        |b| b.tenant.push('x'),
        |b| b.agent.push('x'),
        |b| b.tool.push('x'),
        |b| b.pin.push('x'),
        |b| b.args_digest.push('x'),
        |b| b.policy_version.push('x'),
    ];
    for (field, change) in changes.iter().enumerate() {
        let mut other = binding("t");
        change(&mut other);
        assert_eq!(
            s.consume_approval("a", &other, 20).await.unwrap(),
            Consumption::Mismatch,
            "binding field {field}"
        );
    }
    assert_eq!(state(&*s, "a").await, ApprovalState::Approved);
    let Consumption::Consumed(used) = s.consume_approval("a", &binding("t"), 20).await.unwrap()
    else {
        panic!("a matching call consumes the approval");
    };
    assert_eq!(
        (used.state, used.consumed_ms),
        (ApprovalState::Consumed, Some(20))
    );
    assert_eq!(s.approval("a").await.unwrap(), Some(*used));
}

pub async fn consuming_refuses_expired_unapproved_and_unknown_approvals<B: Backend>(s: Arc<B>) {
    let b = binding("t");
    s.create_approval(approval("pending", 1)).await.unwrap();
    assert_eq!(
        s.consume_approval("pending", &b, 20).await.unwrap(),
        Consumption::NotApproved(ApprovalState::Pending)
    );
    s.create_approval(approval("denied", 1)).await.unwrap();
    s.decide_approval("denied", false, "admin", None, 10)
        .await
        .unwrap();
    assert_eq!(
        s.consume_approval("denied", &b, 20).await.unwrap(),
        Consumption::NotApproved(ApprovalState::Denied)
    );
    approved(&*s, "old").await;
    assert_eq!(
        s.consume_approval("old", &b, 1001).await.unwrap(),
        Consumption::Expired
    );
    assert_eq!(state(&*s, "old").await, ApprovalState::Approved);
    assert!(matches!(
        s.consume_approval("old", &b, 1000).await.unwrap(),
        Consumption::Consumed(_)
    ));
    assert_eq!(
        s.consume_approval("old", &b, 1000).await.unwrap(),
        Consumption::NotApproved(ApprovalState::Consumed)
    );
    assert_eq!(
        s.consume_approval("nope", &b, 20).await.unwrap(),
        Consumption::NotFound
    );
}

pub async fn exactly_one_of_many_concurrent_consumers_wins<B: Backend>(s: Arc<B>) {
    approved(&*s, "a").await;
    let outcomes = concurrently(&s, 100, |s, i| async move {
        s.consume_approval("a", &binding("t"), 20 + i as i64)
            .await
            .unwrap()
    })
    .await;
    let won = outcomes
        .iter()
        .filter(|c| matches!(c, Consumption::Consumed(_)))
        .count();
    assert_eq!(won, 1, "{outcomes:?}");
    let lost = outcomes
        .iter()
        .filter(|c| **c == Consumption::NotApproved(ApprovalState::Consumed))
        .count();
    assert_eq!(lost, 99);
    assert_eq!(state(&*s, "a").await, ApprovalState::Consumed);
}

pub async fn pending_approvals_are_listed_by_tenant_oldest_first<B: Backend>(s: Arc<B>) {
    let mut made = Vec::new();
    for (id, tenant, created, expires) in [
        ("p1", "t", 5, 1000),
        ("p2", "u", 3, 1000),
        ("p3", "t", 1, 50),
        ("p4", "t", 4, 1000),
        ("p0", "t", 5, 1000),
    ] {
        let mut a = approval(id, created);
        a.binding = binding(tenant);
        a.expires_ms = expires;
        s.create_approval(a.clone()).await.unwrap();
        made.push(a);
    }
    s.decide_approval("p4", true, "admin", None, 6)
        .await
        .unwrap();
    let ids = |list: Vec<portcullis_store::Approval>| -> Vec<String> {
        list.into_iter().map(|a| a.id).collect()
    };
    assert_eq!(
        ids(s.pending_approvals(None, 10).await.unwrap()),
        ["p3", "p2", "p0", "p1"]
    );
    assert_eq!(
        ids(s.pending_approvals(Some("t"), 10).await.unwrap()),
        ["p3", "p0", "p1"]
    );
    assert_eq!(
        ids(s.pending_approvals(Some("t"), 50).await.unwrap()),
        ["p3", "p0", "p1"],
        "still pending at its expiry"
    );
    assert_eq!(
        ids(s.pending_approvals(Some("t"), 51).await.unwrap()),
        ["p0", "p1"]
    );
    assert!(s.pending_approvals(Some("v"), 10).await.unwrap().is_empty());
    assert_eq!(
        s.pending_approvals(Some("u"), 10).await.unwrap(),
        [made[1].clone()]
    );
}
