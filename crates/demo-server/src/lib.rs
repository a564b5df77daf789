//! The demo MCP server: a notes store plus tools of every class (read, write, destructive,
//! unannotated) and optional fault-injection tools. The quickstart and the tests run it as a
//! real child process (stdio) or as a streamable-HTTP server on loopback.
//!
//! With [`DemoOptions::conformance`] it serves the [`conformance`] catalog instead: what the
//! official MCP conformance suite's server scenarios exercise.
#![forbid(unsafe_code)]

pub mod conformance;
mod server;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use rmcp::ServiceExt as _;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};

use conformance::{ConformanceServer, ReconnectingSessionManager};

pub use server::{
    DemoServer, GARBAGE_LINE, MAX_BIG_BYTES, MAX_SLOW_MS, SERVER_NAME, STANDARD_TOOLS, TEST_TOOLS,
};

/// What a demo server instance serves.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoOptions {
    /// Also register the fault-injection tools (`crash`, `emit_garbage`, `big`).
    pub test_tools: bool,
    /// Serve the conformance catalog instead of the demo tools (over HTTP: loopback only).
    pub conformance: bool,
}

/// Origins a browser may send to the conformance catalog over HTTP: loopback pages only.
const LOOPBACK_ORIGINS: [&str; 3] = ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// Serve MCP over this process's stdin/stdout until the client closes stdin.
pub async fn serve_stdio(opts: DemoOptions) -> anyhow::Result<()> {
    if opts.conformance {
        let running = ConformanceServer::new(None)
            .serve(rmcp::transport::stdio())
            .await
            .context("starting the MCP session on stdio")?;
        running.waiting().await.context("the stdio session task")?;
    } else {
        let running = DemoServer::new(opts)
            .serve(rmcp::transport::stdio())
            .await
            .context("starting the MCP session on stdio")?;
        running.waiting().await.context("the stdio session task")?;
    }
    Ok(())
}

/// Bind a streamable-HTTP MCP server at `addr` (path `/mcp`).
///
/// Returns the bound address (useful with port 0) and the future that serves until it fails.
/// The server accepts only loopback `Host` values, as rmcp does by default. The conformance
/// catalog also refuses a non-loopback bind address and non-loopback `Origin` values.
pub async fn bind_http(
    addr: SocketAddr,
    opts: DemoOptions,
) -> anyhow::Result<(SocketAddr, impl Future<Output = anyhow::Result<()>>)> {
    if opts.conformance && !addr.ip().is_loopback() {
        anyhow::bail!("the conformance catalog is served on loopback addresses only, not {addr}");
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let app = if opts.conformance {
        // A fresh server per session: subscriptions and the log level are per session.
        let sessions = Arc::new(ReconnectingSessionManager::default());
        let for_tools = sessions.clone();
        let service = StreamableHttpService::new(
            move || Ok(ConformanceServer::new(Some(for_tools.clone()))),
            sessions,
            StreamableHttpServerConfig::default().with_allowed_origins(LOOPBACK_ORIGINS),
        );
        axum::Router::new().nest_service("/mcp", service)
    } else {
        // One DemoServer value backs every session, so all sessions share the notes.
        let shared = DemoServer::new(opts);
        let service = StreamableHttpService::new(
            move || Ok(shared.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        axum::Router::new().nest_service("/mcp", service)
    };
    // Replies go out as several small writes (headers, SSE events): without TCP_NODELAY, Nagle's
    // algorithm holds the later ones for the client's delayed ACK (~40 ms on Linux).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let serve = async move {
        axum::serve(listener, app)
            .await
            .context("serving streamable HTTP")
    };
    Ok((bound, serve))
}
