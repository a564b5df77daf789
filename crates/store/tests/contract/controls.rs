//! Controls: switches and pins are replaced by key, listed in key order, and every change
//! moves the version on.

use std::sync::Arc;

use portcullis_store::{Backend, PinState, SwitchScope};

use super::{pin, switch};

pub async fn switches_are_set_replaced_and_listed_by_scope_key<B: Backend>(s: Arc<B>) {
    assert!(s.switches().await.unwrap().is_empty());
    let set = [
        switch(SwitchScope::Tool("demo.echo".into()), true, 1),
        switch(SwitchScope::Global, true, 2),
        switch(SwitchScope::Upstream("files".into()), true, 3),
        switch(SwitchScope::Class("write".into()), true, 4),
        switch(SwitchScope::Tenant("acme".into()), true, 5),
    ];
    for sw in &set {
        s.set_switch(sw.clone()).await.unwrap();
    }
    let released = switch(SwitchScope::Tool("demo.echo".into()), false, 9);
    s.set_switch(released.clone()).await.unwrap();
    let listed = s.switches().await.unwrap();
    let keys: Vec<String> = listed.iter().map(|sw| sw.scope.key()).collect();
    assert_eq!(
        keys,
        [
            "class:write",
            "global",
            "tenant:acme",
            "tool:demo.echo",
            "upstream:files"
        ]
    );
    assert_eq!(listed[3], released, "replaced, not added");
    assert_eq!(listed[1], set[1]);
}

pub async fn every_switch_change_waits_to_be_recorded_once<B: Backend>(s: Arc<B>) {
    assert!(s.unrecorded_switch_changes(10).await.unwrap().is_empty());
    let kill = switch(SwitchScope::Agent("acme/bot".into()), true, 1);
    let revive = switch(SwitchScope::Agent("acme/bot".into()), false, 2);
    let global = switch(SwitchScope::Global, true, 3);
    for sw in [&kill, &revive, &global] {
        s.set_switch(sw.clone()).await.unwrap();
    }
    let pending = s.unrecorded_switch_changes(10).await.unwrap();
    let switches: Vec<&portcullis_store::KillSwitch> = pending.iter().map(|c| &c.switch).collect();
    assert_eq!(
        switches,
        [&kill, &revive, &global],
        "each setting kept, oldest first, though the first was replaced"
    );
    assert!(pending.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(s.unrecorded_switch_changes(2).await.unwrap(), pending[..2]);
    assert!(s.mark_switch_change_recorded(pending[1].id).await.unwrap());
    assert!(
        !s.mark_switch_change_recorded(pending[1].id).await.unwrap(),
        "marked once only"
    );
    assert!(!s.mark_switch_change_recorded(9_999).await.unwrap());
    let left: Vec<u64> = s
        .unrecorded_switch_changes(10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left, [pending[0].id, pending[2].id]);
    assert_eq!(
        s.switches().await.unwrap().len(),
        2,
        "current state: one per scope"
    );
}

pub async fn pins_are_set_replaced_and_listed_by_tool<B: Backend>(s: Arc<B>) {
    assert_eq!(s.pin("b.tool").await.unwrap(), None);
    s.set_pin(pin("b.tool", "11", PinState::Trusted))
        .await
        .unwrap();
    s.set_pin(pin("a.tool", "22", PinState::Trusted))
        .await
        .unwrap();
    let drifted = pin("b.tool", "33", PinState::Quarantined);
    s.set_pin(drifted.clone()).await.unwrap();
    assert_eq!(s.pin("b.tool").await.unwrap(), Some(drifted.clone()));
    assert_eq!(s.pin("c.tool").await.unwrap(), None);
    assert_eq!(
        s.pins().await.unwrap(),
        [pin("a.tool", "22", PinState::Trusted), drifted]
    );
}

pub async fn the_controls_version_grows_with_every_change<B: Backend>(s: Arc<B>) {
    let mut last = s.controls_version().await.unwrap();
    // Setting the same switch or pin again is a change too.
    for step in 0..6 {
        if step % 2 == 0 {
            s.set_switch(switch(SwitchScope::Global, true, 1)).await
        } else {
            s.set_pin(pin("a.tool", "11", PinState::Trusted)).await
        }
        .unwrap();
        let now = s.controls_version().await.unwrap();
        assert!(now > last, "step {step}: {now} after {last}");
        assert_eq!(
            s.controls_version().await.unwrap(),
            now,
            "reading changes nothing"
        );
        last = now;
    }
}
