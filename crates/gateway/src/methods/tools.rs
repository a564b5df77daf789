//! `tools/list`, filtered by what the principal may call, and `tools/call`: its params read
//! and checked, then the governed pipeline decides, records, and forwards or answers.

use axum::http::HeaderMap;
use portcullis_identity::Principal;
use portcullis_policy::Action;
use portcullis_protocol::ErrorCode;
use serde_json::{Map, Value, json};

use super::Call;
use crate::ingress::single;
use crate::pipeline::forward::DRY_RUN_META;
use crate::pipeline::{GovernedMethod, Requested, stages};
use crate::relay::Reply;
use crate::respond::Failure;
use crate::state::AppState;

/// Header a caller may use instead of `_meta.dry_run`.
pub const DRY_RUN_HEADER: &str = "x-portcullis-dry-run";
/// Header carrying a call's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// `_meta` key carrying a call's idempotency key (the gateway's, not forwarded).
pub const IDEMPOTENCY_META: &str = "io.portcullis/idempotencyKey";
/// Longest idempotency key.
const MAX_IDEMPOTENCY_KEY: usize = 255;

const MAX_TOOL_NAME: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub struct CallParams {
    pub name: String,
    pub arguments: Value,
    /// True only when the caller explicitly asked for a real (non dry-run) call and nothing
    /// it sent asked for a dry-run.
    pub live: bool,
    /// The idempotency key, from the header or `_meta` (the same if both are sent).
    pub idempotency_key: Option<String>,
}

/// An idempotency key as sent: 1 to 255 visible ASCII characters.
fn idempotency_key(v: &[u8], from: &str) -> Result<String, Failure> {
    let ok =
        !v.is_empty() && v.len() <= MAX_IDEMPOTENCY_KEY && v.iter().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(invalid(&format!(
            "{from} must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters (no spaces)"
        )));
    }
    Ok(String::from_utf8_lossy(v).into_owned())
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
    let meta = match params.get("_meta") {
        None => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err(invalid("'_meta' must be an object")),
    };
    let meta_flag = match meta.and_then(|m| m.get(DRY_RUN_META)) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid("'_meta.dry_run' must be true or false")),
    };
    let meta_key = match meta.and_then(|m| m.get(IDEMPOTENCY_META)) {
        None => None,
        Some(Value::String(k)) => Some(idempotency_key(
            k.as_bytes(),
            "_meta[\"io.portcullis/idempotencyKey\"]",
        )?),
        Some(_) => {
            return Err(invalid(
                "_meta[\"io.portcullis/idempotencyKey\"] must be a string",
            ));
        }
    };
    let header_key = match single(headers, IDEMPOTENCY_HEADER)? {
        None => None,
        Some(v) => Some(idempotency_key(v.as_bytes(), "Idempotency-Key")?),
    };
    let idempotency_key = match (header_key, meta_key) {
        (Some(h), Some(m)) if h != m => {
            return Err(invalid(
                "the Idempotency-Key header and _meta[\"io.portcullis/idempotencyKey\"] differ; send one key",
            ));
        }
        (h, m) => h.or(m),
    };
    let header_flag = match single(headers, DRY_RUN_HEADER)? {
        None => None,
        Some(v) => match v.as_bytes() {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => {
                return Err(invalid(
                    "X-Portcullis-Dry-Run must be exactly 'true' or 'false'",
                ));
            }
        },
    };
    let live = (meta_flag == Some(false) || header_flag == Some(false))
        && meta_flag != Some(true)
        && header_flag != Some(true);
    Ok(CallParams {
        name,
        arguments,
        live,
        idempotency_key,
    })
}

/// `tools/list`: the catalog as this principal may see it — the tools some call of which
/// (a preview counts) it may make, quarantined ones left out — nothing more.
pub fn list(st: &AppState, principal: &Principal) -> Value {
    let catalog = st.catalog();
    let tools: Vec<&Value> = catalog
        .entries()
        .filter(|e| e.arguments.quarantined().is_none())
        .filter(|e| stages::permits(st, principal, Action::CallTool, &e.name, Some(e.class)))
        .map(|e| &e.definition)
        .collect();
    json!({ "tools": tools })
}

pub async fn call(c: &mut Call<'_>) -> Reply {
    let params = match parse_params(c.req.params.as_ref(), c.headers) {
        Ok(p) => p,
        Err(f) => return Reply::Now(Err(f)),
    };
    c.govern(
        GovernedMethod::ToolsCall,
        Requested::Tool(&params.name),
        &params.arguments,
        super::Intent {
            live: params.live,
            idempotency_key: params.idempotency_key.as_deref(),
        },
    )
    .await
}

#[cfg(test)]
mod tests;
