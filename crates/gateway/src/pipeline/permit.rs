//! The permit to forward: handed out by the runner only once the decision record is durable,
//! and the only way a governed request reaches an upstream. However the request ends —
//! forwarded and answered, answered by the gateway, or dropped — the permit writes the outcome
//! record and runs the settle hooks, once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use portcullis_ledger::Decision;
use portcullis_protocol::ErrorCode;
use portcullis_upstream::{CallOptions, Upstream, UpstreamError};
use serde_json::{Map, Value};

use super::forward::{outcome_code, upstream_failure, upstream_params, validate};
use super::record::{RecordCtx, queue_outcome};
use super::request::{Facts, Resolved};
use super::result_cap::{Caps, apply as cap};
use super::runner::Settlement;
use super::stages::idempotency;
use crate::relay::{Relayed, Reply};
use crate::respond::Failure;
use crate::state::AppState;

/// What a finished request still owes: its outcome record and its settle hooks.
struct Owed {
    st: Arc<AppState>,
    ctx: RecordCtx,
    facts: Facts,
    /// How many stages ran (their settle hooks run).
    ran: usize,
    started: Instant,
}

impl Owed {
    /// The params the upstream gets: the client's, less the gateway's own fields, with the
    /// item renamed as the upstream knows it.
    fn params(&self, client: Option<&Map<String, Value>>) -> Map<String, Value> {
        let mut up = upstream_params(client, &self.ctx.cid);
        if let Some((field, value)) = self.facts.resolved.as_ref().and_then(|r| r.rewrite.clone()) {
            up.insert(field.into(), value);
        }
        if !self.facts.set_arguments.is_empty() {
            let args = up
                .entry("arguments")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(args) = args {
                for (name, value) in &self.facts.set_arguments {
                    args.insert(name.clone(), value.clone());
                }
            }
        }
        up
    }

    /// The result as the caller gets it: a tool call's cut to its caps (what was cut goes
    /// into `facts`), and kept under its idempotency key.
    async fn deliver(
        &self,
        result: Result<Value, Failure>,
        facts: &mut BTreeMap<String, String>,
    ) -> Result<Value, Failure> {
        let result = match (result, self.ctx.tool.as_deref()) {
            (Ok(v), Some(tool)) if self.ctx.method == super::GovernedMethod::ToolsCall => {
                match Caps::of(&self.st.config.tools, tool) {
                    Some(caps) => cap(&caps, v).map(|(v, cut)| {
                        if let Some(cut) = cut {
                            facts.insert("truncated".into(), cut.fact());
                        }
                        v
                    }),
                    None => Ok(v),
                }
            }
            (result, _) => result,
        };
        idempotency::keep(
            &self.st,
            self.facts.idempotency.as_deref(),
            &self.ctx.cid,
            &result,
        )
        .await;
        result
    }

    async fn pay(self, code: &str, facts: BTreeMap<String, String>) {
        let elapsed = self
            .st
            .clock
            .instant()
            .saturating_duration_since(self.started);
        if self.ctx.method == super::GovernedMethod::ToolsCall {
            self.st.metrics.call_seconds.observe(elapsed.as_secs_f64());
        }
        self.st
            .metrics
            .target_seconds
            .get_or_create(&self.ctx.target())
            .observe(elapsed.as_secs_f64());
        queue_outcome(&self.st, &self.ctx, code, elapsed.as_micros() as u64, facts).await;
        let settlement = Settlement {
            ctx: self.ctx,
            facts: self.facts,
            decision: Decision::Allow,
            outcome: code.to_string(),
        };
        self.st.pipeline.settle(&self.st, self.ran, &settlement);
    }
}

/// An allowed, recorded request.
pub struct Permit {
    owed: Option<Box<Owed>>,
}

/// One request the gateway sends upstream on its own for a permit (not relayed to the client).
pub struct Detached {
    pub upstream: Upstream,
    /// The client session the request is for, on upstreams that give each one its own.
    pub owner: Option<Arc<str>>,
}

impl Permit {
    pub(super) fn new(
        st: Arc<AppState>,
        ctx: RecordCtx,
        facts: Facts,
        ran: usize,
        started: Instant,
    ) -> Permit {
        Permit {
            owed: Some(Box::new(Owed {
                st,
                ctx,
                facts,
                ran,
                started,
            })),
        }
    }

