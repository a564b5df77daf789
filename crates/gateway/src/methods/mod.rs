//! Method dispatch for JSON-RPC requests that passed ingress, identity and the era checks.
//! One explicit match over [`Method`], with an explicit arm for methods the gateway does not
//! serve. Each handler answers now or hands back an upstream call for the relay; every
//! governed method goes through the pipeline (`Call::govern`, `Call::decide`).

pub mod completion;
pub mod prompts;
pub mod resources;
pub mod tools;

use std::sync::Arc;

use axum::http::HeaderMap;
use portcullis_identity::Principal;
use portcullis_protocol::mcp::{self, Method};
use portcullis_protocol::{ErrorCode, Request};
use serde_json::{Value, json};

use crate::endpoint::RequestLog;
use crate::pipeline::{self, ClientRef, Decided, Facts, Governed, GovernedMethod, Requested};
use crate::relay::Reply;
use crate::respond::Failure;
use crate::session::Session;
use crate::state::AppState;

/// One request being handled.
pub struct Call<'a> {
    pub st: &'a Arc<AppState>,
    pub principal: &'a Principal,
    pub headers: &'a HeaderMap,
    pub req: &'a Request,
    pub cid: &'a str,
    pub log: &'a mut RequestLog,
    /// The legacy session, if the client has one.
    pub session: Option<&'a Arc<Session>>,
}

/// What the caller asked for beyond the method and its arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct Intent<'a> {
    /// A real run, not a dry-run preview.
    pub live: bool,
    /// The caller's idempotency key.
    pub idempotency_key: Option<&'a str>,
}

impl Call<'_> {
    /// Take a request through the pipeline with what the caller asked for.
    pub async fn decide_live(
        &mut self,
        method: GovernedMethod,
        requested: Requested<'_>,
        arguments: &Value,
        intent: Intent<'_>,
    ) -> Decided {
        let mut req = Governed {
            principal: self.principal,
            client: match self.session {
                Some(s) => ClientRef::Legacy(s),
                None => ClientRef::Modern,
            },
            method,
            requested,
            arguments,
            live: intent.live,
            idempotency_key: intent.idempotency_key,
            now_ms: self.st.clock.now_ms(),
            started: self.st.clock.instant(),
            cid: self.cid,
            facts: Facts::default(),
        };
        pipeline::run(self.st, &mut req, self.log).await
    }

    /// Take a request through the pipeline.
    pub async fn decide(
        &mut self,
        method: GovernedMethod,
        requested: Requested<'_>,
        arguments: &Value,
    ) -> Decided {
        self.decide_live(method, requested, arguments, Intent::default())
            .await
    }

    /// Take a request through the pipeline and, if it is allowed, forward it with the client's
    /// params.
    pub async fn govern(
        &mut self,
        method: GovernedMethod,
        requested: Requested<'_>,
        arguments: &Value,
        intent: Intent<'_>,
    ) -> Reply {
        match self.decide_live(method, requested, arguments, intent).await {
            Decided::Answered(r) => Reply::Now(r),
            Decided::Allowed(permit) => permit.forward(self.req.params.as_ref()).await,
        }
    }
}

fn not_served(method: &str) -> Reply {
    Reply::Now(Err(Failure::new(
        ErrorCode::MethodNotFound,
        format!(
            "method '{}' is not served by this gateway",
            method.escape_default()
        ),
    )))
}

pub async fn dispatch(c: &mut Call<'_>, method: Method) -> Reply {
    match method {
        Method::Ping => Reply::Now(Ok(json!({}))),
        Method::ToolsList => Reply::Now(Ok(tools::list(c.st, c.principal))),
        Method::ToolsCall => tools::call(c).await,
        Method::PromptsList => Reply::Now(Ok(prompts::list(c.st, c.principal))),
        Method::PromptsGet => prompts::get(c).await,
        Method::ResourcesList => Reply::Now(Ok(resources::list(c.st, c.principal))),
        Method::ResourcesTemplatesList => Reply::Now(Ok(resources::templates(c.st, c.principal))),
        Method::ResourcesRead => resources::read(c).await,
        Method::ResourcesSubscribe => resources::subscribe(c).await,
        Method::ResourcesUnsubscribe => resources::unsubscribe(c).await,
        Method::CompletionComplete => completion::complete(c).await,
        Method::LoggingSetLevel => Reply::Now(set_level(c).await),
        Method::ServerDiscover => Reply::Now(Ok(discover(c.st))),
        Method::Initialize | Method::SubscriptionsListen | Method::Unknown => {
            not_served(&c.req.method)
        }
    }
}

/// `logging/setLevel`: the session gets messages from this level up. Upstreams where the
/// session has its own upstream session (HTTP) are told on it; the others are asked for the
/// lowest level any client wants, and the gateway filters per client. What the gateway sends
/// upstream for it is governed and recorded like any other request.
async fn set_level(c: &mut Call<'_>) -> Result<Value, Failure> {
    let level = c
        .req
        .params
        .as_ref()
        .and_then(|p| p.get("level"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Failure::new(ErrorCode::InvalidParams, "logging/setLevel needs a 'level'")
        })?;
    let rank = mcp::log_level_rank(level).ok_or_else(|| {
        Failure::new(
            ErrorCode::InvalidParams,
            format!("'{}' is not a log level", level.escape_default()),
        )
    })?;
    let args = json!({ "level": level });
    let permit = match c
        .decide(GovernedMethod::LoggingSetLevel, Requested::Gateway, &args)
        .await
    {
        Decided::Answered(r) => return r,
        Decided::Allowed(p) => p,
    };
    let sends = match c.session {
        Some(s) => {
            s.set_log_level(rank);
            c.st.session_log_level_sends(s, rank)
        }
        None => c.st.lower_upstream_log_level(rank),
    };
    let Value::Object(params) = args else {
        return Ok(json!({}));
    };
    permit.detach(sends, params, json!({})).await
}

/// A modern client's `_meta` log level: if no client wanted that low a level before, the
/// upstreams are asked for it, governed and recorded as a `logging/setLevel`.
pub async fn lower_log_level(c: &mut Call<'_>, rank: usize) {
    if !c.st.would_lower_log_level(rank) {
        return;
    }
    let args = json!({ "level": mcp::LOG_LEVELS[rank] });
    let permit = match c
        .decide(GovernedMethod::LoggingSetLevel, Requested::Gateway, &args)
        .await
    {
        Decided::Answered(_) => return,
        Decided::Allowed(p) => p,
    };
    let sends = c.st.lower_upstream_log_level(rank);
    if let Value::Object(params) = args {
        let _ = permit.detach(sends, params, json!({})).await;
    }
}

/// What the gateway offers to every client.
pub fn capabilities() -> Value {
    json!({
        "tools": {"listChanged": true},
        "prompts": {"listChanged": true},
        "resources": {"subscribe": true, "listChanged": true},
        "completions": {},
        "logging": {},
    })
}

pub const INSTRUCTIONS: &str = "Tools and prompts are namespaced as <upstream>.<name>. Write and destructive tools run as dry-run unless you set _meta.dry_run = false and policy allows it; a live write or destructive call also needs an idempotency key (_meta[\"io.portcullis/idempotencyKey\"] or the Idempotency-Key header), which you reuse when you retry it.";

/// `server/discover` (2026-07-28): the revisions and capabilities the gateway offers.
pub fn discover(_st: &AppState) -> Value {
    json!({
        "supportedVersions": mcp::supported_versions(),
        "capabilities": capabilities(),
        "instructions": INSTRUCTIONS,
        "ttlMs": 0,
        "cacheScope": "private",
    })
}
