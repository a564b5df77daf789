//! The ledger records of a governed request: the decision record, durable before anything is
//! forwarded, and the outcome record after. Writing them is the runner's job, never a stage's.

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_identity::Principal;
use portcullis_ledger::{Decision, RECORD_VERSION, Record, RecordKind};
use portcullis_policy::ToolClass;
use portcullis_protocol::ErrorCode;
use portcullis_store::StoreError;
use serde_json::Value;

use super::request::GovernedMethod;
use crate::audit;
use crate::metrics::{DecisionLabels, TargetLabels, TargetResultLabels};
use crate::respond::Failure;
use crate::state::AppState;

/// Who did what, for the records of one governed request.
#[derive(Debug, Clone)]
pub struct RecordCtx {
    pub principal: Principal,
    pub cid: String,
    pub method: GovernedMethod,
    /// The governed item: namespaced tool or prompt name, `<namespace>.<uri>`; none for a
    /// request about the gateway itself.
    pub item: Option<String>,
    pub class: Option<ToolClass>,
    /// The upstream it resolved to, and the catalog tool: the metric labels.
    pub upstream: Option<String>,
    pub tool: Option<String>,
}

impl RecordCtx {
    pub fn target(&self) -> TargetLabels {
        TargetLabels {
            method: self.method.as_str().into(),
            upstream: self.upstream.clone().unwrap_or_else(|| "-".into()),
            tool: self.tool.clone().unwrap_or_else(|| "-".into()),
        }
    }

    fn result(&self, result: &str, code: &str) -> TargetResultLabels {
        let t = self.target();
        TargetResultLabels {
            method: t.method,
            upstream: t.upstream,
            tool: t.tool,
            result: result.into(),
            code: code.into(),
        }
    }

    fn record(&self, kind: RecordKind, time_ms: i64) -> Record {
        Record {
            version: RECORD_VERSION,
            seq: 0,
            time_ms,
            kind,
            correlation_id: self.cid.clone(),
            tenant: self.principal.tenant.clone(),
            agent: self.principal.agent.clone(),
            credential_id: self.principal.credential_id.clone(),
            method: self.method.as_str().into(),
            tool: self.item.clone(),
            tool_class: self.class.map(|c| c.as_str().to_string()),
            decision: None,
            code: None,
            args_hash: None,
            args_preview: None,
            latency_us: None,
            facts: Default::default(),
        }
    }
}

pub fn count(st: &AppState, decision: &str, code: &str) {
    st.metrics
        .tool_calls
        .get_or_create(&DecisionLabels {
            decision: decision.to_string(),
            code: code.to_string(),
        })
        .inc();
}

/// Write the decision record and wait until it is durable.
pub async fn write_decision(
    st: &AppState,
    ctx: &RecordCtx,
    time_ms: i64,
    decision: Decision,
    code: Option<ErrorCode>,
    args: &Value,
    facts: &BTreeMap<String, String>,
) -> Result<(), Failure> {
    let mut record = ctx.record(RecordKind::Decision, time_ms);
    record.facts = facts.clone();
    record.facts.insert(
        "auth_method".into(),
        ctx.principal.auth_method.as_str().into(),
    );
    if let Some(evidence) = &ctx.principal.evidence {
        for (k, v) in evidence.iter() {
            record.facts.insert(format!("auth_{k}"), v.clone());
        }
    }
    record.decision = Some(decision);
    record.code = code.map(|c| c.as_str().to_string());
    record.args_hash = Some(audit::args_hash(args));
    record.args_preview = Some(st.redactor.preview(args));
    let code_label = code.map(ErrorCode::as_str).unwrap_or("-");
    st.metrics
        .decisions
        .get_or_create(&ctx.result(decision.as_str(), code_label))
        .inc();
    if let Err(e) = st.stores.ledger.append(record).await {
        st.metrics.audit_failures.inc();
        count(st, decision.as_str(), ErrorCode::AuditUnavailable.as_str());
        return Err(Failure::new(
            ErrorCode::AuditUnavailable,
            "the decision record could not be written, so nothing was forwarded",
        )
        .caused_by(e));
    }
    count(
        st,
        decision.as_str(),
        code.map(ErrorCode::as_str).unwrap_or("-"),
    );
    Ok(())
}

/// Queue the outcome record: it is committed with the next group, and nothing waits for its
/// fsync (the decision record already did). A lost outcome is counted and logged. `facts`
/// says what the gateway did to the result (a truncation).
pub async fn queue_outcome(
    st: &Arc<AppState>,
    ctx: &RecordCtx,
    code: &str,
    latency_us: u64,
    facts: BTreeMap<String, String>,
) {
    count(st, "outcome", code);
    st.metrics
        .outcomes
        .get_or_create(&ctx.result("outcome", code))
        .inc();
    let mut record = ctx.record(RecordKind::Outcome, st.clock.now_ms());
    record.code = Some(code.to_string());
    record.latency_us = Some(latency_us);
    record.facts = facts;
    match st.stores.ledger.enqueue(record).await {
        Ok(queued) => {
            let st = Arc::clone(st);
            let cid = ctx.cid.clone();
            tokio::spawn(async move {
                if let Err(err) = queued.await {
                    outcome_lost(&st, &cid, &err);
                }
            });
        }
        Err(err) => outcome_lost(st, &ctx.cid, &err),
    }
}

/// Queue the record of a request refused at admission (no principal: tenant and agent are
/// empty, `credential_id` is the presented key's id if its format named one).
pub async fn queue_refusal(
    st: &AppState,
    peer: &crate::admission::Peer<'_>,
    key_id: &str,
    code: ErrorCode,
    facts: BTreeMap<String, String>,
) {
    let record = Record {
        version: RECORD_VERSION,
        seq: 0,
        time_ms: st.clock.now_ms(),
        kind: RecordKind::Decision,
        correlation_id: peer.cid.to_string(),
        tenant: String::new(),
        agent: String::new(),
        credential_id: key_id.to_string(),
        method: peer.line.to_string(),
        tool: None,
        tool_class: None,
        decision: Some(Decision::Deny),
        code: Some(code.as_str().to_string()),
        args_hash: None,
        args_preview: None,
        latency_us: None,
        facts,
    };
    let failures = st.metrics.audit_failures.clone();
    let cid = peer.cid.to_string();
    let lost = move |err: StoreError| {
        failures.inc();
        tracing::error!(request_id = %cid, error = %err, "refusal record could not be written");
    };
    match st.stores.ledger.enqueue(record).await {
        Ok(queued) => {
            tokio::spawn(async move {
                if let Err(err) = queued.await {
                    lost(err);
                }
            });
        }
        Err(err) => lost(err),
    }
}

fn outcome_lost(st: &AppState, cid: &str, err: &StoreError) {
    st.metrics.audit_failures.inc();
    tracing::error!(request_id = %cid, error = %err, "outcome record could not be written");
}
