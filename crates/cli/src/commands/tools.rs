//! `tools list`: start the configured upstreams, build the catalog and print it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use portcullis_gateway::server::{load_catalog, start_upstreams};
use serde_json::json;

use super::{env_lookup, load_config, runtime};
use crate::EXIT_UNAVAILABLE;

#[derive(Subcommand)]
pub enum ToolsCommand {
    /// The federated catalog: namespaced names, classes, pins.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ToolsCommand) -> ExitCode {
    let _logs = crate::logging::init("warn");
    let ToolsCommand::List { config, json } = cmd;
    let config = match load_config(&config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let self_exe = std::env::current_exe().unwrap_or_default();
    runtime().block_on(async move {
        let ups = match start_upstreams(&config, &self_exe, &env_lookup) {
            Ok(u) => u,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_UNAVAILABLE);
            }
        };
        let wait = config.server.startup_wait;
        futures::future::join_all(ups.iter().map(|u| u.wait_ready(wait))).await;
        let loaded = load_catalog(&ups, &config).await;
        futures::future::join_all(ups.iter().map(|u| u.shutdown())).await;
        let (catalog, missing) = match loaded {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_UNAVAILABLE);
            }
        };
        if json {
            let tools: Vec<_> = catalog
                .entries()
                .map(|e| json!({"name": e.name, "upstream": e.upstream, "class": e.class.as_str(), "pin": e.pin}))
                .collect();
            println!("{}", json!({"tools": tools, "catalogHash": catalog.hash(), "missingUpstreams": missing}));
        } else {
            println!("{:<40} {:<12} PIN", "TOOL", "CLASS");
            for e in catalog.entries() {
                println!("{:<40} {:<12} {}", e.name, e.class.as_str(), &e.pin[..16]);
            }
            println!("\n{} tool(s); catalog hash {}", catalog.len(), catalog.hash());
            for m in &missing {
                eprintln!("warning: upstream '{m}' did not answer; its tools are missing");
            }
        }
        if missing.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_UNAVAILABLE) }
    })
}
