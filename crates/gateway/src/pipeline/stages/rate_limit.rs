//! Rate limit: the `[[limits.rate]]` rules that match the caller (tenant, agent) or, for tool
//! calls, the tool (tool, tenant×tool) each take one cell of their bucket, all or none; a call
//! any of them would pass is refused with `rate_limited`, the rule and the wait in
//! `error.data`, and takes no cell from any bucket. It runs after authorization, so a call
//! refused earlier spends nothing, and before the dry-run answer, so previews count too (each
//! writes a ledger record).

use async_trait::async_trait;
use portcullis_control::{RateRule, RateScope};
use portcullis_protocol::ErrorCode;
use portcullis_store::{RateSpec, RateTake, RatesOutcome};
use serde_json::json;

use crate::pipeline::{Governed, GovernedMethod, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

pub struct RateLimit;

/// What `rule` counts `req` under (the glob's subject and the bucket), if it applies.
fn subject(rule: &RateRule, req: &Governed<'_>) -> Option<(String, String)> {
    let p = req.principal;
    let tool = || {
        (req.method == GovernedMethod::ToolsCall)
            .then(|| req.facts.resolved.as_ref().map(|r| r.item.clone()))
            .flatten()
    };
    let (matched, bucket) = match rule.scope {
        RateScope::Tenant => (p.tenant.clone(), p.tenant.clone()),
        RateScope::Agent => {
            let agent = format!("{}/{}", p.tenant, p.agent);
            (agent.clone(), agent)
        }
        RateScope::Tool => {
            let t = tool()?;
            (t.clone(), t)
        }
        RateScope::TenantTool => {
            let t = tool()?;
            let bucket = format!("{}/{t}", p.tenant);
            (t, bucket)
        }
        // Checked at admission, before identity.
        RateScope::Client => return None,
    };
    Some((matched, bucket))
}

#[async_trait]
impl Stage for RateLimit {
    fn name(&self) -> &'static str {
        "rate_limit"
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        let rules = &st.config.rate_limits;
        if rules.is_empty() || req.method == GovernedMethod::ResourcesUnsubscribe {
            return Ok(Step::Continue);
        }
        let mut applied = Vec::new();
        for rule in rules {
            let Some((matched, bucket)) = subject(rule, req) else {
                continue;
            };
            if rule.matches(&matched) {
                applied.push((rule, bucket));
            }
        }
        Ok(match take(st, &applied, req.now_ms, "").await? {
            None => Step::Continue,
            Some((label, refusal)) => {
                req.facts.ledger.insert("rate_limit".into(), label);
                Step::Deny(refusal)
            }
        })
    }
}

