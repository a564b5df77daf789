//! Kill switch: refuse what an engaged switch covers — everything (global), one tenant, one
//! agent, one upstream, and for tool calls one class or one tool — with `killed`, naming the
//! switch and its reason. Leaving a subscription is never stopped. When the switches have not
//! been read for `controls::STALE_AFTER`, every call is refused: a switch that may be engaged
//! counts as engaged. The read-only mode (global or per tenant) is a switch too: it refuses
//! live write and destructive tool calls with `read_only_mode` (after the stops: a stopped call
//! says it was stopped).

use async_trait::async_trait;
use portcullis_policy::ToolClass;
use portcullis_protocol::ErrorCode;
use portcullis_store::SwitchScope;

use crate::controls::STALE_AFTER;
use crate::pipeline::{Governed, GovernedMethod, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

pub struct KillSwitch;

/// The scopes that cover `req`, broadest first.
fn scopes(req: &Governed<'_>) -> Vec<SwitchScope> {
    let p = req.principal;
    let mut scopes = vec![
        SwitchScope::Global,
        SwitchScope::Tenant(p.tenant.clone()),
        SwitchScope::Agent(format!("{}/{}", p.tenant, p.agent)),
    ];
    let resolved = req.facts.resolved.as_ref();
    if let Some(upstream) = resolved.and_then(|r| r.upstream.as_ref()) {
        scopes.push(SwitchScope::Upstream(upstream.clone()));
    }
    if req.method == GovernedMethod::ToolsCall {
        if let Some(class) = req.facts.class {
            scopes.push(SwitchScope::Class(class.as_str().to_string()));
        }
        if let Some(r) = resolved {
            scopes.push(SwitchScope::Tool(r.item.clone()));
        }
    }
    scopes
}

/// The read-only modes that cover `req`: only a live tool call that is not a read.
fn read_only_scopes(req: &Governed<'_>) -> Vec<SwitchScope> {
    let writes = req.facts.class.is_some_and(|c| c != ToolClass::Read);
    if req.method != GovernedMethod::ToolsCall || !req.live || !writes {
        return Vec::new();
    }
    vec![
        SwitchScope::ReadOnly(None),
        SwitchScope::ReadOnly(Some(req.principal.tenant.clone())),
    ]
}

#[async_trait]
impl Stage for KillSwitch {
    fn name(&self) -> &'static str {
        "kill_switch"
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        if req.method == GovernedMethod::ResourcesUnsubscribe {
            return Ok(Step::Continue);
        }
        let engaged = st.controls.engaged();
        let fresh = engaged
            .age(st.clock.instant())
            .is_some_and(|age| age <= STALE_AFTER);
        if !fresh {
            return Ok(Step::Deny(Failure::new(
                ErrorCode::Killed,
                "the kill switches could not be read from the store; calls are refused until they can",
            )));
        }
        if engaged.is_empty() {
            return Ok(Step::Continue);
        }
        if let Some(s) = engaged.first(&scopes(req)) {
            req.facts.ledger.insert("kill_switch".into(), s.scope.key());
            return Ok(Step::Deny(Failure::new(
                ErrorCode::Killed,
                format!(
                    "stopped by the kill switch '{}': {}",
                    s.scope.key(),
                    s.reason.escape_default()
                ),
            )));
        }
        if let Some(s) = engaged.first(&read_only_scopes(req)) {
            let whom = match &s.scope {
                SwitchScope::ReadOnly(Some(t)) => format!("tenant '{}'", t.escape_default()),
                _ => "gateway".to_string(),
            };
            req.facts.ledger.insert("kill_switch".into(), s.scope.key());
            return Ok(Step::Deny(Failure::new(
                ErrorCode::ReadOnlyMode,
                format!(
                    "the {whom} was put in read-only mode ('{}'): {}; reads and dry-run previews still run",
                    s.scope.key(),
                    s.reason.escape_default()
                ),
            )));
        }
        Ok(Step::Continue)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use portcullis_ledger::RecordKind;
    use portcullis_protocol::ErrorCode;
    use portcullis_store::{ControlStore, KillSwitch, SwitchScope};

    use crate::controls::STALE_AFTER;
    use crate::pipeline::{GovernedMethod, Requested};
    use crate::state::AppState;
    use crate::testing::{self, Fixture, principal_in};

    async fn call(
        st: &Arc<AppState>,
        tenant: &str,
        role: &str,
        method: GovernedMethod,
        requested: Requested<'_>,
    ) -> Result<(), (ErrorCode, String)> {
        testing::governed(st, &principal_in(tenant, role), method, requested).await
    }

    async fn tool(st: &Arc<AppState>, tenant: &str, name: &str) -> Result<(), (ErrorCode, String)> {
        call(
            st,
            tenant,
            "admin",
            GovernedMethod::ToolsCall,
            Requested::Tool(name),
        )
        .await
    }

    async fn set(st: &AppState, fx: &Fixture, scope: SwitchScope, engaged: bool) {
        fx.store
            .set_switch(KillSwitch {
                scope,
                engaged,
                reason: "runaway agent".into(),
                actor: "ops".into(),
                updated_ms: st.clock.now_ms(),
            })
            .await
            .unwrap();
        st.controls.refresh(st).await.unwrap();
    }

    fn state() -> (Arc<AppState>, Fixture) {
        let (st, fx) = testing::state();
        (Arc::new(st), fx)
    }

    #[tokio::test]
    async fn each_scope_stops_what_it_names_and_nothing_else() {
        let (st, fx) = state();
        assert_eq!(tool(&st, "t1", "demo.read").await, Ok(()));
        let cases: [(SwitchScope, &str, &str, bool); 10] = [
            (
                SwitchScope::Tool("demo.read".into()),
                "t1",
                "demo.read",
                false,
            ),
            (
                SwitchScope::Tool("demo.read".into()),
                "t1",
                "demo.write",
                true,
            ),
            (
                SwitchScope::Class("write".into()),
                "t1",
                "demo.write",
                false,
            ),
            (SwitchScope::Class("write".into()), "t1", "demo.read", true),
            (SwitchScope::Tenant("t1".into()), "t1", "demo.read", false),
            (SwitchScope::Tenant("t1".into()), "t2", "demo.read", true),
            (
                SwitchScope::Agent("t1/agent-admin".into()),
                "t1",
                "demo.read",
                false,
            ),
            (
                SwitchScope::Agent("t1/agent-admin".into()),
                "t2",
                "demo.read",
                true,
            ),
            (
                SwitchScope::Upstream("demo".into()),
                "t2",
                "demo.delete",
                false,
            ),
            (SwitchScope::Global, "t9", "demo.read", false),
        ];
        for (scope, tenant, name, runs) in cases {
            set(&st, &fx, scope.clone(), true).await;
            let got = tool(&st, tenant, name).await;
            if runs {
                assert_eq!(got, Ok(()), "{scope:?} must not stop {tenant} {name}");
            } else {
                let (code, reason) = got.expect_err("stopped");
                assert_eq!(code, ErrorCode::Killed, "{scope:?}");
                assert!(
                    reason.contains(&scope.key()) && reason.contains("runaway agent"),
                    "{reason}"
                );
            }
            set(&st, &fx, scope.clone(), false).await;
            assert_eq!(tool(&st, tenant, name).await, Ok(()), "lifted: {scope:?}");
        }
    }

    #[tokio::test]
    async fn a_killed_call_is_a_recorded_denial_and_every_change_is_recorded_once() {
        let (st, fx) = state();
        set(&st, &fx, SwitchScope::Global, true).await;
        let refused = call(
            &st,
            "t1",
            "reader",
            GovernedMethod::PromptsGet,
            Requested::Prompt("demo.prompt"),
        )
        .await;
        assert_eq!(
            refused.unwrap_err().0,
            ErrorCode::Killed,
            "every governed method"
        );
        // Leaving a subscription is never stopped.
        let left = call(
            &st,
            "t1",
            "reader",
            GovernedMethod::ResourcesUnsubscribe,
            Requested::Resource("file:///a"),
        )
        .await;
        assert!(left.is_ok(), "{left:?}");
        set(&st, &fx, SwitchScope::Global, false).await;
        st.controls.refresh(&st).await.unwrap();
        let records = testing::records(&fx.store).await;
        let controls: Vec<(&str, &str)> = records
            .iter()
            .filter(|r| r.kind == RecordKind::Control)
            .map(|r| (r.method.as_str(), r.facts["scope"].as_str()))
            .collect();
        assert_eq!(
            controls,
            [("controls/kill", "global"), ("controls/revive", "global")],
            "one record per change, in order"
        );
        let killed = records
            .iter()
            .find(|r| r.code.as_deref() == Some("killed"))
            .expect("the refusal is recorded");
        assert_eq!(killed.facts["kill_switch"], "global");
        assert!(
            fx.store
                .unrecorded_switch_changes(10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn switches_that_cannot_be_read_stop_everything() {
        let (st, fx) = state();
        assert_eq!(tool(&st, "t1", "demo.read").await, Ok(()));
        fx.clock.advance(STALE_AFTER + Duration::from_millis(1));
        let (code, reason) = tool(&st, "t1", "demo.read").await.unwrap_err();
        assert_eq!(code, ErrorCode::Killed);
        assert!(reason.contains("could not be read"), "{reason}");
        st.controls.refresh(&st).await.unwrap();
        assert_eq!(tool(&st, "t1", "demo.read").await, Ok(()), "fresh again");
    }

    #[tokio::test]
    async fn read_only_mode_refuses_live_writes_of_whom_it_covers_and_nothing_else() {
        let (st, fx) = state();
        set(&st, &fx, SwitchScope::ReadOnly(Some("t1".into())), true).await;
        let (code, reason) = tool(&st, "t1", "demo.write").await.unwrap_err();
        assert_eq!(code, ErrorCode::ReadOnlyMode);
        assert!(
            reason.contains("tenant 't1'") && reason.contains("runaway agent"),
            "{reason}"
        );
        assert_eq!(
            tool(&st, "t1", "demo.delete").await.unwrap_err().0,
            ErrorCode::ReadOnlyMode
        );
        assert_eq!(tool(&st, "t1", "demo.read").await, Ok(()), "reads go on");
        assert_eq!(
            tool(&st, "t2", "demo.write").await,
            Ok(()),
            "other tenants too"
        );
        let preview = testing::governed_live(
            &st,
            &principal_in("t1", "admin"),
            GovernedMethod::ToolsCall,
            Requested::Tool("demo.write"),
            false,
        )
        .await;
        assert_eq!(preview, Ok(()), "previews go on");
        // The whole gateway, then a stop on top: the stop says so.
        set(&st, &fx, SwitchScope::ReadOnly(None), true).await;
        assert_eq!(
            tool(&st, "t2", "demo.write").await.unwrap_err().0,
            ErrorCode::ReadOnlyMode
        );
        set(&st, &fx, SwitchScope::Global, true).await;
        assert_eq!(
            tool(&st, "t2", "demo.write").await.unwrap_err().0,
            ErrorCode::Killed
        );
        set(&st, &fx, SwitchScope::Global, false).await;
        set(&st, &fx, SwitchScope::ReadOnly(None), false).await;
        set(&st, &fx, SwitchScope::ReadOnly(Some("t1".into())), false).await;
        assert_eq!(tool(&st, "t1", "demo.write").await, Ok(()));
    }
}
