//! `tools/list`, filtered by role, and `tools/call`, the governed pipeline: params → catalog →
//! policy (role, class, mode, dry-run) → decision record, durable before anything is forwarded
//! → upstream → outcome record. The decision record is written on every path that reaches a
//! decision, denials included; if it cannot be written, nothing is forwarded.

use std::sync::Arc;
use std::time::Instant;

use axum::http::HeaderMap;
use portcullis_identity::Principal;
use portcullis_ledger::Decision;
use portcullis_policy::{ToolClass, Verdict};
use portcullis_protocol::ErrorCode;
use serde_json::{Map, Value, json};

use super::Call;
use super::governed::{self, DRY_RUN_META, RecordCtx};
use crate::federation::ToolEntry;
use crate::relay::{Relayed, Reply};
use crate::respond::Failure;
use crate::state::AppState;

/// Header a caller may use instead of `_meta.dry_run`.
pub const DRY_RUN_HEADER: &str = "x-portcullis-dry-run";

const MAX_TOOL_NAME: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub struct CallParams {
    pub name: String,
    pub arguments: Value,
    /// True only when the caller explicitly asked for a real (non dry-run) call and nothing
    /// it sent asked for a dry-run.
    pub live: bool,
}

fn invalid(msg: &str) -> Failure {
    Failure::new(ErrorCode::InvalidParams, msg)
}

/// Read and check `tools/call` params and the dry-run header.
pub fn parse_params(
    params: Option<&Map<String, Value>>,
    headers: &HeaderMap,
) -> Result<CallParams, Failure> {
    let params = params.ok_or_else(|| invalid("tools/call needs params with a 'name'"))?;
    let name = match params.get("name") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_TOOL_NAME => s.clone(),
        Some(Value::String(_)) => return Err(invalid("'name' must be 1 to 256 characters")),
        Some(_) => return Err(invalid("'name' must be a string")),
        None => return Err(invalid("tools/call needs a 'name'")),
    };
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err(invalid("'arguments' must be an object")),
    };
    let meta_flag = match params.get("_meta") {
        None => None,
        Some(Value::Object(m)) => match m.get(DRY_RUN_META) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(invalid("'_meta.dry_run' must be true or false")),
        },
        Some(_) => return Err(invalid("'_meta' must be an object")),
    };
    let header_flag = match headers.get(DRY_RUN_HEADER) {
        None => None,
        Some(v) => match v.to_str().map(str::to_ascii_lowercase).as_deref() {
            Ok("true") => Some(true),
            Ok("false") => Some(false),
            _ => return Err(invalid("X-Portcullis-Dry-Run must be 'true' or 'false'")),
        },
    };
    let live = (meta_flag == Some(false) || header_flag == Some(false))
        && meta_flag != Some(true)
        && header_flag != Some(true);
    Ok(CallParams {
        name,
        arguments,
        live,
    })
}

/// `tools/list`: the catalog as this principal may see it, nothing more.
pub fn list(st: &AppState, principal: &Principal) -> Value {
    let catalog = st.catalog();
    let tools: Vec<&Value> = catalog
        .entries()
        .filter(|e| st.policy.visible(&principal.role, &e.name, e.class))
        .map(|e| &e.definition)
        .collect();
    json!({ "tools": tools })
}

