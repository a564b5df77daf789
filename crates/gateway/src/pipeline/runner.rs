//! The runner: every governed request through the registered stages, in order. The runner, not
//! the stages, makes the gateway fail closed:
//!
//! - a stage that returns an error, panics or overruns its time budget denies;
//! - the decision record is written on every path that reaches a decision, denials included;
//! - nothing is forwarded before the decision record is durable: only a [`Permit`], which the
//!   runner hands out after that, can forward;
//! - after the outcome, the settle hooks of the stages that ran run in reverse order, and cannot
//!   change the outcome.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use portcullis_ledger::Decision;
use portcullis_protocol::ErrorCode;
use serde_json::Value;

use super::permit::Permit;
use super::record::{RecordCtx, write_decision};
use super::request::{Facts, Governed};
use crate::endpoint::RequestLog;
use crate::respond::Failure;
use crate::state::AppState;

/// The outcome of a call answered from an earlier run's stored outcome.
pub const REPLAYED: &str = "replayed";

/// How long a stage may take unless it says otherwise.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(2);

/// A stage's answer.
#[derive(Debug, Clone)]
pub enum Step {
    /// No objection; the next stage decides.
    Continue,
    /// Authorized; later stages still run and may still refuse.
    Allow,
    /// Answer with this preview instead of forwarding.
    DryRun(Value),
    /// Hold the call for a person's decision; the caller gets `answer`.
    PendingApproval(Result<Value, Failure>),
    /// Allowed, and already run: answer with the stored outcome of the first run (an
    /// idempotent retry); nothing is forwarded.
    Replay(Result<Value, Failure>),
    /// Refuse.
    Deny(Failure),
}

/// What the settle hooks learn once a request is over.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub ctx: RecordCtx,
    pub facts: Facts,
    pub decision: Decision,
    /// `ok`, `tool_error`, an error code, `not_forwarded`, or `replayed`.
    pub outcome: String,
}

impl Settlement {
    /// Whether the request was allowed and sent on, whatever the upstream answered (not a
    /// refusal, a preview, a replay, or an allowed call whose decision record failed or whose
    /// client went away first).
    pub fn forwarded(&self) -> bool {
        self.decision == Decision::Allow
            && !matches!(
                self.outcome.as_str(),
                "not_forwarded" | REPLAYED | "audit_unavailable"
            )
    }
}

/// One check on the request path: one module under `pipeline/stages/`, registered once in
/// `stages::standard`.
#[async_trait]
pub trait Stage: Send + Sync + 'static {
    /// Short name, for logs, errors and the registration test.
    fn name(&self) -> &'static str;
    /// How long `check` may take before the runner denies.
    fn budget(&self) -> Duration {
        DEFAULT_BUDGET
    }
    /// Decide, or add facts and pass. An `Err` is a failure to decide: the runner denies with it.
    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure>;
    /// After the outcome (release a permit, feed a breaker, update flow state). Runs for every
    /// stage whose `check` ran, in reverse order; a panic here is logged and ignored.
    fn settle(&self, _st: &AppState, _s: &Settlement) {}
}

/// The registered stages, in order.
#[derive(Clone)]
pub struct Pipeline {
    stages: Arc<[Arc<dyn Stage>]>,
}

