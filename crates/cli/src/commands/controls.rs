//! `controls list | kill | revive`: the kill switches, set in the store of a data directory. A
//! running gateway on that store reads a change within a second, refuses what the switch
//! covers with `killed`, and records the change in its ledger.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use portcullis_store::{ControlStore, KillSwitch, Lifecycle, SwitchScope};
use serde_json::json;

use super::{StoreArgs, runtime};
use crate::EXIT_CONFIG;

#[derive(Subcommand)]
pub enum ControlsCommand {
    /// List the kill switches (engaged and lifted).
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Engage a kill switch: calls it covers are refused with `killed`.
    Kill(SetArgs),
    /// Lift a kill switch.
    Revive(SetArgs),
}

/// Which switch, why, and where the store is.
#[derive(Args, Clone)]
pub struct SetArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Why, recorded in the ledger (and, for kill, shown to refused callers).
    #[arg(long, default_value = "no reason given")]
    reason: String,
}

/// Exactly one switch.
#[derive(Args, Clone)]
#[group(required = true, multiple = false)]
pub struct ScopeArgs {
    /// Every governed call.
    #[arg(long)]
    global: bool,
    /// Every tool call of one class: read, write or destructive.
    #[arg(long, value_name = "CLASS")]
    class: Option<String>,
    /// Calls of one namespaced tool (e.g. demo.notes_write).
    #[arg(long, value_name = "TOOL")]
    tool: Option<String>,
    /// Every call to one upstream.
    #[arg(long, value_name = "UPSTREAM")]
    upstream: Option<String>,
    /// Every call of one tenant.
    #[arg(long, value_name = "TENANT")]
    tenant: Option<String>,
    /// Every call of one agent, as TENANT/AGENT.
    #[arg(long, value_name = "TENANT/AGENT")]
    agent: Option<String>,
}

fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

impl ScopeArgs {
    /// The scope, or what is wrong with the value given.
    fn scope(&self) -> Result<SwitchScope, String> {
        use portcullis_protocol::mcp;
        type Check = (fn(&str) -> bool, fn(String) -> SwitchScope, &'static str);
        let named: [(&Option<String>, &str, Check); 5] = [
            (
                &self.class,
                "--class",
                (
                    |c| matches!(c, "read" | "write" | "destructive"),
                    SwitchScope::Class,
                    "read, write or destructive",
                ),
            ),
            (
                &self.tool,
                "--tool",
                (
                    mcp::is_valid_tool_name,
                    SwitchScope::Tool,
                    "a tool name (1-128 of A-Z a-z 0-9 _ - .)",
                ),
            ),
            (
                &self.upstream,
                "--upstream",
                (
                    mcp::is_valid_upstream_name,
                    SwitchScope::Upstream,
                    "an upstream name (1-64 of a-z 0-9 _ -)",
                ),
            ),
            (
                &self.tenant,
                "--tenant",
                (
                    valid_label,
                    SwitchScope::Tenant,
                    "a tenant (1-128 of A-Z a-z 0-9 _ - . @)",
                ),
            ),
            (
                &self.agent,
                "--agent",
                (
                    |a| {
                        a.split_once('/')
                            .is_some_and(|(t, n)| valid_label(t) && valid_label(n))
                    },
                    SwitchScope::Agent,
                    "TENANT/AGENT",
                ),
            ),
        ];
        if self.global {
            return Ok(SwitchScope::Global);
        }
        for (value, flag, (valid, make, what)) in named {
            if let Some(v) = value {
                return if valid(v) {
                    Ok(make(v.clone()))
                } else {
                    Err(format!("{flag} must be {what}, not '{v}'"))
                };
            }
        }
        Err("name one switch: --global, --class, --tool, --upstream, --tenant or --agent".into())
    }
}

/// Who set a switch from this command line.
fn actor() -> String {
    match super::env_lookup("USER") {
        Some(u) if valid_label(&u) => format!("cli:{u}"),
        _ => "cli".into(),
    }
}

fn switch_json(s: &KillSwitch) -> serde_json::Value {
    json!({
        "scope": s.scope.key(), "engaged": s.engaged, "reason": s.reason,
        "actor": s.actor, "updatedMs": s.updated_ms,
    })
}

pub fn run(cmd: ControlsCommand) -> ExitCode {
    let _logs = crate::logging::init("warn");
    runtime().block_on(async move {
        match cmd {
            ControlsCommand::List { store, json } => {
                let (_, s) = match store.open() {
                    Ok(x) => x,
                    Err(c) => return c,
                };
                let switches = s.switches().await;
                s.close().await;
                match switches {
                    Ok(all) if json => {
                        println!(
                            "{}",
                            serde_json::Value::Array(all.iter().map(switch_json).collect())
                        );
                        ExitCode::SUCCESS
                    }
                    Ok(all) => {
                        println!("{:<32} {:<8} {:<20} REASON", "SWITCH", "STATE", "BY");
                        for sw in &all {
                            let state = if sw.engaged { "engaged" } else { "lifted" };
                            println!(
                                "{:<32} {:<8} {:<20} {}",
                                sw.scope.key(),
                                state,
                                sw.actor,
                                sw.reason.escape_default()
                            );
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            ControlsCommand::Kill(a) => set(a, true).await,
            ControlsCommand::Revive(a) => set(a, false).await,
        }
    })
}

async fn set(args: SetArgs, engaged: bool) -> ExitCode {
    let SetArgs {
        store,
        scope,
        reason,
    } = args;
    let scope = match scope.scope() {
        Ok(s) => s,
        Err(why) => {
            eprintln!("error: {why}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if reason.is_empty() || reason.len() > 1024 || reason.chars().any(char::is_control) {
        eprintln!("error: --reason must be 1 to 1024 characters without control characters");
        return ExitCode::from(EXIT_CONFIG);
    }
    let (_, s) = match store.open() {
        Ok(x) => x,
        Err(c) => return c,
    };
    let result = async {
        let current = s.switches().await?;
        let is_engaged = current.iter().any(|sw| sw.scope == scope && sw.engaged);
        if !engaged && !is_engaged {
            return Ok(false);
        }
        s.set_switch(KillSwitch {
            scope: scope.clone(),
            engaged,
            reason,
            actor: actor(),
            updated_ms: portcullis_clock::Clock::now_ms(&portcullis_clock::SystemClock),
        })
        .await?;
        Ok::<bool, portcullis_store::StoreError>(true)
    }
    .await;
    s.close().await;
    let key = scope.key();
    match result {
        Ok(true) if engaged => {
            println!(
                "kill switch '{key}' engaged; a gateway on this store refuses what it covers within a second and records the change"
            );
            ExitCode::SUCCESS
        }
        Ok(true) => {
            println!("kill switch '{key}' lifted");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("error: the kill switch '{key}' is not engaged");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
