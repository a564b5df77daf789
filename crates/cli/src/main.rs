//! `portcullis`: the one binary. Parses the command line and hands off to `commands/`.
#![forbid(unsafe_code)]

mod commands;
mod logging;

use std::process::ExitCode;

use clap::Parser;

/// Exit code for bad config or usage (EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;
/// Exit code when the gateway cannot start (port taken, upstream unresolvable; EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: u8 = 69;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "A fail-closed governance gateway for MCP tool calls"
)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version exit 0; a usage error exits 64 (EX_USAGE), as documented.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    commands::run(cli.command)
}