impl Pipeline {
    pub fn new(stages: Vec<Arc<dyn Stage>>) -> Pipeline {
        Pipeline {
            stages: stages.into(),
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    /// Run the settle hooks of the first `ran` stages, last first.
    pub(super) fn settle(&self, st: &AppState, ran: usize, s: &Settlement) {
        for stage in self.stages[..ran.min(self.stages.len())].iter().rev() {
            let hook = std::panic::catch_unwind(AssertUnwindSafe(|| stage.settle(st, s)));
            if hook.is_err() {
                tracing::error!(request_id = %s.ctx.cid, stage = stage.name(), "settle hook panicked; ignored");
            }
        }
    }
}

/// What the runner decided.
pub enum Decided {
    /// Allowed and recorded: forward with the permit (or answer through it).
    Allowed(Permit),
    /// Answered without forwarding: a denial, a preview, a held call, or a decision record
    /// that could not be written.
    Answered(Result<Value, Failure>),
}

/// Run one stage's check under the runner's guarantees.
async fn check(stage: &dyn Stage, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
    let budget = stage.budget();
    let guarded = AssertUnwindSafe(stage.check(st, req)).catch_unwind();
    match tokio::time::timeout(budget, guarded).await {
        Ok(Ok(result)) => result,
        Ok(Err(_panic)) => Err(Failure::new(
            ErrorCode::InternalError,
            format!(
                "the '{}' check failed, so the call was denied",
                stage.name()
            ),
        )),
        Err(_elapsed) => Err(Failure::new(
            ErrorCode::DecisionTimeout,
            format!(
                "the '{}' check did not answer within {} ms, so the call was denied",
                stage.name(),
                budget.as_millis()
            ),
        )),
    }
}

/// Take `req` through every stage, record the decision, and answer or hand out a permit.
pub async fn run(st: &Arc<AppState>, req: &mut Governed<'_>, log: &mut RequestLog) -> Decided {
    let pipeline = st.pipeline.clone();
    req.live(st);
    let mut authorized = false;
    // The decision and, unless the call is allowed, the caller's answer.
    let mut decided = None;
    let mut replayed = false;
    let mut ran = 0;
    for stage in pipeline.stages.iter() {
        ran += 1;
        let step = match check(stage.as_ref(), st, req).await {
            Ok(step) => step,
            Err(failure) => {
                tracing::warn!(request_id = %req.cid, stage = stage.name(), code = %failure.code, "stage failed; denied");
                Step::Deny(failure)
            }
        };
        decided = match step {
            Step::Continue => continue,
            Step::Allow => {
                authorized = true;
                continue;
            }
            Step::DryRun(preview) => Some((Decision::DryRun, Some(Ok(preview)))),
            Step::PendingApproval(answer) => Some((Decision::PendingApproval, Some(answer))),
            Step::Replay(answer) => {
                replayed = true;
                Some((Decision::Allow, Some(answer)))
            }
            Step::Deny(f) => Some((Decision::Deny, Some(Err(f)))),
        };
        break;
    }
    let (decision, answer) = decided.unwrap_or_else(|| {
        if authorized {
            (Decision::Allow, None)
        } else {
            let f = Failure::new(
                ErrorCode::PolicyError,
                "no policy stage allowed the call, so it was denied",
            );
            (Decision::Deny, Some(Err(f)))
        }
    });
    let resolved = req.facts.resolved.as_ref();
    let ctx = RecordCtx {
        principal: req.principal.clone(),
        cid: req.cid.to_string(),
        method: req.method,
        item: req.item(),
        class: req.facts.class,
        upstream: resolved.and_then(|r| r.upstream.clone()),
        tool: resolved
            .and_then(|r| r.tool.as_ref())
            .map(|t| t.name.clone()),
    };
    log.tool = ctx.item.clone();
    log.decision = Some(decision.as_str());
    let code = match &answer {
        Some(Err(f)) => Some(f.code),
        _ => None,
    };
    let settlement = |outcome: &str| Settlement {
        ctx: ctx.clone(),
        facts: req.facts.clone(),
        decision,
        outcome: outcome.to_string(),
    };
    if let Err(unwritten) = write_decision(
        st,
        &ctx,
        req.now_ms,
        decision,
        code,
        req.arguments,
        &req.facts.ledger,
    )
    .await
    {
        tracing::error!(request_id = %req.cid, "decision record could not be written; request refused");
        pipeline.settle(st, ran, &settlement(ErrorCode::AuditUnavailable.as_str()));
        // A denial stays the denial it was; anything else cannot go ahead unrecorded.
        return Decided::Answered(match answer {
            Some(Err(denial)) => Err(denial),
            _ => Err(unwritten),
        });
    }
    match answer {
        Some(answer) if replayed => {
            super::record::queue_outcome(st, &ctx, REPLAYED, 0, Default::default()).await;
            pipeline.settle(st, ran, &settlement(REPLAYED));
            Decided::Answered(answer)
        }
        Some(answer) => {
            pipeline.settle(st, ran, &settlement("not_forwarded"));
            Decided::Answered(answer)
        }
        None => Decided::Allowed(Permit::new(
            Arc::clone(st),
            ctx,
            req.facts.clone(),
            ran,
            req.started,
        )),
    }
}
