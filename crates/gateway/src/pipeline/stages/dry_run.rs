//! Dry-run: a write or destructive tool call that did not ask to run live (`_meta.dry_run =
//! false` or `X-Portcullis-Dry-Run: false`) is answered with a preview and never forwarded.
//! Whether a live call would be allowed is asked of the policy engines, not worked out here.
//!
//! The preview is an answer the gateway makes up in the tool's place, so it must be valid for
//! any tool, whatever output schema the tool declares: it is text content plus
//! `_meta["io.portcullis/dryRun"]`, never `structuredContent`, and it says `isError: true`
//! because the tool did not run (an agent must not take a preview for a done write; clients
//! check a tool's output schema only on results that are not errors).

use async_trait::async_trait;
use portcullis_policy::ToolClass;
use portcullis_protocol::ErrorCode;
use serde_json::{Value, json};

use crate::federation::ToolEntry;
use crate::pipeline::{Governed, GovernedMethod, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

pub struct DryRun;

#[async_trait]
impl Stage for DryRun {
    fn name(&self) -> &'static str {
        "dry_run"
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        if req.method != GovernedMethod::ToolsCall || req.live {
            return Ok(Step::Continue);
        }
        let class = req.facts.class.unwrap_or(ToolClass::Destructive);
        if class == ToolClass::Read {
            return Ok(Step::Continue);
        }
        let live = req.live(st);
        let Some(tool) = req.facts.resolved.as_ref().and_then(|r| r.tool.as_deref()) else {
            return Err(Failure::new(
                ErrorCode::InternalError,
                "a tool call reached the dry-run check unresolved",
            ));
        };
        let live_allowed = live.engines.allows(&req.policy_request(true));
        Ok(Step::DryRun(preview(
            tool,
            class,
            req.arguments,
            live_allowed,
            st.config.idempotency.require_for.contains(&class) && req.idempotency_key.is_none(),
            req.cid,
        )))
    }
}

/// `_meta` key of the structured preview.
pub const PREVIEW_META: &str = "io.portcullis/dryRun";

/// The preview a dry-run returns instead of forwarding.
fn preview(
    e: &ToolEntry,
    class: ToolClass,
    args: &Value,
    live_allowed: bool,
    needs_key: bool,
    cid: &str,
) -> Value {
    let needs = match class {
        ToolClass::Destructive => "policy.mode = \"enforce\" and a role with allow_destructive",
        _ => "policy.mode = \"enforce\" and a role with allow_write",
    };
    let key = if needs_key {
        " and an idempotency key (_meta[\"io.portcullis/idempotencyKey\"] or the Idempotency-Key header)"
    } else {
        ""
    };
    json!({
        "content": [{
            "type": "text",
            "text": format!(
                "DRY RUN: '{}' ({} tool) was not executed. To execute it, resend with _meta.dry_run = false{key}; that needs {}.",
                e.name, class.as_str(), needs
            ),
        }],
        "isError": true,
        "_meta": {
            PREVIEW_META: {
                "dryRun": true,
                "decision": "dry_run",
                "tool": e.name,
                "class": class.as_str(),
                "arguments": args,
                "wouldForwardTo": { "upstream": e.upstream, "tool": e.upstream_tool },
                "liveCallWouldBeAllowed": live_allowed,
                "liveCallNeedsIdempotencyKey": needs_key,
                "correlationId": cid,
            },
        },
    })
}
