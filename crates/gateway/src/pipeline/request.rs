//! A governed request as it travels through the stages: who asks, for what, with which
//! arguments (borrowed, never copied), at what time, and the facts the stages add.

use std::sync::Arc;
use std::time::Instant;

use portcullis_identity::Principal;
use portcullis_policy::{Action, Context, PolicyRequest, Subject, Target, ToolClass};
use serde_json::{Map, Value};

use crate::federation::ToolEntry;
use crate::session::Session;

/// The methods that go through the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GovernedMethod {
    ToolsCall,
    PromptsGet,
    ResourcesRead,
    ResourcesSubscribe,
    ResourcesUnsubscribe,
    CompletionComplete,
    /// Sent by the gateway to the upstreams on a client's behalf.
    LoggingSetLevel,
}

impl GovernedMethod {
    pub const ALL: [GovernedMethod; 7] = [
        GovernedMethod::ToolsCall,
        GovernedMethod::PromptsGet,
        GovernedMethod::ResourcesRead,
        GovernedMethod::ResourcesSubscribe,
        GovernedMethod::ResourcesUnsubscribe,
        GovernedMethod::CompletionComplete,
        GovernedMethod::LoggingSetLevel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GovernedMethod::ToolsCall => "tools/call",
            GovernedMethod::PromptsGet => "prompts/get",
            GovernedMethod::ResourcesRead => "resources/read",
            GovernedMethod::ResourcesSubscribe => "resources/subscribe",
            GovernedMethod::ResourcesUnsubscribe => "resources/unsubscribe",
            GovernedMethod::CompletionComplete => "completion/complete",
            GovernedMethod::LoggingSetLevel => "logging/setLevel",
        }
    }

    pub fn action(self) -> Action {
        match self {
            GovernedMethod::ToolsCall => Action::CallTool,
            GovernedMethod::PromptsGet => Action::GetPrompt,
            GovernedMethod::ResourcesRead => Action::ReadResource,
            GovernedMethod::ResourcesSubscribe => Action::SubscribeResource,
            GovernedMethod::ResourcesUnsubscribe => Action::UnsubscribeResource,
            GovernedMethod::CompletionComplete => Action::Complete,
            GovernedMethod::LoggingSetLevel => Action::SetLogLevel,
        }
    }
}

/// What the caller named, before resolution.
#[derive(Debug, Clone, Copy)]
pub enum Requested<'a> {
    /// A namespaced tool name.
    Tool(&'a str),
    /// A namespaced prompt name.
    Prompt(&'a str),
    /// A resource URI.
    Resource(&'a str),
    /// Completions for a namespaced prompt's arguments.
    CompletePrompt(&'a str),
    /// Completions for a resource template's (or resource's) arguments; the client's `ref`.
    CompleteResource(&'a str, &'a Map<String, Value>),
    /// The gateway itself (no single item).
    Gateway,
}

impl Requested<'_> {
    /// The name as the caller gave it, for records of requests that did not resolve.
    pub fn raw(&self) -> Option<&str> {
        match self {
            Requested::Tool(n)
            | Requested::Prompt(n)
            | Requested::Resource(n)
            | Requested::CompletePrompt(n)
            | Requested::CompleteResource(n, _) => Some(n),
            Requested::Gateway => None,
        }
    }
}

/// The client the request came from.
#[derive(Clone, Copy)]
pub enum ClientRef<'a> {
    /// A session-based (up to 2025-11-25) client.
    Legacy(&'a Arc<Session>),
    /// A stateless (2026-07-28) client.
    Modern,
}

/// What resolution found.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The governed name: namespaced tool or prompt, `<namespace>.<uri>` for a resource.
    pub item: String,
    /// The upstream that serves it (`None`: nothing to forward to).
    pub upstream: Option<String>,
    /// A param the upstream gets rewritten (`name` of a tool or prompt, `ref` of a completion).
    pub rewrite: Option<(&'static str, Value)>,
    /// The catalog entry, for a tool.
    pub tool: Option<Arc<ToolEntry>>,
}

/// What the stages learned, for later stages, the ledger and the settle hooks.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub resolved: Option<Resolved>,
    /// The tool's class (tools only).
    pub class: Option<ToolClass>,
    /// Named facts a stage adds to the decision record (rule ids, labels, a limit's bucket,
    /// an approval id, ...): the record's `facts`, beside the caller's auth method.
    pub ledger: std::collections::BTreeMap<String, String>,
    /// Quota counters this request added to, to give back if it is not forwarded after all.
    pub quota_spent: Vec<QuotaSpent>,
    /// The concurrency slot this call holds until its outcome.
    pub slot: Option<crate::pipeline::stages::HeldSlot>,
    /// The circuits (scopes) that let this call through as a half-open probe.
    pub breaker_probes: Vec<String>,
    /// The idempotency reservation this call holds (its store key), completed with the
    /// outcome or released if nothing was forwarded.
    pub idempotency: Option<String>,
    /// The duplicate-call reservation this call holds (its store key), released if the call
    /// was not forwarded.
    pub duplicate: Option<String>,
    /// Arguments the gateway sets before forwarding (a `max_results` bound the caller left out).
    pub set_arguments: Vec<(String, Value)>,
    /// The policy in force when the request started (set by the runner), kept to its end.
    pub live: Option<Arc<crate::state::Live>>,
}

/// An amount added to one quota counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaSpent {
    pub key: String,
    pub window_start_ms: i64,
    pub amount: u64,
}

/// One governed request.
pub struct Governed<'a> {
    pub principal: &'a Principal,
    pub client: ClientRef<'a>,
    pub method: GovernedMethod,
    pub requested: Requested<'a>,
    pub arguments: &'a Value,
    /// The caller asked for a real run, not a dry-run preview.
    pub live: bool,
    /// The caller's idempotency key (header or `_meta`), checked for form.
    pub idempotency_key: Option<&'a str>,
    /// Wall time of the request, read once from the clock.
    pub now_ms: i64,
    /// Monotonic time of the request, read once from the clock.
    pub started: Instant,
    pub cid: &'a str,
    pub facts: Facts,
}

impl Governed<'_> {
    /// The policy this request is decided under: the one in force when it started.
    pub fn live(&mut self, st: &crate::state::AppState) -> Arc<crate::state::Live> {
        self.facts.live.get_or_insert_with(|| st.live()).clone()
    }

    /// The governed name for records and logs: resolved if it was, else as asked.
    pub fn item(&self) -> Option<String> {
        match &self.facts.resolved {
            Some(r) => Some(r.item.clone()),
            None => self.requested.raw().map(str::to_string),
        }
    }

    /// This request as a question to the policy, `live` or as a preview.
    pub fn policy_request(&self, live: bool) -> PolicyRequest<'_> {
        let name = self
            .facts
            .resolved
            .as_ref()
            .map(|r| r.item.as_str())
            .unwrap_or("");
        PolicyRequest {
            subject: Subject {
                tenant: &self.principal.tenant,
                agent: &self.principal.agent,
                role: &self.principal.role,
                auth_method: self.principal.auth_method.as_str(),
            },
            action: self.method.action(),
            target: Target {
                name,
                class: self.facts.class,
            },
            context: Context {
                arguments: self.arguments,
                live,
                time_ms: self.now_ms,
            },
        }
    }
}
