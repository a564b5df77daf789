//! `prompts/list`, filtered by role, and `prompts/get`, governed: the pipeline decides,
//! records and forwards under the upstream's own prompt name.

use portcullis_identity::Principal;
use portcullis_policy::Action;
use portcullis_protocol::ErrorCode;
use serde_json::{Value, json};

use super::Call;
use crate::pipeline::{GovernedMethod, Requested, stages};
use crate::relay::Reply;
use crate::respond::Failure;
use crate::state::AppState;

pub fn list(st: &AppState, principal: &Principal) -> Value {
    let catalog = st.catalog();
    let prompts: Vec<&Value> = catalog
        .prompts()
        .filter(|p| stages::permits(st, principal, Action::GetPrompt, &p.name, None))
        .map(|p| &p.definition)
        .collect();
    json!({ "prompts": prompts })
}

pub async fn get(c: &mut Call<'_>) -> Reply {
    let params = c.req.params.as_ref();
    let name = match params.and_then(|p| p.get("name")) {
        Some(Value::String(n)) if !n.is_empty() && n.len() <= 256 => n.as_str(),
        _ => {
            return Reply::Now(Err(Failure::new(
                ErrorCode::InvalidParams,
                "prompts/get needs a 'name' of 1 to 256 characters",
            )));
        }
    };
    let empty = json!({});
    let arguments = match params.and_then(|p| p.get("arguments")) {
        None | Some(Value::Null) => &empty,
        Some(a @ Value::Object(_)) => a,
        Some(_) => {
            return Reply::Now(Err(Failure::new(
                ErrorCode::InvalidParams,
                "'arguments' must be an object",
            )));
        }
    };
    c.govern(
        GovernedMethod::PromptsGet,
        Requested::Prompt(name),
        arguments,
        super::Intent::default(),
    )
    .await
}
