//! The conformance catalog, served by `demo-server --conformance`: the tools, resources,
//! resource templates, prompts, completions and logging that the official MCP conformance
//! suite's server scenarios exercise, plus a few tools that trigger the notifications the
//! suite does not (resource updates, list changes, cancellation). The gateway's
//! protocol-fidelity tests put it behind Portcullis and run the suite through the gateway.
//!
//! Logging, sampling and `resources/subscribe` are deprecated by the stateless revision but are
//! part of 2025-06-18 and 2025-11-25, the revisions this catalog serves; hence the
//! `allow(deprecated)` below.
#![allow(deprecated)]

mod client_requests;
mod extras;
mod fixtures;
mod logging;
mod prompts;
mod resources;
mod streams;
mod tools;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::router::tool::ToolRouter,
    model::{
        CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResponse,
        Implementation, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
        LoggingLevel, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
        ServerCapabilities, ServerConfig, SetLevelRequestParams, SubscribeRequestParams,
        UnsubscribeRequestParams,
    },
    service::RequestContext,
    tool_handler,
};

pub use fixtures::{JSON_SCHEMA_2020_12, RED_PIXEL_PNG, SILENCE_WAV};
pub use streams::ReconnectingSessionManager;

/// Name announced in the `initialize` result of the conformance catalog.
pub const CONFORMANCE_SERVER_NAME: &str = "portcullis-demo-conformance";

/// Names of the conformance catalog's tools, in listing order (by name): the suite's, then
/// `trigger_*` and `wait_for_cancellation` for notifications the suite does not exercise.
pub const CONFORMANCE_TOOLS: [&str; 17] = [
    "json_schema_2020_12_tool",
    "test_audio_content",
    "test_elicitation",
    "test_elicitation_sep1034_defaults",
    "test_elicitation_sep1330_enums",
    "test_embedded_resource",
    "test_error_handling",
    "test_image_content",
    "test_multiple_content_types",
    "test_reconnection",
    "test_sampling",
    "test_simple_text",
    "test_tool_with_logging",
    "test_tool_with_progress",
    "trigger_list_changed",
    "trigger_resource_updated",
    "wait_for_cancellation",
];

/// State of one MCP session: what the client subscribed to and the log level it asked for.
#[derive(Debug)]
struct SessionState {
    log_level: Mutex<LoggingLevel>,
    subscriptions: Mutex<BTreeSet<String>>,
}

impl Default for SessionState {
    fn default() -> Self {
        Self {
            log_level: Mutex::new(logging::DEFAULT_LEVEL),
            subscriptions: Mutex::default(),
        }
    }
}

/// The conformance MCP server.
///
/// One value serves one session: build a fresh one per session (the HTTP transport calls its
/// factory per session), so subscriptions and the log level are per session, as the protocol
/// wants. Clones share the session's state.
#[derive(Debug, Clone)]
pub struct ConformanceServer {
    tool_router: ToolRouter<Self>,
    session: Arc<SessionState>,
    streams: Option<Arc<ReconnectingSessionManager>>,
}

impl ConformanceServer {
    /// A server for one session. `streams` is the HTTP session manager, which lets
    /// `test_reconnection` close its own SSE stream; over stdio there is none and the tool
    /// simply answers.
    pub fn new(streams: Option<Arc<ReconnectingSessionManager>>) -> Self {
        let mut tool_router = Self::content_tool_router();
        tool_router.merge(Self::client_request_tool_router());
        tool_router.merge(Self::extra_tool_router());
        Self {
            tool_router,
            session: Arc::default(),
            streams,
        }
    }

    /// The tool definitions this server lists, in listing order.
    pub fn tools(&self) -> Vec<rmcp::model::Tool> {
        self.tool_router.list_all()
    }

    fn subscriptions(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.session
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ConformanceServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_resources_list_changed()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_completions()
            .enable_logging()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(
                CONFORMANCE_SERVER_NAME,
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Portcullis demo server, conformance catalog: the tools, resources and prompts \
                 of the MCP conformance suite's server scenarios.",
            )
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        *self
            .session
            .log_level
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = request.level;
        Ok(())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(resources::list())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&request.uri).map(Into::into)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        resources::ensure_exists(&request.uri)?;
        self.subscriptions().insert(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions().remove(&request.uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(prompts::list())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        prompts::get(&request).map(Into::into)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        prompts::complete(&request)
    }
}
