//! Quota: the `[[limits.quota]]` rules that match the caller (tenant, or `tenant/agent`) add
//! the call to their counters for the current calendar window (UTC): one call, and the tool's
//! cost (`[[tools]] cost`, else 1) in cost units. A call that would pass a quota is refused with
//! `quota_exceeded` and the window's end; what it had added to other counters is given back.
//! It runs last, after the dry-run answer: only calls that go ahead spend quota, and one whose
//! decision record then cannot be written gets its spending back (settle). Counters are
//! durable: a restart does not reset them.

use std::sync::Arc;

use async_trait::async_trait;
use portcullis_control::{QuotaRule, QuotaScope};
use portcullis_protocol::ErrorCode;
use portcullis_store::{LimitStore, QuotaOutcome, StoreError};
use serde_json::json;

use crate::pipeline::{Governed, GovernedMethod, QuotaSpent, Settlement, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

pub struct Quota;

/// What `rule` counts for `principal`.
fn subject(rule: &QuotaRule, p: &portcullis_identity::Principal) -> String {
    match rule.scope {
        QuotaScope::Tenant => p.tenant.clone(),
        QuotaScope::Agent => format!("{}/{}", p.tenant, p.agent),
    }
}

/// The counter of `rule`'s `kind` (`calls` or `cost`) for `subject`.
pub fn counter_key(rule: &QuotaRule, kind: &str, subject: &str) -> String {
    format!("quota|{}|{kind}|{subject}", rule.label())
}

/// The cost units one call of `tool` spends.
pub fn tool_cost(st: &AppState, tool: &str) -> u64 {
    st.config
        .tools
        .iter()
        .filter(|t| t.matches(tool))
        .find_map(|t| t.cost)
        .unwrap_or(1)
}

/// Give back what was added (never below zero).
async fn refund(limits: &dyn LimitStore, spent: &[QuotaSpent]) -> Result<(), StoreError> {
    for s in spent {
        limits
            .refund_usage(&s.key, s.window_start_ms, s.amount)
            .await?;
    }
    Ok(())
}

/// The reset time as RFC 3339, for people.
fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

#[async_trait]
impl Stage for Quota {
    fn name(&self) -> &'static str {
        "quota"
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        let rules = &st.config.quotas;
        if rules.is_empty()
            || matches!(
                req.method,
                GovernedMethod::ResourcesUnsubscribe | GovernedMethod::LoggingSetLevel
            )
        {
            return Ok(Step::Continue);
        }
        let cost = match (&req.method, req.facts.resolved.as_ref()) {
            (GovernedMethod::ToolsCall, Some(r)) => tool_cost(st, &r.item),
            _ => 1,
        };
        let limits = st.stores.limits.as_ref();
        let failed = |e: StoreError| {
            Failure::new(ErrorCode::InternalError, "the quotas could not be checked").caused_by(e)
        };
        let mut spent: Vec<QuotaSpent> = Vec::new();
        for rule in rules {
            let who = subject(rule, req.principal);
            if !rule.matches(&who) {
                continue;
            }
            let (start, end) = rule.window.bounds(req.now_ms);
            for (kind, limit, amount) in [("calls", rule.calls, 1), ("cost", rule.cost_units, cost)]
            {
                let Some(limit) = limit else {
                    continue;
                };
                let key = counter_key(rule, kind, &who);
                let outcome = limits.add_usage(&key, start, amount, limit).await;
                match outcome {
                    Ok(QuotaOutcome::Counted { .. }) => spent.push(QuotaSpent {
                        key,
                        window_start_ms: start,
                        amount,
                    }),
                    Ok(QuotaOutcome::Exceeded { used }) => {
                        refund(limits, &spent).await.map_err(failed)?;
                        let label = rule.label().to_string();
                        req.facts.ledger.insert("quota".into(), label.clone());
                        return Ok(Step::Deny(
                            Failure::new(
                                ErrorCode::QuotaExceeded,
                                format!(
                                    "quota '{label}' is used up ({kind}: {used} of {limit}, this call {amount}) until {}",
                                    rfc3339(end)
                                ),
                            )
                            .with("resetsAtMs", json!(end))
                            .with("quota", json!(label)),
                        ));
                    }
                    Err(e) => {
                        let _ = refund(limits, &spent).await;
                        return Err(failed(e));
                    }
                }
            }
        }
        req.facts.quota_spent = spent;
        Ok(Step::Continue)
    }

    /// A call that spent quota but was not forwarded after all (its decision record could not
    /// be written) gets it back.
    fn settle(&self, st: &AppState, s: &Settlement) {
        if s.forwarded() || s.facts.quota_spent.is_empty() {
            return;
        }
        let limits: Arc<dyn LimitStore> = st.stores.limits.clone();
        let spent = s.facts.quota_spent.clone();
        let cid = s.ctx.cid.clone();
        tokio::spawn(async move {
            if let Err(e) = refund(limits.as_ref(), &spent).await {
                tracing::error!(request_id = %cid, error = %e, "quota spent by a call that was not forwarded could not be given back");
            }
        });
    }
}

