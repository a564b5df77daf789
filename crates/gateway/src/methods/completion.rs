//! `completion/complete`: suggestions for a prompt's or a resource template's arguments, asked
//! of the upstream that serves the prompt or template. Governed: the pipeline resolves the
//! reference, asks the policy, records, and forwards.

use portcullis_protocol::ErrorCode;
use serde_json::Value;

use super::Call;
use crate::pipeline::{GovernedMethod, Requested};
use crate::relay::Reply;
use crate::respond::Failure;

fn invalid(msg: &str) -> Reply {
    Reply::Now(Err(Failure::new(ErrorCode::InvalidParams, msg)))
}

pub async fn complete(c: &mut Call<'_>) -> Reply {
    let params = c.req.params.as_ref();
    let Some(reference) = params.and_then(|p| p.get("ref")).and_then(Value::as_object) else {
        return invalid("completion/complete needs a 'ref' object");
    };
    let requested = match reference.get("type").and_then(Value::as_str) {
        Some("ref/prompt") => match reference.get("name").and_then(Value::as_str) {
            Some(name) => Requested::CompletePrompt(name),
            None => return invalid("a ref/prompt needs a 'name'"),
        },
        Some("ref/resource") => match reference.get("uri").and_then(Value::as_str) {
            Some(uri) => Requested::CompleteResource(uri, reference),
            None => return invalid("a ref/resource needs a 'uri'"),
        },
        _ => return invalid("'ref.type' must be ref/prompt or ref/resource"),
    };
    let arguments = params
        .and_then(|p| p.get("argument"))
        .unwrap_or(&Value::Null);
    c.govern(
        GovernedMethod::CompletionComplete,
        requested,
        arguments,
        super::Intent::default(),
    )
    .await
}
