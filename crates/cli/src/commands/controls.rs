//! `controls list | kill | revive | degrade | restore`: the kill switches and the read-only
//! mode, set in the store of a data directory. A running gateway on that store reads a change
//! within a second, refuses what a switch covers with `killed` (live writes in read-only mode
//! with `read_only_mode`), and records the change in its ledger.

use portcullis_identity::valid_label;
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
    /// Put the gateway, or one tenant, in read-only mode: live write and destructive tool
    /// calls are refused with `read_only_mode`; reads and dry-run previews go on.
    Degrade(ModeArgs),
    /// Lift the read-only mode set by `degrade` (the gateway's, or one tenant's).
    Restore(ModeArgs),
}

/// The read-only mode of the gateway or one tenant, why, and where the store is.
#[derive(Args, Clone)]
pub struct ModeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The mode: read-only (the only one there is; required so the command says what it does).
    #[arg(long, required = true)]
    read_only: bool,
    /// One tenant only (else the whole gateway).
    #[arg(long, value_name = "TENANT")]
    tenant: Option<String>,
    /// Why, recorded in the ledger (and, for degrade, shown to refused callers).
    #[arg(long, default_value = "no reason given")]
    reason: String,
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
            ControlsCommand::Degrade(a) => set_mode(a, true).await,
            ControlsCommand::Restore(a) => set_mode(a, false).await,
        }
    })
}

async fn set(args: SetArgs, engaged: bool) -> ExitCode {
    let SetArgs {
        store,
        scope,
        reason,
    } = args;
    match scope.scope() {
        Ok(scope) => apply(store, scope, reason, engaged).await,
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

async fn set_mode(args: ModeArgs, engaged: bool) -> ExitCode {
    let ModeArgs {
        store,
        read_only: _,
        tenant,
        reason,
    } = args;
    if let Some(t) = &tenant
        && !valid_label(t)
    {
        eprintln!("error: --tenant must be a tenant (1-128 of A-Z a-z 0-9 _ - . @), not '{t}'");
        return ExitCode::from(EXIT_CONFIG);
    }
    apply(store, SwitchScope::ReadOnly(tenant), reason, engaged).await
}

/// Engage or lift the switch `scope` in the store, saying what happened.
async fn apply(store: StoreArgs, scope: SwitchScope, reason: String, engaged: bool) -> ExitCode {
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
    let what = match scope {
        SwitchScope::ReadOnly(_) => "read-only mode",
        _ => "kill switch",
    };
    match result {
        Ok(true) if engaged => {
            println!(
                "{what} '{key}' engaged; a gateway on this store refuses what it covers within a second and records the change"
            );
            ExitCode::SUCCESS
        }
        Ok(true) => {
            println!("{what} '{key}' lifted");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("error: the {what} '{key}' is not engaged");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
