//! `demo-server`: the demo MCP server, over stdio or streamable HTTP.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;
use portcullis_demo_server::DemoOptions;

#[derive(Args)]
pub struct DemoArgs {
    /// Serve streamable HTTP at this address (path /mcp) instead of stdio.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Also expose fault-injection tools (crash, emit_garbage, big) for tests.
    #[arg(long)]
    test_tools: bool,
    /// Serve the conformance catalog (the tools, resources and prompts the official MCP
    /// conformance suite's server scenarios use) instead of the demo tools. Over HTTP it binds
    /// loopback addresses only.
    #[arg(long, conflicts_with = "test_tools")]
    conformance: bool,
}

pub fn run(a: DemoArgs) -> ExitCode {
    let _logs = crate::logging::init("warn");
    let opts = DemoOptions {
        test_tools: a.test_tools,
        conformance: a.conformance,
    };
    let rt = super::runtime();
    let result = rt.block_on(async move {
        match a.http {
            None => portcullis_demo_server::serve_stdio(opts).await,
            Some(addr) => {
                let (bound, server) = portcullis_demo_server::bind_http(addr, opts).await?;
                println!("demo server listening on http://{bound}/mcp");
                server.await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