/// The quotas that apply to `principal`, as `/api/status` shows them: each rule with its
/// window's end and, per counter it keeps, what is used of what limit.
pub async fn quota_status(
    st: &AppState,
    principal: &portcullis_identity::Principal,
) -> Result<serde_json::Value, StoreError> {
    let now = st.clock.now_ms();
    let mut out = Vec::new();
    for rule in &st.config.quotas {
        let who = subject(rule, principal);
        if !rule.matches(&who) {
            continue;
        }
        let (start, end) = rule.window.bounds(now);
        let mut entry = json!({
            "quota": rule.label(),
            "window": rule.window.as_str(),
            "resetsAtMs": end,
        });
        for (kind, name, limit) in [
            ("calls", "calls", rule.calls),
            ("cost", "costUnits", rule.cost_units),
        ] {
            if let Some(limit) = limit {
                let used = st
                    .stores
                    .limits
                    .usage(&counter_key(rule, kind, &who), start)
                    .await?;
                entry[name] = json!({ "used": used, "limit": limit });
            }
        }
        out.push(entry);
    }
    Ok(serde_json::Value::Array(out))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use portcullis_control::QuotaWindow;
    use portcullis_ledger::Decision;
    use portcullis_store::Stores;

    use super::*;
    use crate::pipeline::{Facts, GovernedMethod, RecordCtx, Requested};
    use crate::testing::{self, CONFIG, Fixture, T0, principal_in};

    fn with_quotas(extra: &str) -> (Arc<AppState>, Fixture) {
        let (st, fx) = testing::state_with(&format!("{CONFIG}\n{extra}"), Stores::of);
        (Arc::new(st), fx)
    }

    async fn call(
        st: &Arc<AppState>,
        role: &str,
        tool: &str,
        live: bool,
    ) -> Result<(), (ErrorCode, String)> {
        let p = principal_in("t1", role);
        testing::governed_live(
            st,
            &p,
            GovernedMethod::ToolsCall,
            Requested::Tool(tool),
            live,
        )
        .await
    }

    fn used(st: &AppState, kind: &str, who: &str) -> u64 {
        let rule = &st.config.quotas[0];
        let (start, _) = rule.window.bounds(st.clock.now_ms());
        futures::executor::block_on(st.stores.limits.usage(&counter_key(rule, kind, who), start))
            .unwrap()
    }

    #[tokio::test]
    async fn calls_count_up_to_the_quota_and_a_new_window_starts_afresh() {
        let (st, fx) =
            with_quotas("[[limits.quota]]\nscope = \"agent\"\nwindow = \"day\"\ncalls = 2\n");
        assert_eq!(call(&st, "admin", "demo.read", true).await, Ok(()));
        assert_eq!(call(&st, "admin", "demo.read", true).await, Ok(()));
        let (code, reason) = call(&st, "admin", "demo.read", true).await.unwrap_err();
        assert_eq!(code, ErrorCode::QuotaExceeded);
        assert!(
            reason.contains("agent * per day") && reason.contains("2 of 2"),
            "{reason}"
        );
        assert_eq!(
            used(&st, "calls", "t1/agent-admin"),
            2,
            "a refused call adds nothing"
        );
        let (_, end) = QuotaWindow::Day.bounds(T0);
        fx.clock.advance(Duration::from_millis((end - T0) as u64));
        st.controls.refresh(&st).await.unwrap();
        assert_eq!(
            call(&st, "admin", "demo.read", true).await,
            Ok(()),
            "the next day"
        );
    }

    #[tokio::test]
    async fn tools_cost_their_units_and_refusals_and_previews_spend_nothing() {
        let (st, _fx) = with_quotas(
            "[[limits.quota]]\nscope = \"tenant\"\nwindow = \"hour\"\ncost_units = 10\n\n[[tools]]\nmatch = \"demo.write\"\ncost = 4\n",
        );
        // Refused by policy, and previewed: nothing spent.
        assert!(call(&st, "reader", "demo.write", true).await.is_err());
        assert_eq!(
            call(&st, "writer", "demo.write", false).await,
            Ok(()),
            "a preview"
        );
        assert_eq!(used(&st, "cost", "t1"), 0);
        assert_eq!(call(&st, "writer", "demo.write", true).await, Ok(()));
        assert_eq!(call(&st, "writer", "demo.write", true).await, Ok(()));
        assert_eq!(used(&st, "cost", "t1"), 8);
        let (code, _) = call(&st, "writer", "demo.write", true).await.unwrap_err();
        assert_eq!(code, ErrorCode::QuotaExceeded, "8 + 4 would pass 10");
        assert_eq!(
            call(&st, "writer", "demo.read", true).await,
            Ok(()),
            "1 unit still fits"
        );
        assert_eq!(used(&st, "cost", "t1"), 9);
    }

    #[tokio::test]
    async fn a_call_one_quota_refuses_spends_nothing_of_the_others() {
        let (st, _fx) = with_quotas(
            "[[limits.quota]]\nscope = \"agent\"\nwindow = \"day\"\ncalls = 5\n\n[[limits.quota]]\nscope = \"tenant\"\nwindow = \"day\"\ncalls = 1\n",
        );
        assert_eq!(call(&st, "admin", "demo.read", true).await, Ok(()));
        let (code, reason) = call(&st, "admin", "demo.read", true).await.unwrap_err();
        assert_eq!(code, ErrorCode::QuotaExceeded);
        assert!(reason.contains("tenant * per day"), "{reason}");
        assert_eq!(
            used(&st, "calls", "t1/agent-admin"),
            1,
            "the agent's count was given back"
        );
    }

    #[tokio::test]
    async fn a_call_whose_decision_could_not_be_recorded_gets_its_quota_back() {
        let (st, _fx) =
            with_quotas("[[limits.quota]]\nscope = \"agent\"\nwindow = \"day\"\ncalls = 5\n");
        assert_eq!(call(&st, "admin", "demo.read", true).await, Ok(()));
        let rule = &st.config.quotas[0];
        let (start, _) = rule.window.bounds(st.clock.now_ms());
        let facts = Facts {
            quota_spent: vec![QuotaSpent {
                key: counter_key(rule, "calls", "t1/agent-admin"),
                window_start_ms: start,
                amount: 1,
            }],
            ..Facts::default()
        };
        let settlement = Settlement {
            ctx: RecordCtx {
                principal: principal_in("t1", "admin"),
                cid: "cid".into(),
                method: GovernedMethod::ToolsCall,
                item: Some("demo.read".into()),
                class: None,
                upstream: None,
                tool: None,
            },
            facts,
            decision: Decision::Allow,
            outcome: "ok".into(),
        };
        Quota.settle(&st, &settlement);
        assert_eq!(used(&st, "calls", "t1/agent-admin"), 1, "forwarded: kept");
        let failed = Settlement {
            outcome: ErrorCode::AuditUnavailable.as_str().into(),
            ..settlement
        };
        Quota.settle(&st, &failed);
        for _ in 0..500 {
            if used(&st, "calls", "t1/agent-admin") == 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the spending was not given back");
    }
}
