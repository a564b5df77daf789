//! The MCP handler: the demo tools and their shared state.

use std::{
    collections::BTreeMap,
    io::Write as _,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use rmcp::{
    ErrorData, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig},
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::DemoOptions;

/// Name announced in the `initialize` result (`serverInfo.name`).
pub const SERVER_NAME: &str = "portcullis-demo";

/// Longest sleep the `slow` tool accepts, in milliseconds.
pub const MAX_SLOW_MS: u64 = 60_000;

/// Largest text the `big` tool returns, in bytes (64 MiB).
pub const MAX_BIG_BYTES: u64 = 64 * 1024 * 1024;

/// The line `emit_garbage` writes to the process's stdout.
pub const GARBAGE_LINE: &str = "this is not json\n";

/// Names of the tools every instance serves.
pub const STANDARD_TOOLS: [&str; 7] = [
    "notes_read",
    "notes_write",
    "notes_delete",
    "echo",
    "slow",
    "fail",
    "unannotated",
];

/// Names of the fault-injection tools served only with
/// [`DemoOptions::test_tools`].
pub const TEST_TOOLS: [&str; 3] = ["crash", "emit_garbage", "big"];

/// Arguments of `notes_read`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NotesReadParams {
    /// Key of the note to read; omit it to list all keys.
    #[serde(default)]
    pub key: Option<String>,
}

/// Arguments of `notes_write`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NotesWriteParams {
    /// Key of the note.
    pub key: String,
    /// Text to store under the key (replaces any previous text).
    pub text: String,
}

/// Arguments of `notes_delete`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NotesDeleteParams {
    /// Key of the note to delete.
    pub key: String,
}

/// Arguments of `echo`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EchoParams {
    /// Text to return unchanged.
    pub text: String,
}

/// Arguments of `slow`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SlowParams {
    /// How long to sleep, in milliseconds (0 to 60000).
    #[schemars(range(min = 0, max = 60000))]
    pub ms: u64,
}

/// Arguments of `big`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BigParams {
    /// Length of the returned text, in bytes (at most 67108864, i.e. 64 MiB).
    #[schemars(range(min = 0, max = 67108864))]
    pub bytes: u64,
}

/// The demo MCP server.
///
/// Cloning is cheap and every clone shares the same notes, so one value can
/// back many sessions (the HTTP transport clones it for each session).
#[derive(Debug, Clone)]
pub struct DemoServer {
    notes: Arc<Mutex<BTreeMap<String, String>>>,
    tool_router: ToolRouter<Self>,
}

impl DemoServer {
    /// A server with an empty notes map; the fault-injection tools are
    /// registered only when `opts.test_tools` is set.
    pub fn new(opts: DemoOptions) -> Self {
        let mut tool_router = Self::standard_tool_router();
        if opts.test_tools {
            tool_router.merge(Self::test_tool_router());
        }
        Self {
            notes: Arc::default(),
            tool_router,
        }
    }

    /// The tool definitions this instance serves, in listing order.
    pub fn tools(&self) -> Vec<rmcp::model::Tool> {
        self.tool_router.list_all()
    }

    fn notes(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.notes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[tool_router(router = standard_tool_router)]
impl DemoServer {
    #[tool(
        title = "Read notes",
        description = "Return the note stored under `key`, or a JSON array of all keys when `key` is omitted.",
        annotations(read_only_hint = true)
    )]
    fn notes_read(&self, Parameters(p): Parameters<NotesReadParams>) -> CallToolResult {
        let notes = self.notes();
        match p.key {
            Some(key) => match notes.get(&key) {
                Some(text) => CallToolResult::success(vec![ContentBlock::text(text.clone())]),
                None => CallToolResult::error(vec![ContentBlock::text(format!(
                    "no note named {key:?}"
                ))]),
            },
            None => {
                let keys: Vec<&String> = notes.keys().collect();
                let json = serde_json::to_string(&keys).unwrap_or_else(|_| "[]".to_owned());
                CallToolResult::success(vec![ContentBlock::text(json)])
            }
        }
    }

