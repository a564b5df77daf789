//! `keys create | list | revoke`. A key is shown once, at creation; only its hash is stored.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use portcullis_identity::{GeneratedKey, KeyRecord};
use portcullis_store::{KeyStore, Lifecycle, StoreError};
use serde_json::json;

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

fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

/// Create and store a key; returns the record and the token (to show once).
pub async fn create(
    store: &dyn KeyStore,
    tenant: &str,
    agent: &str,
    role: &str,
    expires_in: Option<Duration>,
) -> Result<(KeyRecord, String), StoreError> {
    let k = GeneratedKey::generate();
    let created = now_ms();
    let record = KeyRecord {
        id: k.id.clone(),
        tenant: tenant.to_string(),
        agent: agent.to_string(),
        role: role.to_string(),
        hash_hex: hex::encode(k.hash),
        created_ms: created,
        expires_ms: expires_in.map(|d| created.saturating_add(d.as_millis() as i64)),
        revoked_ms: None,
        tenant_disabled_ms: None,
    };
    store.insert_key(record.clone()).await?;
    Ok((record, k.token))
}

/// The quickstart's key: created when the store has no key yet, else `None`.
pub async fn quickstart_key(store: &dyn KeyStore) -> Result<Option<String>, StoreError> {
    if !store.list_keys().await?.is_empty() {
        return Ok(None);
    }
    let (_, token) = create(store, "demo", "quickstart", "agent", None).await?;
    Ok(Some(token))
}

/// Rotate key `id`: the new key and its token, and when the old one stops working.
pub async fn rotate(
    store: &dyn KeyStore,
    id: &str,
    overlap: Duration,
) -> Result<(KeyRecord, String, i64), String> {
    let now = now_ms();
    let old = store
        .find_key(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no key with id '{id}'"))?;
    if old.revoked_ms.is_some_and(|r| r <= now) {
        return Err(format!("the key '{id}' is revoked"));
    }
    if old.expires_ms.is_some_and(|e| e <= now) {
        return Err(format!("the key '{id}' has expired"));
    }
    if old.revoked_ms.is_some() {
        return Err(format!("the key '{id}' is already being rotated"));
    }
    let lifetime = old
        .expires_ms
        .map(|e| Duration::from_millis(e.saturating_sub(old.created_ms).max(0) as u64));
    let (new, token) = create(store, &old.tenant, &old.agent, &old.role, lifetime)
        .await
        .map_err(|e| e.to_string())?;
    let until = now.saturating_add(overlap.as_millis() as i64);
    match store.revoke_key(id, until).await {
        Ok(true) => Ok((new, token, until)),
        Ok(false) => Err(format!(
            "the new key {} was made, but the key '{id}' could not be scheduled for revocation; revoke it yourself",
            new.id
        )),
        Err(e) => Err(format!(
            "the new key {} was made, but revoking '{id}' failed ({e}); revoke it yourself",
            new.id
        )),
    }
}

fn key_json(k: &KeyRecord, now: i64) -> serde_json::Value {
    let state = if k.revoked_ms.is_some_and(|r| r <= now) {
        "revoked"
    } else if k.expires_ms.is_some_and(|e| e <= now) {
        "expired"
    } else if k.revoked_ms.is_some() {
        "rotating"
    } else {
        "active"
    };
    json!({
        "id": k.id, "tenant": k.tenant, "agent": k.agent, "role": k.role,
        "createdMs": k.created_ms, "expiresMs": k.expires_ms, "revokedMs": k.revoked_ms, "state": state,
    })
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
                let result = create(s.as_ref(), &tenant, &agent, &role, expires_in).await;
                s.close().await;
                match result {
                    Ok((rec, token)) => {
                        if json {
                            let mut v = key_json(&rec, now_ms());
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
                            println!("{}", serde_json::Value::Array(keys.iter().map(|k| key_json(k, now)).collect()));
                        } else {
                            println!("{:<14} {:<16} {:<16} {:<12} STATE", "ID", "TENANT", "AGENT", "ROLE");
                            for k in &keys {
                                let v = key_json(k, now);
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
                            let mut v = key_json(&rec, now_ms());
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