pub async fn call(c: &mut Call<'_>) -> Reply {
    let started = Instant::now();
    let params = match parse_params(c.req.params.as_ref(), c.headers) {
        Ok(p) => p,
        Err(f) => return Reply::Now(Err(f)),
    };
    c.log.tool = Some(params.name.clone());
    let catalog = c.st.catalog();
    let entry = catalog.get(&params.name).cloned();
    let verdict = match &entry {
        None => Verdict::Deny(
            ErrorCode::UnknownTool,
            format!("no tool named '{}'", params.name.escape_default()),
        ),
        Some(e) => {
            c.st.policy
                .decide(&c.principal.role, &e.name, e.class, params.live)
        }
    };
    let (decision, denial) = match &verdict {
        Verdict::Allow => (Decision::Allow, None),
        Verdict::DryRun => (Decision::DryRun, None),
        Verdict::Deny(code, reason) => (Decision::Deny, Some(Failure::new(*code, reason.clone()))),
    };
    c.log.decision = Some(decision.as_str());
    let ctx = RecordCtx {
        principal: c.principal.clone(),
        cid: c.cid.to_string(),
        method: "tools/call",
        item: params.name.clone(),
        class: entry.as_ref().map(|e| e.class),
    };
    if let Err(f) =
        governed::record_decision(c.st, &ctx, decision, denial.as_ref(), &params.arguments).await
    {
        return Reply::Now(Err(f));
    }
    match (verdict, entry) {
        (Verdict::Deny(code, reason), _) => Reply::Now(Err(Failure::new(code, reason))),
        (Verdict::DryRun, Some(e)) => {
            Reply::Now(Ok(preview(&e, &params.arguments, c.principal, c.st, c.cid)))
        }
        (Verdict::Allow, Some(e)) => forward(c, &e, ctx, started),
        (_, None) => Reply::Now(Err(Failure::new(ErrorCode::UnknownTool, "no such tool"))),
    }
}

/// The structured preview a dry-run returns instead of forwarding.
fn preview(e: &ToolEntry, args: &Value, principal: &Principal, st: &AppState, cid: &str) -> Value {
    let role = st.policy.roles.get(&principal.role);
    let needs = match e.class {
        ToolClass::Destructive => "policy.mode = \"enforce\" and a role with allow_destructive",
        _ => "policy.mode = \"enforce\" and a role with allow_write",
    };
    let would_be_allowed = st.policy.mode == portcullis_policy::Mode::Enforce
        && role.is_some_and(|r| match e.class {
            ToolClass::Destructive => r.allow_destructive,
            _ => r.allow_write,
        });
    json!({
        "content": [{
            "type": "text",
            "text": format!(
                "DRY RUN: '{}' ({} tool) was not executed. To execute it, resend with _meta.dry_run = false; that needs {}.",
                e.name, e.class.as_str(), needs
            ),
        }],
        "structuredContent": {
            "dryRun": true,
            "decision": "dry_run",
            "tool": e.name,
            "class": e.class.as_str(),
            "arguments": args,
            "wouldForwardTo": { "upstream": e.upstream, "tool": e.upstream_tool },
            "liveCallWouldBeAllowed": would_be_allowed,
            "correlationId": cid,
        },
        "isError": false,
    })
}

/// A `tools/call` result must be an object whose `content`, if present, is an array and whose
/// `isError`, if present, is a boolean.
pub fn validate_result(v: Value) -> Result<Value, Failure> {
    let bad = |m: &str| Failure::new(ErrorCode::UpstreamInvalidResponse, m);
    let Value::Object(m) = &v else {
        return Err(bad("tools/call result is not an object"));
    };
    if m.get("content").is_some_and(|c| !c.is_array()) {
        return Err(bad("tools/call result 'content' is not an array"));
    }
    if m.get("isError").is_some_and(|c| !c.is_boolean()) {
        return Err(bad("tools/call result 'isError' is not a boolean"));
    }
    Ok(v)
}

fn forward(c: &Call<'_>, e: &ToolEntry, ctx: RecordCtx, started: Instant) -> Reply {
    let Some(upstream) = c.st.upstream(&e.upstream).cloned() else {
        return Reply::Now(Err(Failure::new(
            ErrorCode::UpstreamUnavailable,
            "the tool's upstream is not configured",
        )));
    };
    let mut params = governed::upstream_params(c.req.params.as_ref(), c.cid);
    params.insert("name".into(), json!(e.upstream_tool));
    Reply::Relay(Relayed {
        upstream,
        method: "tools/call".into(),
        params: Value::Object(params),
        finish: governed::finish_with_outcome(Arc::clone(c.st), ctx, started, validate_result),
    })
}

#[cfg(test)]
mod tests;