    fn owed(&self) -> &Owed {
        // Only the methods that consume the permit (and `drop`) take `owed`.
        self.owed.as_ref().expect("a live permit owes its outcome")
    }

    pub fn resolved(&self) -> Option<&Resolved> {
        self.owed().facts.resolved.as_ref()
    }

    /// The upstream the request resolved to, if it is configured.
    pub fn upstream(&self) -> Option<Upstream> {
        let name = self.resolved()?.upstream.as_deref()?;
        self.owed().st.upstream(name).cloned()
    }

    fn unconfigured(&self) -> Failure {
        Failure::new(
            ErrorCode::UpstreamUnavailable,
            format!(
                "the upstream of '{}' is not configured",
                self.owed()
                    .ctx
                    .item
                    .as_deref()
                    .unwrap_or("")
                    .escape_default()
            ),
        )
    }

    /// Forward to the resolved upstream with the client's `params` (rewritten as the upstream
    /// knows the item). The upstream's result is validated; the outcome is recorded when it
    /// comes.
    pub async fn forward(mut self, params: Option<&Map<String, Value>>) -> Reply {
        let Some(upstream) = self.upstream() else {
            let f = self.unconfigured();
            return Reply::Now(self.answer(Err(f)).await);
        };
        let Some(owed) = self.owed.take() else {
            return Reply::Now(Err(Failure::new(
                ErrorCode::InternalError,
                "a permit was used twice",
            )));
        };
        let up = owed.params(params);
        let method = owed.ctx.method;
        let timeout = match owed.ctx.tool.as_deref() {
            Some(tool) if method == super::GovernedMethod::ToolsCall => owed
                .st
                .config
                .tools
                .iter()
                .filter(|t| t.matches(tool))
                .find_map(|t| t.timeout),
            _ => None,
        };
        Reply::Relay(Relayed {
            upstream,
            method: method.as_str().into(),
            params: Value::Object(up),
            timeout,
            finish: Box::new(move |answer: Result<Value, UpstreamError>| {
                async move {
                    let result = answer
                        .map_err(upstream_failure)
                        .and_then(|v| validate(method, v));
                    let mut facts = BTreeMap::new();
                    let result = owed.deliver(result, &mut facts).await;
                    owed.pay(outcome_code(&result), facts).await;
                    result
                }
                .boxed()
            }),
        })
    }

    /// Answer without forwarding (nothing to ask upstream); the outcome is recorded.
    pub async fn answer(mut self, result: Result<Value, Failure>) -> Result<Value, Failure> {
        let Some(owed) = self.owed.take() else {
            return result;
        };
        let mut facts = BTreeMap::new();
        let result = owed.deliver(result, &mut facts).await;
        owed.pay(outcome_code(&result), facts).await;
        result
    }

    /// Send `method` with `params` to each upstream of `sends` in the background and answer the
    /// client at once; the outcome is recorded when every send has finished (`ok`, or the code
    /// of the first failure).
    pub async fn detach(
        mut self,
        sends: Vec<Detached>,
        params: Map<String, Value>,
        answer: Value,
    ) -> Result<Value, Failure> {
        let Some(owed) = self.owed.take() else {
            return Ok(answer);
        };
        let governed = owed.ctx.method;
        let method = governed.as_str();
        let params = Value::Object(owed.params(Some(&params)));
        tokio::spawn(async move {
            let calls = sends.into_iter().map(|d| {
                let params = params.clone();
                async move {
                    let opts = CallOptions {
                        affinity: d.owner.is_some(),
                        owner: d.owner,
                        ..Default::default()
                    };
                    let r = d.upstream.call(method, Some(params), opts).await;
                    if let Err(e) = &r {
                        tracing::warn!(upstream = d.upstream.name(), error = %e, "{method} failed");
                    }
                    r.map_err(upstream_failure)
                        .and_then(|v| validate(governed, v))
                }
            });
            let results = futures::future::join_all(calls).await;
            let first_failure = results.into_iter().find_map(Result::err);
            let code = first_failure.map_or("ok", |f| f.code.as_str());
            owed.pay(code, BTreeMap::new()).await;
        });
        Ok(answer)
    }
}

impl Drop for Permit {
    /// A permit dropped unused (the client went away before anything was forwarded) still
    /// records its outcome and settles.
    fn drop(&mut self) {
        if let Some(owed) = self.owed.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(owed.pay("not_forwarded", BTreeMap::new()));
        }
    }
}
