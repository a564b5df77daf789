//! `keys create | list | revoke`. A key is shown once, at creation; only its hash is stored.

use portcullis_identity::valid_label;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use portcullis_gateway::admin::keys::{create_key, key_view, rotate_key};
use portcullis_identity::KeyRecord;
use portcullis_store::{KeyStore, Lifecycle, StoreError};

use super::{StoreArgs, runtime};
use crate::EXIT_CONFIG;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// Tenant the key acts for (A-Z a-z 0-9 _ - . @, up to 128).
        #[arg(long)]
        tenant: String,
        /// Agent name the key identifies, recorded in the ledger.
        #[arg(long)]
        agent: String,
        /// Role from the config's [roles.NAME] tables; checked against them with --config.
        #[arg(long)]
        role: String,
        /// Lifetime, e.g. "30d", "12h".
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id; takes effect at once.
    Revoke {
        #[command(flatten)]
        store: StoreArgs,
        id: String,
    },
    /// Replace a key: a new one for the same tenant, agent and role (printed once, with the
    /// same lifetime), while the old one stays valid for the overlap and is revoked after it.
    Rotate {
        #[command(flatten)]
        store: StoreArgs,
        id: String,
        /// How long the old key stays valid, e.g. "24h" ("0s": revoked at once).
        #[arg(long, value_parser = humantime::parse_duration)]
        overlap: Duration,
        #[arg(long)]
        json: bool,
    },
}

fn now_ms() -> i64 {
    portcullis_clock::Clock::now_ms(&portcullis_clock::SystemClock)
}

/// The quickstart's key: created when the store has no key yet, else `None`.
pub async fn quickstart_key(store: &dyn KeyStore) -> Result<Option<String>, StoreError> {
    if !store.list_keys().await?.is_empty() {
        return Ok(None);
    }
    let (_, token) = create_key(store, "demo", "quickstart", "agent", None, now_ms()).await?;
    Ok(Some(token))
}

/// Rotate key `id` (see [`rotate_key`]).
async fn rotate(
    store: &dyn KeyStore,
    id: &str,
    overlap: Duration,
) -> Result<(KeyRecord, String, i64), String> {
    let old = store
        .find_key(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no key with id '{id}'"))?;
    rotate_key(store, &old, overlap, now_ms()).await
}

pub fn run(cmd: KeysCommand) -> ExitCode {
    let _logs = crate::logging::init("warn");
    let rt = runtime();
    rt.block_on(async move {
        match cmd {
            KeysCommand::Create { store, tenant, agent, role, expires_in, json } => {
                for (name, v) in [("--tenant", &tenant), ("--agent", &agent), ("--role", &role)] {
                    if !valid_label(v) {
                        eprintln!("error: {name} must be 1-128 characters of A-Z a-z 0-9 _ - . @");
                        return ExitCode::from(EXIT_CONFIG);
                    }
                }
                let (config, s) = match store.open() {
                    Ok(x) => x,
                    Err(c) => return c,
                };
                if let Some(c) = &config
                    && !c.policy.roles.contains_key(&role)
                {
                    let mut known: Vec<&String> = c.policy.roles.keys().collect();
                    known.sort();
                    eprintln!("error: role '{role}' is not defined in the config (roles: {known:?})");
                    return ExitCode::from(EXIT_CONFIG);
                }
                if config.is_none() {
                    eprintln!("warning: without --config, role '{role}' was not checked against the roles the gateway knows; a key of an undefined role is refused on every call (policy_error)");
                }
                let result = create_key(s.as_ref(), &tenant, &agent, &role, expires_in, now_ms()).await;
                s.close().await;
                match result {
                    Ok((rec, token)) => {
                        if json {
                            let mut v = key_view(&rec, now_ms());
                            v["key"] = token.into();
                            println!("{v}");
                        } else {
                            println!("key id:  {}\nkey:     {token}\n\nThis key is shown only once; only its hash is stored.", rec.id);
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            KeysCommand::List { store, json } => {
                let (_, s) = match store.open() {
                    Ok(x) => x,
                    Err(c) => return c,
                };
                let keys = s.list_keys().await;
                s.close().await;
                match keys {
                    Ok(keys) => {
                        let now = now_ms();
                        if json {
                            println!("{}", serde_json::Value::Array(keys.iter().map(|k| key_view(k, now)).collect()));
                        } else {
                            println!("{:<14} {:<16} {:<16} {:<12} STATE", "ID", "TENANT", "AGENT", "ROLE");
                            for k in &keys {
                                let v = key_view(k, now);
                                println!("{:<14} {:<16} {:<16} {:<12} {}", k.id, k.tenant, k.agent, k.role, v["state"].as_str().unwrap_or(""));
                            }
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            KeysCommand::Rotate { store, id, overlap, json } => {
                let (_, s) = match store.open() {
                    Ok(x) => x,
                    Err(c) => return c,
                };
                let r = rotate(s.as_ref(), &id, overlap).await;
                s.close().await;
                match r {
                    Ok((rec, token, until)) => {
                        if json {
                            let mut v = key_view(&rec, now_ms());
                            v["key"] = token.into();
                            v["replaces"] = id.into();
                            v["oldValidUntilMs"] = until.into();
                            println!("{v}");
                        } else {
                            println!("key id:  {}\nkey:     {token}\n\nThis key is shown only once; only its hash is stored.\nThe key {id} stays valid for {} more.", rec.id, humantime::format_duration(overlap));
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            KeysCommand::Revoke { store, id } => {
                let (_, s) = match store.open() {
                    Ok(x) => x,
                    Err(c) => return c,
                };
                let r = s.revoke_key(&id, now_ms()).await;
                s.close().await;
                match r {
                    Ok(true) => {
                        println!("revoked {id}");
                        ExitCode::SUCCESS
                    }
                    Ok(false) => {
                        eprintln!("error: no key with id '{id}'");
                        ExitCode::FAILURE
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
        }
    })
}