    #[tool(
        title = "Write a note",
        description = "Store `text` under `key`, replacing any previous note with that key.",
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    fn notes_write(&self, Parameters(p): Parameters<NotesWriteParams>) -> String {
        let reply = format!("stored {:?}", p.key);
        self.notes().insert(p.key, p.text);
        reply
    }

    #[tool(
        title = "Delete a note",
        description = "Delete the note stored under `key` (deleting a missing note is not an error).",
        annotations(read_only_hint = false, destructive_hint = true)
    )]
    fn notes_delete(&self, Parameters(p): Parameters<NotesDeleteParams>) -> String {
        match self.notes().remove(&p.key) {
            Some(_) => format!("deleted {:?}", p.key),
            None => format!("no note named {:?}", p.key),
        }
    }

    #[tool(
        title = "Echo",
        description = "Return `text` unchanged.",
        annotations(read_only_hint = true)
    )]
    fn echo(&self, Parameters(p): Parameters<EchoParams>) -> String {
        p.text
    }

    #[tool(
        title = "Sleep",
        description = "Sleep for `ms` milliseconds (0 to 60000), then reply \"slept N ms\".",
        annotations(read_only_hint = true)
    )]
    async fn slow(&self, Parameters(p): Parameters<SlowParams>) -> Result<String, ErrorData> {
        if p.ms > MAX_SLOW_MS {
            return Err(ErrorData::invalid_params(
                format!("ms must be at most {MAX_SLOW_MS}, got {}", p.ms),
                None,
            ));
        }
        tokio::time::sleep(Duration::from_millis(p.ms)).await;
        Ok(format!("slept {} ms", p.ms))
    }

    #[tool(
        title = "Fail",
        description = "Always return a tool error result (isError = true, text \"demo failure\").",
        annotations(read_only_hint = true)
    )]
    fn fail(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text("demo failure")])
    }

    #[tool(
        title = "Unannotated",
        description = "Reply \"ok\". This tool deliberately carries no annotations."
    )]
    fn unannotated(&self) -> String {
        "ok".to_owned()
    }
}

#[tool_router(router = test_tool_router)]
impl DemoServer {
    #[tool(
        title = "Crash",
        description = "Fault injection: terminate the whole server process at once with exit code 3.",
        annotations(read_only_hint = true)
    )]
    fn crash(&self) -> String {
        tracing::warn!("crash tool called: exiting with code 3");
        std::process::exit(3)
    }

    #[tool(
        title = "Emit garbage",
        description = "Fault injection: write a line of non-JSON text straight to the process's stdout, then reply \"ok\".",
        annotations(read_only_hint = true)
    )]
    fn emit_garbage(&self) -> Result<String, ErrorData> {
        tracing::warn!("emit_garbage tool called: writing non-JSON to stdout");
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(GARBAGE_LINE.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| ErrorData::internal_error(format!("writing to stdout: {e}"), None))?;
        Ok("ok".to_owned())
    }

    #[tool(
        title = "Big reply",
        description = "Fault injection: reply with a text of `bytes` 'x' characters (at most 64 MiB).",
        annotations(read_only_hint = true)
    )]
    fn big(&self, Parameters(p): Parameters<BigParams>) -> Result<String, ErrorData> {
        if p.bytes > MAX_BIG_BYTES {
            return Err(ErrorData::invalid_params(
                format!("bytes must be at most {MAX_BIG_BYTES}, got {}", p.bytes),
                None,
            ));
        }
        // Cannot truncate: p.bytes <= MAX_BIG_BYTES, which fits any usize >= 32 bits.
        let len = usize::try_from(p.bytes)
            .map_err(|_| ErrorData::invalid_params("bytes too large for this platform", None))?;
        Ok("x".repeat(len))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                SERVER_NAME,
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Portcullis demo server: a notes store plus echo/slow/fail tools for trying the gateway.",
            )
    }
}
