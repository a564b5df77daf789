//! Resolve: find what the request names in the catalog — the tool (and its class), prompt,
//! resource or completion reference — and the upstream that serves it. An unknown name is
//! denied here, before any policy is asked.

use async_trait::async_trait;
use portcullis_protocol::{ErrorCode, mcp};
use serde_json::json;

use crate::pipeline::{Governed, GovernedMethod, Requested, Resolved, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

pub struct Resolve;

fn unknown(code: ErrorCode, what: &str, name: &str) -> Step {
    Step::Deny(absent(code, what, name))
}

/// The answer for an item that does not exist — and, word for word, for one the caller may
/// not see, so that a refusal never tells a caller that something hidden exists.
pub fn absent(code: ErrorCode, what: &str, name: &str) -> Failure {
    Failure::new(code, format!("no {what} named '{}'", name.escape_default()))
}

/// The absent-answer for what `req` names.
pub fn absent_for(req: &Governed<'_>) -> Option<Failure> {
    Some(match req.requested {
        Requested::Tool(n) => absent(ErrorCode::UnknownTool, "tool", n),
        Requested::Prompt(n) | Requested::CompletePrompt(n) => {
            absent(ErrorCode::UnknownPrompt, "prompt", n)
        }
        Requested::CompleteResource(uri, _) => {
            absent(ErrorCode::UnknownResource, "resource or template", uri)
        }
        Requested::Resource(_) => Failure::new(ErrorCode::UnknownResource, NO_ROUTE),
        Requested::Gateway => return None,
    })
}

/// What an unknown resource URI is answered with.
const NO_ROUTE: &str = "no upstream lists this resource or a template that matches it";

#[async_trait]
impl Stage for Resolve {
    fn name(&self) -> &'static str {
        "resolve"
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        let catalog = st.catalog();
        let resolved = match req.requested {
            Requested::Gateway => return Ok(Step::Continue),
            Requested::Tool(name) => {
                let Some(e) = catalog.get(name) else {
                    if let Some(upstream) = st.unlisted_upstream_for(name) {
                        return Ok(Step::Deny(Failure::new(
                            ErrorCode::UpstreamUnavailable,
                            format!(
                                "upstream '{upstream}' is not available, so its tools are not listed"
                            ),
                        )));
                    }
                    return Ok(unknown(ErrorCode::UnknownTool, "tool", name));
                };
                req.facts.class = Some(e.class);
                Resolved {
                    item: e.name.clone(),
                    upstream: Some(e.upstream.clone()),
                    rewrite: Some(("name", json!(e.upstream_tool))),
                    tool: Some(e.clone()),
                }
            }
            Requested::Prompt(name) => {
                let Some(p) = catalog.prompt(name) else {
                    return Ok(unknown(ErrorCode::UnknownPrompt, "prompt", name));
                };
                Resolved {
                    item: p.name.clone(),
                    upstream: Some(p.upstream.clone()),
                    rewrite: Some(("name", json!(p.upstream_name))),
                    tool: None,
                }
            }
            Requested::CompletePrompt(name) => {
                let Some(p) = catalog.prompt(name) else {
                    return Ok(unknown(ErrorCode::UnknownPrompt, "prompt", name));
                };
                Resolved {
                    item: p.name.clone(),
                    upstream: Some(p.upstream.clone()),
                    rewrite: Some((
                        "ref",
                        json!({"type": "ref/prompt", "name": p.upstream_name}),
                    )),
                    tool: None,
                }
            }
            // A template by its exact text, else a resource URI by its normal form (asked
            // upstream in the upstream's spelling).
            Requested::CompleteResource(uri, _) => {
                let found = match catalog.template(uri) {
                    Some(t) => Some((t.upstream.clone(), t.policy_name.clone(), None)),
                    None => mcp::uri::normalize(uri)
                        .ok()
                        .and_then(|n| catalog.route_resource(&n).ok())
                        .map(|r| {
                            let reference = json!({"type": "ref/resource", "uri": r.upstream_uri});
                            (r.upstream, r.policy_name, Some(("ref", reference)))
                        }),
                };
                let Some((upstream, item, rewrite)) = found else {
                    return Ok(unknown(
                        ErrorCode::UnknownResource,
                        "resource or template",
                        uri,
                    ));
                };
                Resolved {
                    item,
                    upstream: Some(upstream),
                    rewrite,
                    tool: None,
                }
            }
            // The URI is in normal form here; the upstream is asked in its own spelling.
            Requested::Resource(uri) => match catalog.route_resource(uri) {
                Ok(r) => Resolved {
                    item: r.policy_name,
                    upstream: Some(r.upstream),
                    rewrite: Some(("uri", json!(r.upstream_uri))),
                    tool: None,
                },
                // Leaving a subscription is always possible, even once the resource is gone.
                Err(_) if req.method == GovernedMethod::ResourcesUnsubscribe => Resolved {
                    item: uri.to_string(),
                    upstream: None,
                    rewrite: None,
                    tool: None,
                },
                // One answer for "no such resource", whatever made it so.
                Err(_) => {
                    return Ok(Step::Deny(Failure::new(
                        ErrorCode::UnknownResource,
                        NO_ROUTE,
                    )));
                }
            },
        };
        req.facts.resolved = Some(resolved);
        Ok(Step::Continue)
    }
}
