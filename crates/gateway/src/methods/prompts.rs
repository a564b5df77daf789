//! `prompts/list` filtered by role, and `prompts/get`, governed like a read: allowed by the
//! role's globs, recorded, forwarded under the upstream's own prompt name.

use std::sync::Arc;
use std::time::Instant;

use portcullis_identity::Principal;
use portcullis_ledger::Decision;
use portcullis_protocol::ErrorCode;
use serde_json::{Value, json};

use super::Call;
use super::governed::{self, RecordCtx};
use crate::relay::{Relayed, Reply};
use crate::respond::Failure;
use crate::state::AppState;

pub fn list(st: &AppState, principal: &Principal) -> Value {
    let catalog = st.catalog();
    let prompts: Vec<&Value> = catalog
        .prompts()
        .filter(|p| st.policy.allows(&principal.role, &p.name))
        .map(|p| &p.definition)
        .collect();
    json!({ "prompts": prompts })
}

/// A `prompts/get` result has a `messages` array.
fn validate(v: Value) -> Result<Value, Failure> {
    if v.get("messages").is_some_and(Value::is_array) {
        Ok(v)
    } else {
        Err(Failure::new(
            ErrorCode::UpstreamInvalidResponse,
            "prompts/get result has no 'messages' array",
        ))
    }
}

pub async fn get(c: &mut Call<'_>) -> Reply {
    let started = Instant::now();
    let params = c.req.params.as_ref();
    let name = match params.and_then(|p| p.get("name")) {
        Some(Value::String(n)) if !n.is_empty() && n.len() <= 256 => n.clone(),
        _ => {
            return Reply::Now(Err(Failure::new(
                ErrorCode::InvalidParams,
                "prompts/get needs a 'name' of 1 to 256 characters",
            )));
        }
    };
    let arguments = params
        .and_then(|p| p.get("arguments"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !arguments.is_object() {
        return Reply::Now(Err(Failure::new(
            ErrorCode::InvalidParams,
            "'arguments' must be an object",
        )));
    }
    c.log.tool = Some(name.clone());
    let catalog = c.st.catalog();
    let entry = catalog.prompt(&name).cloned();
    let denial = match &entry {
        None => Some(Failure::new(
            ErrorCode::UnknownPrompt,
            format!("no prompt named '{}'", name.escape_default()),
        )),
        Some(p) if !c.st.policy.allows(&c.principal.role, &p.name) => Some(Failure::new(
            ErrorCode::NotAllowed,
            format!(
                "role '{}' may not use prompt '{}'",
                c.principal.role, p.name
            ),
        )),
        Some(_) => None,
    };
    let decision = if denial.is_some() {
        Decision::Deny
    } else {
        Decision::Allow
    };
    c.log.decision = Some(decision.as_str());
    let ctx = RecordCtx {
        principal: c.principal.clone(),
        cid: c.cid.to_string(),
        method: "prompts/get",
        item: name,
        class: None,
    };
    if let Err(f) =
        governed::record_decision(c.st, &ctx, decision, denial.as_ref(), &arguments).await
    {
        return Reply::Now(Err(f));
    }
    let (Some(entry), None) = (entry, denial.clone()) else {
        return Reply::Now(Err(denial.unwrap_or_else(|| {
            Failure::new(ErrorCode::UnknownPrompt, "no such prompt")
        })));
    };
    let Some(upstream) = c.st.upstream(&entry.upstream).cloned() else {
        return Reply::Now(Err(Failure::new(
            ErrorCode::UpstreamUnavailable,
            "the prompt's upstream is not configured",
        )));
    };
    let mut up = governed::upstream_params(params, c.cid);
    up.insert("name".into(), json!(entry.upstream_name));
    Reply::Relay(Relayed {
        upstream,
        method: "prompts/get".into(),
        params: Value::Object(up),
        finish: governed::finish_with_outcome(Arc::clone(c.st), ctx, started, validate),
    })
}
