//! Resources: `resources/list` and `resources/templates/list` filtered by role (a resource is
//! named `<namespace>.<uri>` for policy), `resources/read` governed like a read and routed to
//! the upstream that lists the URI or a template matching it, and (legacy sessions)
//! `resources/subscribe` / `resources/unsubscribe`.

use std::sync::Arc;
use std::time::Instant;

use portcullis_identity::Principal;
use portcullis_ledger::Decision;
use portcullis_protocol::ErrorCode;
use serde_json::{Value, json};

use super::Call;
use super::governed::{self, RecordCtx};
use crate::federation::ResourceRoute;
use crate::relay::{Relayed, Reply};
use crate::respond::Failure;
use crate::state::AppState;

/// Longest URI accepted.
const MAX_URI: usize = 4096;

pub fn list(st: &AppState, principal: &Principal) -> Value {
    let catalog = st.catalog();
    let resources: Vec<&Value> = catalog
        .resources()
        .filter(|r| st.policy.allows(&principal.role, &r.policy_name))
        .map(|r| &r.definition)
        .collect();
    json!({ "resources": resources })
}

pub fn templates(st: &AppState, principal: &Principal) -> Value {
    let catalog = st.catalog();
    let templates: Vec<&Value> = catalog
        .templates()
        .filter(|t| st.policy.allows(&principal.role, &t.policy_name))
        .map(|t| &t.definition)
        .collect();
    json!({ "resourceTemplates": templates })
}

fn uri_param(c: &Call<'_>) -> Result<String, Failure> {
    match c.req.params.as_ref().and_then(|p| p.get("uri")) {
        Some(Value::String(u)) if !u.is_empty() && u.len() <= MAX_URI => Ok(u.clone()),
        _ => Err(Failure::new(
            ErrorCode::InvalidParams,
            format!("'uri' must be a string of 1 to {MAX_URI} characters"),
        )),
    }
}

/// The route of `uri` if the principal may use it; the refusal otherwise.
fn route(c: &Call<'_>, uri: &str) -> Result<ResourceRoute, Failure> {
    let route =
        c.st.catalog()
            .route_resource(uri)
            .map_err(|why| Failure::new(ErrorCode::UnknownResource, why))?;
    if !c.st.policy.allows(&c.principal.role, &route.policy_name) {
        return Err(Failure::new(
            ErrorCode::NotAllowed,
            format!(
                "role '{}' may not read '{}'",
                c.principal.role,
                uri.escape_default()
            ),
        ));
    }
    Ok(route)
}

/// A `resources/read` result has a `contents` array.
fn validate(v: Value) -> Result<Value, Failure> {
    if v.get("contents").is_some_and(Value::is_array) {
        Ok(v)
    } else {
        Err(Failure::new(
            ErrorCode::UpstreamInvalidResponse,
            "resources/read result has no 'contents' array",
        ))
    }
}

pub async fn read(c: &mut Call<'_>) -> Reply {
    let started = Instant::now();
    let uri = match uri_param(c) {
        Ok(u) => u,
        Err(f) => return Reply::Now(Err(f)),
    };
    let routed = route(c, &uri);
    let (decision, denial) = match &routed {
        Ok(_) => (Decision::Allow, None),
        Err(f) => (Decision::Deny, Some(f.clone())),
    };
    c.log.tool = Some(uri.clone());
    c.log.decision = Some(decision.as_str());
    let item = match &routed {
        Ok(r) => r.policy_name.clone(),
        Err(_) => uri.clone(),
    };
    let ctx = RecordCtx {
        principal: c.principal.clone(),
        cid: c.cid.to_string(),
        method: "resources/read",
        item,
        class: None,
    };
    if let Err(f) =
        governed::record_decision(c.st, &ctx, decision, denial.as_ref(), &json!({"uri": uri})).await
    {
        return Reply::Now(Err(f));
    }
    let route = match routed {
        Ok(r) => r,
        Err(f) => return Reply::Now(Err(f)),
    };
    let Some(upstream) = c.st.upstream(&route.upstream).cloned() else {
        return Reply::Now(Err(Failure::new(
            ErrorCode::UpstreamUnavailable,
            "the resource's upstream is not configured",
        )));
    };
    Reply::Relay(Relayed {
        upstream,
        method: "resources/read".into(),
        params: Value::Object(governed::upstream_params(c.req.params.as_ref(), c.cid)),
        finish: governed::finish_with_outcome(Arc::clone(c.st), ctx, started, validate),
    })
}

/// `resources/subscribe`: the session is told of this URI's updates. An upstream where the
/// session has its own upstream session (HTTP) is asked on it; a shared one is asked once,
/// whoever subscribes first.
pub async fn subscribe(c: &mut Call<'_>) -> Reply {
    let (uri, route) = match uri_param(c).and_then(|u| route(c, &u).map(|r| (u, r))) {
        Ok(x) => x,
        Err(f) => return Reply::Now(Err(f)),
    };
    let Some(session) = c.session else {
        return Reply::Now(Err(Failure::new(
            ErrorCode::MethodNotFound,
            "resources/subscribe needs a session; use subscriptions/listen",
        )));
    };
    let Some(upstream) = c.st.upstream(&route.upstream).cloned() else {
        return Reply::Now(Err(Failure::new(
            ErrorCode::UpstreamUnavailable,
            "the resource's upstream is not configured",
        )));
    };
    let new = session.subscribe(&uri);
    let ask = if upstream.supports_affinity() {
        new
    } else {
        new && c.st.resource_watch(&uri, true)
    };
    if ask {
        return Reply::Relay(Relayed {
            upstream,
            method: "resources/subscribe".into(),
            params: Value::Object(governed::upstream_params(c.req.params.as_ref(), c.cid)),
            finish: governed::finish_plain(governed::any_object),
        });
    }
    Reply::Now(Ok(json!({})))
}

/// `resources/unsubscribe`: the session's own upstream session is told at once; a shared one
/// once nobody watches the URI any more.
pub async fn unsubscribe(c: &mut Call<'_>) -> Reply {
    let uri = match uri_param(c) {
        Ok(u) => u,
        Err(f) => return Reply::Now(Err(f)),
    };
    let Some(session) = c.session else {
        return Reply::Now(Err(Failure::new(
            ErrorCode::MethodNotFound,
            "resources/unsubscribe needs a session",
        )));
    };
    if !session.unsubscribe(&uri) {
        return Reply::Now(Ok(json!({})));
    }
    let upstream =
        c.st.catalog()
            .route_resource(&uri)
            .ok()
            .and_then(|r| c.st.upstream(&r.upstream).cloned())
            .filter(|u| u.supports_affinity() || c.st.resource_watch(&uri, false));
    match upstream {
        Some(upstream) => Reply::Relay(Relayed {
            upstream,
            method: "resources/unsubscribe".into(),
            params: Value::Object(governed::upstream_params(c.req.params.as_ref(), c.cid)),
            finish: governed::finish_plain(governed::any_object),
        }),
        None => Reply::Now(Ok(json!({}))),
    }
}
