//! Tools beyond the conformance suite's scenarios, for testing that a proxy passes through
//! what the suite does not exercise: `notifications/resources/updated`, the three
//! `list_changed` notifications, and `notifications/cancelled`.

use std::time::Duration;

use rmcp::{
    RoleServer,
    handler::server::wrapper::Parameters,
    model::{CallToolResult, ContentBlock, LoggingLevel, ResourceUpdatedNotificationParam},
    service::RequestContext,
    tool, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::ConformanceServer;

/// Longest wait `wait_for_cancellation` accepts, in milliseconds.
pub const MAX_WAIT_MS: u64 = 60_000;

/// Arguments of `trigger_resource_updated`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ResourceUpdatedParams {
    /// URI of the resource to announce as updated.
    pub uri: String,
}

/// Arguments of `wait_for_cancellation`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WaitParams {
    /// How long to wait for a cancellation, in milliseconds (at most 60000).
    #[schemars(range(min = 0, max = 60000))]
    pub ms: u64,
    /// A label echoed in the log notifications sent when the call starts waiting and when it
    /// is cancelled.
    pub tag: String,
}

#[tool_router(router = extra_tool_router, vis = "pub(super)")]
impl ConformanceServer {
    #[tool(
        description = "Send notifications/resources/updated for `uri` if this session subscribed to it; reply whether it was sent.",
        annotations(read_only_hint = true)
    )]
    async fn trigger_resource_updated(
        &self,
        Parameters(p): Parameters<ResourceUpdatedParams>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        if !self.subscriptions().contains(&p.uri) {
            return text(format!("not subscribed to {}", p.uri));
        }
        let param = ResourceUpdatedNotificationParam::new(p.uri.clone());
        match ctx.peer.notify_resource_updated(param).await {
            Ok(()) => text(format!("sent resources/updated for {}", p.uri)),
            Err(e) => {
                CallToolResult::error(vec![ContentBlock::text(format!("could not notify: {e}"))])
            }
        }
    }

    #[tool(
        description = "Send notifications/tools/list_changed, notifications/resources/list_changed and notifications/prompts/list_changed (the lists themselves do not change).",
        annotations(read_only_hint = true)
    )]
    async fn trigger_list_changed(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let peer = &ctx.peer;
        let sent = [
            peer.notify_tool_list_changed().await,
            peer.notify_resource_list_changed().await,
            peer.notify_prompt_list_changed().await,
        ];
        match sent.into_iter().find_map(Result::err) {
            None => text("sent tools, resources and prompts list_changed"),
            Some(e) => {
                CallToolResult::error(vec![ContentBlock::text(format!("could not notify: {e}"))])
            }
        }
    }

    #[tool(
        description = "Send a notice log notification {\"waiting\": tag}, then wait up to `ms` milliseconds for the call to be cancelled. On notifications/cancelled, send a notice log notification {\"cancelled\": tag} (the call's result is then dropped, as the protocol wants); otherwise reply \"not cancelled\".",
        annotations(read_only_hint = true)
    )]
    async fn wait_for_cancellation(
        &self,
        Parameters(p): Parameters<WaitParams>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let ms = p.ms.min(MAX_WAIT_MS);
        // Tells the client the call reached the tool, so a test can cancel it then.
        self.log(&ctx, LoggingLevel::Notice, json!({ "waiting": p.tag }))
            .await;
        tokio::select! {
            () = ctx.ct.cancelled() => {
                self.log(&ctx, LoggingLevel::Notice, json!({ "cancelled": p.tag })).await;
                CallToolResult::error(vec![ContentBlock::text("cancelled")])
            }
            () = tokio::time::sleep(Duration::from_millis(ms)) => {
                text(format!("not cancelled within {ms} ms"))
            }
        }
    }
}

fn text(message: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(message.into())])
}
