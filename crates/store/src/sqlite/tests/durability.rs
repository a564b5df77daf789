//! What must survive a restart does: quota counters, approvals, reservations, controls.

use super::*;
use crate::{
    Approval, ApprovalBinding, ApprovalState, ApprovalStore, Consumption, ControlStore, KillSwitch,
    LimitStore, QuotaOutcome, ReplayStore, Reservation, SwitchScope,
};

fn binding() -> ApprovalBinding {
    ApprovalBinding {
        tenant: "t".into(),
        agent: "a".into(),
        tool: "demo.delete".into(),
        pin: "p".into(),
        args_digest: "d".into(),
        policy_version: "1".into(),
    }
}

#[tokio::test]
async fn quotas_approvals_reservations_and_controls_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        store.add_usage("q", 1000, 7, 10).await.unwrap();
        store
            .create_approval(Approval {
                id: "ap".into(),
                binding: binding(),
                state: ApprovalState::Pending,
                created_ms: 1,
                expires_ms: 100,
                decided_by: None,
                decided_ms: None,
                reason: None,
                consumed_ms: None,
            })
            .await
            .unwrap();
        store
            .decide_approval("ap", true, "admin", Some("ok".into()), 2)
            .await
            .unwrap();
        store.reserve("nonce", "fp", 100, 1).await.unwrap();
        store
            .set_switch(KillSwitch {
                scope: SwitchScope::Global,
                engaged: true,
                reason: "r".into(),
                actor: "admin".into(),
                updated_ms: 3,
            })
            .await
            .unwrap();
        store.close().await;
    }
    let store = open(&dir);
    assert_eq!(store.usage("q", 1000).await.unwrap(), 7);
    assert_eq!(
        store.add_usage("q", 1000, 4, 10).await.unwrap(),
        QuotaOutcome::Exceeded { used: 7 }
    );
    let ap = store.approval("ap").await.unwrap().unwrap();
    assert_eq!(
        (ap.state, ap.decided_by.as_deref(), ap.reason.as_deref()),
        (ApprovalState::Approved, Some("admin"), Some("ok"))
    );
    assert!(matches!(
        store.consume_approval("ap", &binding(), 3).await.unwrap(),
        Consumption::Consumed(_)
    ));
    assert_eq!(
        store.reserve("nonce", "other", 100, 2).await.unwrap(),
        Reservation::InFlight {
            fingerprint: "fp".into()
        }
    );
    assert_eq!(store.switches().await.unwrap().len(), 1);
    assert_eq!(store.controls_version().await.unwrap(), 1);
    store.close().await;
    let store = open(&dir);
    assert_eq!(
        store.consume_approval("ap", &binding(), 4).await.unwrap(),
        Consumption::NotApproved(ApprovalState::Consumed),
        "a consumption survives a reopen too"
    );
}
