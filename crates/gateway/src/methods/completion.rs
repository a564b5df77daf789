//! `completion/complete`: suggestions for a prompt's or a resource template's arguments,
//! asked of the upstream that serves the prompt or template, if the role may use it.

use portcullis_protocol::ErrorCode;
use serde_json::{Value, json};

use super::Call;
use super::governed;
use crate::relay::{Relayed, Reply};
use crate::respond::Failure;

/// A `completion/complete` result has a `completion` object with a `values` array.
fn validate(v: Value) -> Result<Value, Failure> {
    if v.pointer("/completion/values").is_some_and(Value::is_array) {
        Ok(v)
    } else {
        Err(Failure::new(
            ErrorCode::UpstreamInvalidResponse,
            "completion/complete result has no completion.values array",
        ))
    }
}

fn invalid(msg: &str) -> Reply {
    Reply::Now(Err(Failure::new(ErrorCode::InvalidParams, msg)))
}

pub fn complete(c: &mut Call<'_>) -> Reply {
    let params = c.req.params.as_ref();
    let Some(reference) = params.and_then(|p| p.get("ref")).and_then(Value::as_object) else {
        return invalid("completion/complete needs a 'ref' object");
    };
    let catalog = c.st.catalog();
    let role = &c.principal.role;
    let (upstream, rewritten) = match reference.get("type").and_then(Value::as_str) {
        Some("ref/prompt") => {
            let Some(name) = reference.get("name").and_then(Value::as_str) else {
                return invalid("a ref/prompt needs a 'name'");
            };
            match catalog.prompt(name) {
                Some(p) if c.st.policy.allows(role, &p.name) => (
                    p.upstream.clone(),
                    json!({"type": "ref/prompt", "name": p.upstream_name}),
                ),
                _ => {
                    return Reply::Now(Err(Failure::new(
                        ErrorCode::UnknownPrompt,
                        format!("no prompt named '{}'", name.escape_default()),
                    )));
                }
            }
        }
        Some("ref/resource") => {
            let Some(uri) = reference.get("uri").and_then(Value::as_str) else {
                return invalid("a ref/resource needs a 'uri'");
            };
            let found = match catalog.template(uri) {
                Some(t) => Some((t.upstream.clone(), t.policy_name.clone())),
                None => catalog
                    .route_resource(uri)
                    .ok()
                    .map(|r| (r.upstream, r.policy_name)),
            };
            match found {
                Some((up, policy_name)) if c.st.policy.allows(role, &policy_name) => {
                    (up, Value::Object(reference.clone()))
                }
                _ => {
                    return Reply::Now(Err(Failure::new(
                        ErrorCode::UnknownResource,
                        format!("no resource or template '{}'", uri.escape_default()),
                    )));
                }
            }
        }
        _ => return invalid("'ref.type' must be ref/prompt or ref/resource"),
    };
    let Some(upstream) = c.st.upstream(&upstream).cloned() else {
        return Reply::Now(Err(Failure::new(
            ErrorCode::UpstreamUnavailable,
            "the upstream is not configured",
        )));
    };
    let mut up = governed::upstream_params(params, c.cid);
    up.insert("ref".into(), rewritten);
    Reply::Relay(Relayed {
        upstream,
        method: "completion/complete".into(),
        params: Value::Object(up),
        finish: governed::finish_plain(validate),
    })
}
