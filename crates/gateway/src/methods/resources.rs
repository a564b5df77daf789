//! Resources: `resources/list` and `resources/templates/list` filtered by role (a resource is
//! named `<namespace>.<uri>` for policy); `resources/read` and (legacy sessions)
//! `resources/subscribe` / `resources/unsubscribe`, governed: the pipeline routes the URI to
//! the upstream that lists it or a template matching it, decides and records.

use portcullis_identity::Principal;
use portcullis_policy::Action;
use portcullis_protocol::{ErrorCode, mcp};
use serde_json::{Value, json};

use std::sync::Arc;

use super::Call;
use crate::pipeline::{Decided, GovernedMethod, Permit, Requested, stages};
use crate::relay::Reply;
use crate::respond::Failure;
use crate::session::Session;
use crate::state::AppState;

pub fn list(st: &AppState, principal: &Principal) -> Value {
    let catalog = st.catalog();
    let resources: Vec<&Value> = catalog
        .resources()
        .filter(|r| stages::permits(st, principal, Action::ReadResource, &r.policy_name, None))
        .map(|r| &r.definition)
        .collect();
    json!({ "resources": resources })
}

pub fn templates(st: &AppState, principal: &Principal) -> Value {
    let catalog = st.catalog();
    let templates: Vec<&Value> = catalog
        .templates()
        .filter(|t| stages::permits(st, principal, Action::ReadResource, &t.policy_name, None))
        .map(|t| &t.definition)
        .collect();
    json!({ "resourceTemplates": templates })
}

/// The client's `uri` in normal form (`mcp::uri::normalize`): what is routed, judged,
/// subscribed to and recorded. A URI without one is refused. The arguments recorded name the
/// normal form, and the client's spelling where it differs.
fn uri_param(c: &Call<'_>) -> Result<(String, Value), Failure> {
    let Some(Value::String(raw)) = c.req.params.as_ref().and_then(|p| p.get("uri")) else {
        return Err(Failure::new(
            ErrorCode::InvalidParams,
            format!(
                "'uri' must be a string of 1 to {} characters",
                mcp::uri::MAX_URI
            ),
        ));
    };
    let uri = mcp::uri::normalize(raw)
        .map_err(|why| Failure::new(ErrorCode::InvalidParams, format!("'uri': {why}")))?;
    let mut args = json!({ "uri": uri });
    if uri != *raw {
        args["requested_uri"] = json!(raw);
    }
    Ok((uri, args))
}

pub async fn read(c: &mut Call<'_>) -> Reply {
    let (uri, args) = match uri_param(c) {
        Ok(x) => x,
        Err(f) => return Reply::Now(Err(f)),
    };
    c.govern(
        GovernedMethod::ResourcesRead,
        Requested::Resource(&uri),
        &args,
        super::Intent::default(),
    )
    .await
}

/// The URI, the legacy session and the permit of a (un)subscription, or the answer that ends
/// it. Subscribing belongs to a legacy session; revision 2026-07-28 has `subscriptions/listen`.
async fn session_permit(
    c: &mut Call<'_>,
    method: GovernedMethod,
) -> Result<(String, Arc<Session>, Permit), Reply> {
    let (uri, args) = uri_param(c).map_err(|f| Reply::Now(Err(f)))?;
    let Some(session) = c.session.cloned() else {
        return Err(Reply::Now(Err(Failure::new(
            ErrorCode::MethodNotFound,
            format!(
                "{} needs a session; use subscriptions/listen",
                method.as_str()
            ),
        ))));
    };
    match c.decide(method, Requested::Resource(&uri), &args).await {
        Decided::Answered(r) => Err(Reply::Now(r)),
        Decided::Allowed(p) => Ok((uri, session, p)),
    }
}

/// `resources/subscribe`: the session is told of this URI's updates. An upstream where the
/// session has its own upstream session (HTTP) is asked on it; a shared one is asked once,
/// whoever subscribes first.
pub async fn subscribe(c: &mut Call<'_>) -> Reply {
    let (uri, session, permit) = match session_permit(c, GovernedMethod::ResourcesSubscribe).await {
        Ok(x) => x,
        Err(reply) => return reply,
    };
    let Some(upstream) = permit.upstream() else {
        return permit.forward(None).await;
    };
    let new = session.subscribe(&uri);
    let ask = if upstream.supports_affinity() {
        new
    } else {
        new && c.st.resource_watch(&uri, true)
    };
    if ask {
        permit.forward(c.req.params.as_ref()).await
    } else {
        Reply::Now(permit.answer(Ok(json!({}))).await)
    }
}

/// `resources/unsubscribe`: the session's own upstream session is told at once; a shared one
/// once nobody watches the URI any more.
pub async fn unsubscribe(c: &mut Call<'_>) -> Reply {
    let (uri, session, permit) = match session_permit(c, GovernedMethod::ResourcesUnsubscribe).await
    {
        Ok(x) => x,
        Err(reply) => return reply,
    };
    if !session.unsubscribe(&uri) {
        return Reply::Now(permit.answer(Ok(json!({}))).await);
    }
    let tell = permit
        .upstream()
        .is_some_and(|u| u.supports_affinity() || c.st.resource_watch(&uri, false));
    if tell {
        permit.forward(c.req.params.as_ref()).await
    } else {
        Reply::Now(permit.answer(Ok(json!({}))).await)
    }
}
