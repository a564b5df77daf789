//! What every governed request shares (`tools/call`, `prompts/get`, `resources/read`): the
//! decision record, durable before anything is forwarded; the outcome record after; and the
//! params an upstream is given.

use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use portcullis_identity::Principal;
use portcullis_ledger::{Decision, RECORD_VERSION, Record, RecordKind};
use portcullis_policy::ToolClass;
use portcullis_protocol::{ErrorCode, mcp};
use portcullis_store::StoreError;
use portcullis_upstream::UpstreamError;
use serde_json::{Map, Value, json};

use crate::audit;
use crate::metrics::DecisionLabels;
use crate::relay::Finish;
use crate::respond::Failure;
use crate::state::{AppState, now_ms};

/// `_meta` key the gateway adds upstream so the upstream's logs can be joined to the ledger.
pub const CORRELATION_META: &str = "io.portcullis/correlationId";
/// `_meta` key a caller sets to `false` to run a write for real (the gateway's, not forwarded).
pub const DRY_RUN_META: &str = "dry_run";

/// Who did what, for the records of one governed request.
#[derive(Clone)]
pub struct RecordCtx {
    pub principal: Principal,
    pub cid: String,
    pub method: &'static str,
    /// The governed item: namespaced tool or prompt name, or `<namespace>.<uri>`.
    pub item: String,
    pub class: Option<ToolClass>,
}

impl RecordCtx {
    pub fn record(&self, kind: RecordKind) -> Record {
        Record {
            version: RECORD_VERSION,
            seq: 0,
            time_ms: now_ms(),
            kind,
            correlation_id: self.cid.clone(),
            tenant: self.principal.tenant.clone(),
            agent: self.principal.agent.clone(),
            credential_id: self.principal.credential_id.clone(),
            method: self.method.into(),
            tool: Some(self.item.clone()),
            tool_class: self.class.map(|c| c.as_str().to_string()),
            decision: None,
            code: None,
            args_hash: None,
            args_preview: None,
            latency_us: None,
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

/// Write the decision record. If it cannot be written nothing may be forwarded: the caller
/// gets `audit_unavailable` (or the denial it was going to get anyway).
pub async fn record_decision(
    st: &AppState,
    ctx: &RecordCtx,
    decision: Decision,
    denial: Option<&Failure>,
    args: &Value,
) -> Result<(), Failure> {
    let mut record = ctx.record(RecordKind::Decision);
    record.decision = Some(decision);
    record.code = denial.map(|f| f.code.as_str().to_string());
    record.args_hash = Some(audit::args_hash(args));
    record.args_preview = Some(st.redactor.preview(args));
    if let Err(e) = st.stores.ledger.append(record).await {
        st.metrics.audit_failures.inc();
        tracing::error!(request_id = %ctx.cid, error = %e, "decision record could not be written; request refused");
        count(st, decision.as_str(), ErrorCode::AuditUnavailable.as_str());
        return Err(denial.cloned().unwrap_or_else(|| {
            Failure::new(
                ErrorCode::AuditUnavailable,
                "the decision record could not be written, so nothing was forwarded",
            )
        }));
    }
    count(
        st,
        decision.as_str(),
        denial.map(|f| f.code.as_str()).unwrap_or("-"),
    );
    Ok(())
}

/// The upstream's answer as the client's result: validated by `validate`, with the outcome
/// record written after it.
pub fn finish_with_outcome(
    st: Arc<AppState>,
    ctx: RecordCtx,
    started: Instant,
    validate: fn(Value) -> Result<Value, Failure>,
) -> Finish {
    Box::new(move |answer: Result<Value, UpstreamError>| {
        async move {
            let result = answer.map_err(upstream_failure).and_then(validate);
            let code = match &result {
                Ok(v) if v.get("isError") == Some(&Value::Bool(true)) => "tool_error".to_string(),
                Ok(_) => "ok".to_string(),
                Err(f) => f.code.as_str().to_string(),
            };
            let elapsed = started.elapsed();
            st.metrics.call_seconds.observe(elapsed.as_secs_f64());
            count(&st, "outcome", &code);
            let mut record = ctx.record(RecordKind::Outcome);
            record.code = Some(code);
            record.latency_us = Some(elapsed.as_micros() as u64);
            // The outcome is queued behind the decision and committed with the next group;
            // the answer does not wait for its fsync (the decision record already did).
            let cid = ctx.cid.clone();
            match st.stores.ledger.enqueue(record).await {
                Ok(queued) => {
                    let st = Arc::clone(&st);
                    tokio::spawn(async move {
                        if let Err(err) = queued.await {
                            outcome_lost(&st, &cid, &err);
                        }
                    });
                }
                Err(err) => outcome_lost(&st, &cid, &err),
            }
            result
        }
        .boxed()
    })
}

fn outcome_lost(st: &AppState, cid: &str, err: &StoreError) {
    st.metrics.audit_failures.inc();
    tracing::error!(request_id = %cid, error = %err, "outcome record could not be written");
}

/// An upstream answer passed on as it is (lists, completions): only errors are mapped.
pub fn finish_plain(validate: fn(Value) -> Result<Value, Failure>) -> Finish {
    Box::new(move |answer: Result<Value, UpstreamError>| {
        async move { answer.map_err(upstream_failure).and_then(validate) }.boxed()
    })
}

/// Any JSON object is a valid result.
pub fn any_object(v: Value) -> Result<Value, Failure> {
    if v.is_object() {
        Ok(v)
    } else {
        Err(Failure::new(
            ErrorCode::UpstreamInvalidResponse,
            "the upstream's result is not an object",
        ))
    }
}

pub fn upstream_failure(e: UpstreamError) -> Failure {
    let reason = match &e {
        UpstreamError::Rpc { code, message, .. } => {
            let msg: String = message.chars().take(500).collect();
            format!("the tool server answered with error {code}: {msg}")
        }
        other => other.to_string(),
    };
    Failure::new(e.code(), reason)
}

/// The params an upstream gets: the client's, minus what belongs to the gateway or to the
/// client's revision (`dry_run`, the modern per-request `_meta` keys, MRTR fields), plus the
/// correlation id. The caller rewrites `name` or `uri` as the upstream knows it.
pub fn upstream_params(params: Option<&Map<String, Value>>, cid: &str) -> Map<String, Value> {
    let mut out = params.cloned().unwrap_or_default();
    out.remove("requestState");
    out.remove("inputResponses");
    let mut meta = match out.remove("_meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    meta.remove(DRY_RUN_META);
    for k in mcp::MODERN_REQUEST_META {
        meta.remove(*k);
    }
    meta.insert(CORRELATION_META.into(), json!(cid));
    out.insert("_meta".into(), Value::Object(meta));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_params_keep_the_clients_fields_but_not_the_gateways() {
        let p = json!({
            "name": "x",
            "arguments": {"a": 1},
            "task": {"ttl": 5},
            "requestState": "s",
            "inputResponses": {},
            "_meta": {
                "progressToken": 3,
                "dry_run": false,
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "vendor.example/trace": "t"
            }
        });
        let out = upstream_params(p.as_object(), "cid-1");
        assert_eq!(
            Value::Object(out),
            json!({
                "name": "x",
                "arguments": {"a": 1},
                "task": {"ttl": 5},
                "_meta": {
                    "progressToken": 3,
                    "vendor.example/trace": "t",
                    "io.portcullis/correlationId": "cid-1"
                }
            })
        );
        let out = upstream_params(None, "c");
        assert_eq!(
            Value::Object(out),
            json!({"_meta": {"io.portcullis/correlationId": "c"}})
        );
    }
}
