//! Tools of the conformance catalog that answer by themselves: content of every kind, a tool
//! error, log and progress notifications during a call, a JSON Schema 2020-12 input schema, and
//! a call whose SSE stream the server closes mid-call.

use std::time::Duration;

use rmcp::{
    RoleServer,
    handler::server::wrapper::Parameters,
    model::{
        CallToolResult, ContentBlock, LoggingLevel, ProgressNotificationParam, ResourceContents,
    },
    service::RequestContext,
    tool, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

use super::ConformanceServer;
use super::fixtures::{RED_PIXEL_PNG, SILENCE_WAV, json_schema_2020_12_input};

/// Pause between the notifications of `test_tool_with_logging` and `test_tool_with_progress`.
const STEP: Duration = Duration::from_millis(50);

/// Reconnection delay announced (SSE `retry`) when `test_reconnection` closes its stream.
pub const RECONNECT_RETRY: Duration = Duration::from_millis(500);

/// How long `test_reconnection` waits for the client to resume its stream before it answers
/// anyway.
const RECONNECT_WAIT: Duration = Duration::from_secs(10);

/// The text of `test_reconnection`'s result.
pub const RECONNECTION_TEXT: &str = "Reconnection test completed successfully";

/// Arguments of `json_schema_2020_12_tool` (the listed schema is the raw 2020-12 one).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonSchemaToolParams {
    /// A name.
    #[serde(default)]
    pub name: Option<String>,
    /// An address (street and city).
    #[serde(default)]
    pub address: Option<serde_json::Value>,
}

#[tool_router(router = content_tool_router, vis = "pub(super)")]
impl ConformanceServer {
    #[tool(
        description = "Return one text content block.",
        annotations(read_only_hint = true)
    )]
    fn test_simple_text(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(
            "This is a simple text response for testing.",
        )])
    }

    #[tool(
        description = "Return one image content block (a 1x1 red PNG).",
        annotations(read_only_hint = true)
    )]
    fn test_image_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::image(RED_PIXEL_PNG, "image/png")])
    }

    #[tool(
        description = "Return one audio content block (a short WAV of silence).",
        annotations(read_only_hint = true)
    )]
    fn test_audio_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::audio(SILENCE_WAV, "audio/wav")])
    }

    #[tool(
        description = "Return one embedded text resource.",
        annotations(read_only_hint = true)
    )]
    fn test_embedded_resource(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::resource(ResourceContents::text(
            "This is an embedded resource content.",
            "test://embedded-resource",
        ))])
    }

    #[tool(
        description = "Return text, image and embedded resource content blocks together.",
        annotations(read_only_hint = true)
    )]
    fn test_multiple_content_types(&self) -> CallToolResult {
        CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(RED_PIXEL_PNG, "image/png"),
            ContentBlock::resource(
                ResourceContents::text(
                    r#"{"test":"data","value":123}"#,
                    "test://mixed-content-resource",
                )
                .with_mime_type("application/json"),
            ),
        ])
    }

    #[tool(
        description = "Send three info log notifications, 50 ms apart, while running.",
        annotations(read_only_hint = true)
    )]
    async fn test_tool_with_logging(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let steps = [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ];
        let mut sent = 0;
        for (i, message) in steps.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(STEP).await;
            }
            if self.log(&ctx, LoggingLevel::Info, message).await {
                sent += 1;
            }
        }
        CallToolResult::success(vec![ContentBlock::text(format!(
            "Tool with logging completed ({sent} log notifications sent)"
        ))])
    }

    #[tool(
        description = "Always fail with a tool error (isError = true).",
        annotations(read_only_hint = true)
    )]
    fn test_error_handling(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(
            "This tool intentionally returns an error for testing",
        )])
    }

    #[tool(
        description = "Report progress 0, 50 and 100 of 100, 50 ms apart, when the request carries a progress token.",
        annotations(read_only_hint = true)
    )]
    async fn test_tool_with_progress(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let token = ctx.meta.get_progress_token();
        for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(STEP).await;
            }
            if let Some(token) = &token {
                let param = ProgressNotificationParam::new(token.clone(), progress)
                    .with_total(100.0)
                    .with_message(format!("{progress}/100"));
                if let Err(e) = ctx.peer.notify_progress(param).await {
                    tracing::debug!("progress notification not delivered: {e}");
                }
            }
        }
        let text = if token.is_some() {
            "Tool with progress completed"
        } else {
            "Tool with progress completed (no progress token, so no notifications)"
        };
        CallToolResult::success(vec![ContentBlock::text(text)])
    }

    #[tool(
        description = "Tool with JSON Schema 2020-12 features",
        input_schema = json_schema_2020_12_input(),
        annotations(read_only_hint = true)
    )]
    fn json_schema_2020_12_tool(
        &self,
        Parameters(p): Parameters<JsonSchemaToolParams>,
    ) -> CallToolResult {
        let name = p.name.as_deref().unwrap_or("anonymous");
        let city = p
            .address
            .as_ref()
            .and_then(|a| a.get("city"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("nowhere");
        CallToolResult::success(vec![ContentBlock::text(format!("{name} from {city}"))])
    }

    #[tool(
        description = "Close this call's SSE stream mid-call (after a priming event with a retry \
                       field), wait for the client to resume it with Last-Event-ID, then answer \
                       on the resumed stream.",
        annotations(read_only_hint = true)
    )]
    async fn test_reconnection(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        if let Some(streams) = &self.streams {
            match streams
                .close_and_await_resume(&ctx, RECONNECT_RETRY, RECONNECT_WAIT)
                .await
            {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    "test_reconnection: the client did not resume within {RECONNECT_WAIT:?}"
                ),
                Err(e) => tracing::debug!("test_reconnection: stream not closed: {e}"),
            }
        }
        CallToolResult::success(vec![ContentBlock::text(RECONNECTION_TEXT)])
    }
}