/// Take one cell of each rule's bucket, all or none: `None` when taken, else the rule that
/// refused (its label) and the refusal, with `suffix` after "reached" in its reason.
pub async fn take(
    st: &AppState,
    applied: &[(&RateRule, String)],
    now_ms: i64,
    suffix: &str,
) -> Result<Option<(String, Failure)>, Failure> {
    if applied.is_empty() {
        return Ok(None);
    }
    let takes: Vec<RateTake> = applied
        .iter()
        .map(|(rule, bucket)| RateTake {
            key: format!("rate|{}|{bucket}", rule.label()),
            spec: RateSpec {
                interval_us: rule.interval_us,
                burst: rule.burst,
            },
        })
        .collect();
    let outcome = st
        .stores
        .limits
        .take_rates(&takes, now_ms)
        .await
        .map_err(|e| {
            Failure::new(
                ErrorCode::InternalError,
                "the rate limits could not be checked",
            )
            .caused_by(e)
        })?;
    let RatesOutcome::Limited {
        index,
        retry_after_ms,
    } = outcome
    else {
        return Ok(None);
    };
    let Some((rule, _)) = applied.get(index) else {
        return Err(Failure::new(
            ErrorCode::InternalError,
            "the rate limits named a bucket that was not asked for",
        ));
    };
    let label = rule.label().to_string();
    let refusal = Failure::new(
        ErrorCode::RateLimited,
        format!("rate limit '{label}' reached{suffix}; retry in {retry_after_ms} ms"),
    )
    .with("retryAfterMs", json!(retry_after_ms))
    .with("limit", json!(label))
    .with("burst", json!(rule.burst))
    .with(
        "windowMs",
        json!((u64::from(rule.burst) * rule.interval_us).div_ceil(1000)),
    );
    Ok(Some((label, refusal)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use portcullis_protocol::ErrorCode;
    use portcullis_store::Stores;

    use crate::pipeline::{GovernedMethod, Requested};
    use crate::state::AppState;
    use crate::testing::{self, CONFIG, Fixture, principal_in};

    fn with_limits(limits: &str) -> (Arc<AppState>, Fixture) {
        let (st, fx) = testing::state_with(&format!("{CONFIG}\n{limits}"), Stores::of);
        (Arc::new(st), fx)
    }

    async fn tool(
        st: &Arc<AppState>,
        tenant: &str,
        role: &str,
        name: &str,
    ) -> Result<(), (ErrorCode, String)> {
        let p = principal_in(tenant, role);
        testing::governed(st, &p, GovernedMethod::ToolsCall, Requested::Tool(name)).await
    }

    fn limited(r: Result<(), (ErrorCode, String)>) -> String {
        match r {
            Err((ErrorCode::RateLimited, reason)) => reason,
            other => panic!("expected rate_limited, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_burst_runs_the_next_call_waits_and_refill_lets_it_through() {
        let (st, fx) = with_limits(
            "[[limits.rate]]\nscope = \"tool\"\nmatch = \"demo.read\"\nrate = \"2/s\"\n",
        );
        assert_eq!(tool(&st, "t1", "admin", "demo.read").await, Ok(()));
        assert_eq!(
            tool(&st, "t2", "admin", "demo.read").await,
            Ok(()),
            "a tool limit counts every caller"
        );
        let reason = limited(tool(&st, "t1", "admin", "demo.read").await);
        assert!(
            reason.contains("tool demo.read 2/s burst 2") && reason.contains("500 ms"),
            "{reason}"
        );
        assert_eq!(
            tool(&st, "t1", "admin", "demo.write").await,
            Ok(()),
            "other tools are not limited"
        );
        fx.clock.advance(Duration::from_millis(499));
        limited(tool(&st, "t1", "admin", "demo.read").await);
        fx.clock.advance(Duration::from_millis(1));
        assert_eq!(
            tool(&st, "t1", "admin", "demo.read").await,
            Ok(()),
            "one cell refilled"
        );
        limited(tool(&st, "t1", "admin", "demo.read").await);
        let records = testing::records(&fx.store).await;
        let refused: Vec<_> = records
            .iter()
            .filter(|r| r.code.as_deref() == Some("rate_limited"))
            .collect();
        assert_eq!(refused.len(), 3, "every refusal is recorded");
        assert_eq!(refused[0].facts["rate_limit"], "tool demo.read 2/s burst 2");
    }

    #[tokio::test]
    async fn one_tenant_at_its_limit_does_not_hold_another() {
        let (st, _fx) = with_limits("[[limits.rate]]\nscope = \"tenant_tool\"\nrate = \"1/m\"\n");
        assert_eq!(tool(&st, "t1", "admin", "demo.read").await, Ok(()));
        limited(tool(&st, "t1", "admin", "demo.read").await);
        assert_eq!(tool(&st, "t2", "admin", "demo.read").await, Ok(()));
        assert_eq!(
            tool(&st, "t1", "admin", "demo.write").await,
            Ok(()),
            "per tenant and tool"
        );
    }

    #[tokio::test]
    async fn a_refused_call_spends_nothing() {
        let (st, _fx) = with_limits(
            "[[limits.rate]]\nscope = \"agent\"\nrate = \"2/m\"\n\n[[limits.rate]]\nscope = \"tool\"\nmatch = \"demo.read\"\nrate = \"1/m\"\n",
        );
        // Refused by policy (the reader may not call demo.write): no cell taken.
        let (code, _) = tool(&st, "t1", "reader", "demo.write").await.unwrap_err();
        assert_ne!(code, ErrorCode::RateLimited);
        assert_eq!(tool(&st, "t1", "reader", "demo.read").await, Ok(()));
        // Refused by the tool's limit: the agent's bucket gives nothing either.
        limited(tool(&st, "t1", "reader", "demo.read").await);
        let p = principal_in("t1", "reader");
        let prompt = testing::governed(
            &st,
            &p,
            GovernedMethod::PromptsGet,
            Requested::Prompt("demo.prompt"),
        )
        .await;
        assert_eq!(prompt, Ok(()), "the agent's second cell was left for this");
        let again = testing::governed(
            &st,
            &p,
            GovernedMethod::PromptsGet,
            Requested::Prompt("demo.prompt"),
        )
        .await;
        assert!(limited(again).contains("agent * 2/m"));
    }
}
