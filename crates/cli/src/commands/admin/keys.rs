//! `admin keys create | list | revoke`: admin keys on the data directory. The secret is shown
//! once; only its hash is stored. These work without a running gateway, for the first admin
//! and for break-glass; a running gateway sees a new or revoked admin key on its next request.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use portcullis_identity::{AdminKeyRecord, AdminRole, GeneratedKey, valid_label};
use portcullis_store::{AdminStore, Lifecycle};
use serde_json::json;

use crate::EXIT_CONFIG;
use crate::commands::{StoreArgs, runtime};

#[derive(Subcommand)]
pub enum AdminKeysCommand {
    /// Create an admin key and print it once.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// auditor (reads the ledger), approver (also decides approvals) or admin (everything).
        #[arg(long)]
        role: String,
        /// Who holds it (recorded with each act), 1-128 characters of A-Z a-z 0-9 _ - . @
        #[arg(long)]
        name: String,
        /// Limit an auditor key to one tenant's records.
        #[arg(long)]
        tenant: Option<String>,
        /// Lifetime, e.g. "90d".
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
        #[arg(long)]
        json: bool,
    },
    /// List admin keys (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an admin key by id; takes effect at once.
    Revoke {
        #[command(flatten)]
        store: StoreArgs,
        id: String,
    },
}

fn now_ms() -> i64 {
    portcullis_clock::Clock::now_ms(&portcullis_clock::SystemClock)
}

fn view(k: &AdminKeyRecord, now: i64) -> serde_json::Value {
    let state = if k.revoked_ms.is_some_and(|r| r <= now) {
        "revoked"
    } else if k.expires_ms.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    };
    json!({
        "id": k.id, "name": k.name, "role": k.role.as_str(), "tenant": k.tenant,
        "createdMs": k.created_ms, "expiresMs": k.expires_ms, "revokedMs": k.revoked_ms, "state": state,
    })
}

pub fn run(cmd: AdminKeysCommand) -> ExitCode {
    let _logs = crate::logging::init("warn");
    runtime().block_on(async move {
        match cmd {
            AdminKeysCommand::Create { store, role, name, tenant, expires_in, json } => {
                let Some(role) = AdminRole::parse(&role) else {
                    eprintln!("error: --role must be auditor, approver or admin");
                    return ExitCode::from(EXIT_CONFIG);
                };
                if !valid_label(&name) || tenant.as_deref().is_some_and(|t| !valid_label(t)) {
                    eprintln!("error: --name and --tenant must be 1-128 characters of A-Z a-z 0-9 _ - . @");
                    return ExitCode::from(EXIT_CONFIG);
                }
                if tenant.is_some() && role != AdminRole::Auditor {
                    eprintln!("error: only an auditor key can be limited to one tenant (--tenant)");
                    return ExitCode::from(EXIT_CONFIG);
                }
                let (_, s) = match store.open() {
                    Ok(x) => x,
                    Err(c) => return c,
                };
                let k = GeneratedKey::admin();
                let now = now_ms();
                let record = AdminKeyRecord {
                    id: k.id.clone(),
                    name,
                    role,
                    tenant,
                    hash_hex: hex::encode(k.hash),
                    created_ms: now,
                    expires_ms: expires_in.map(|d| now.saturating_add(d.as_millis() as i64)),
                    revoked_ms: None,
                };
                let result = s.insert_admin_key(record.clone()).await;
                s.close().await;
                match result {
                    Ok(()) if json => {
                        let mut v = view(&record, now);
                        v["key"] = k.token.into();
                        println!("{v}");
                        ExitCode::SUCCESS
                    }
                    Ok(()) => {
                        println!("admin key id:  {}\nrole:          {}\nadmin key:     {}\n\nThis key is shown only once; only its hash is stored.\nUse it as PORTCULLIS_ADMIN_KEY for 'portcullis admin ... --admin-url', or as 'Authorization: Bearer <key>' on the admin API.", record.id, record.role.as_str(), k.token);
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::from(crate::EXIT_UNAVAILABLE)
                    }
                }
            }
            AdminKeysCommand::List { store, json } => {
                let (_, s) = match store.open() {
                    Ok(x) => x,
                    Err(c) => return c,
                };
                let result = s.list_admin_keys().await;
                s.close().await;
                match result {
                    Ok(keys) => {
                        let now = now_ms();
                        if json {
                            println!("{}", json!(keys.iter().map(|k| view(k, now)).collect::<Vec<_>>()));
                        } else {
                            for k in &keys {
                                let v = view(k, now);
                                println!("{}  {:<8}  {:<10}  {}", k.id, k.role.as_str(), v["state"].as_str().unwrap_or("?"), k.name);
                            }
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::from(crate::EXIT_UNAVAILABLE)
                    }
                }
            }
            AdminKeysCommand::Revoke { store, id } => {
                let (_, s) = match store.open() {
                    Ok(x) => x,
                    Err(c) => return c,
                };
                let result = s.revoke_admin_key(&id, now_ms()).await;
                s.close().await;
                match result {
                    Ok(true) => {
                        println!("revoked admin key {id}");
                        ExitCode::SUCCESS
                    }
                    Ok(false) => {
                        eprintln!("error: no admin key with id '{id}'");
                        ExitCode::from(EXIT_CONFIG)
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::from(crate::EXIT_UNAVAILABLE)
                    }
                }
            }
        }
    })
}
