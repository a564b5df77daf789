//! `actors keygen`: a new key for signing actor requests, printed once, with the
//! `[[identity.actors]]` entry that makes the gateway trust it. `actors rotate`: the same for
//! the successor of a key of the config, with the two entries that let both be valid for the
//! overlap (the new key from now, the old one until the overlap ends); the operator puts them
//! in the config and restarts the gateway.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use portcullis_identity::actor;
use rand::RngCore;
use serde_json::json;

use crate::EXIT_CONFIG;

#[derive(Clone, Copy, ValueEnum)]
pub enum Algorithm {
    Ed25519,
    HmacSha256,
}

#[derive(Subcommand)]
pub enum ActorsCommand {
    /// Make a new signing key: the private part is printed once; the config entry names only
    /// the public key (Ed25519) or where the shared secret will be (HMAC).
    Keygen {
        /// Key id, 1-64 of A-Z a-z 0-9 _ - . (e.g. report-bot-2026-12).
        #[arg(long)]
        kid: String,
        #[arg(long, value_enum, default_value = "ed25519")]
        algorithm: Algorithm,
        /// The tenant and role requests signed with the key act with.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        role: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make the successor of the key KID of the config: a new key (printed once) and the two
    /// entries that keep both valid for the overlap.
    Rotate {
        /// The config whose [[identity.actors]] has the key.
        #[arg(long)]
        config: std::path::PathBuf,
        /// The key to replace.
        #[arg(long)]
        kid: String,
        /// The new key's id.
        #[arg(long)]
        new_kid: String,
        /// How long the old key stays valid, e.g. "24h".
        #[arg(long, value_parser = humantime::parse_duration)]
        overlap: std::time::Duration,
        #[arg(long, value_enum, default_value = "ed25519")]
        algorithm: Algorithm,
        #[arg(long)]
        json: bool,
    },
}

fn label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A new key: its private part (base64url) and its config entry, `extra` lines added.
fn new_key(
    kid: &str,
    algorithm: Algorithm,
    tenant: &str,
    role: &str,
    extra: &str,
) -> Option<(&'static str, String, String)> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let private = actor::b64(&bytes);
    let (alg, material) = match algorithm {
        Algorithm::Ed25519 => {
            let public = actor::ed25519_public(&bytes)?;
            (
                "ed25519",
                format!("public_key = \"{}\"", actor::b64(&public)),
            )
        }
        Algorithm::HmacSha256 => {
            let var = format!(
                "PORTCULLIS_ACTOR_SECRET_{}",
                kid.to_ascii_uppercase().replace(['-', '.'], "_")
            );
            ("hmac-sha256", format!("secret = \"env:{var}\""))
        }
    };
    let entry = format!(
        "[[identity.actors]]\nkid = \"{kid}\"\nalgorithm = \"{alg}\"\n{material}\ntenant = \"{tenant}\"\nrole = \"{role}\"\n{extra}"
    );
    Some((alg, private, entry))
}

fn rfc3339(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn print(json: bool, kid: &str, alg: &str, private: &str, entries: &str, hmac: bool) {
    if json {
        println!(
            "{}",
            json!({"kid": kid, "algorithm": alg, "private": private, "config": entries})
        );
        return;
    }
    println!("# The signing key ({alg}, base64url): give it to the agent; it is not shown again.");
    println!("{private}");
    println!();
    println!("# The gateway's config:");
    print!("{entries}");
    if hmac {
        println!("# ...and the gateway's environment must hold the same secret in that variable.");
    }
}

pub fn run(cmd: ActorsCommand) -> ExitCode {
    match cmd {
        ActorsCommand::Keygen {
            kid,
            algorithm,
            tenant,
            role,
            json,
        } => keygen(&kid, algorithm, &tenant, &role, json),
        ActorsCommand::Rotate {
            config,
            kid,
            new_kid,
            overlap,
            algorithm,
            json,
        } => rotate(&config, &kid, &new_kid, overlap, algorithm, json),
    }
}

fn keygen(kid: &str, algorithm: Algorithm, tenant: &str, role: &str, json: bool) -> ExitCode {
    for (flag, v) in [("--kid", kid), ("--tenant", tenant), ("--role", role)] {
        if !label_ok(v) {
            eprintln!("error: {flag} must be 1-64 characters of A-Z a-z 0-9 _ - ., not '{v}'");
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    let Some((alg, private, entry)) = new_key(kid, algorithm, tenant, role, "") else {
        eprintln!("error: the key could not be made");
        return ExitCode::FAILURE;
    };
    print(
        json,
        kid,
        alg,
        &private,
        &entry,
        matches!(algorithm, Algorithm::HmacSha256),
    );
    ExitCode::SUCCESS
}

fn rotate(
    config: &std::path::Path,
    kid: &str,
    new_kid: &str,
    overlap: std::time::Duration,
    algorithm: Algorithm,
    json: bool,
) -> ExitCode {
    if !label_ok(new_kid) {
        eprintln!("error: --new-kid must be 1-64 characters of A-Z a-z 0-9 _ - ., not '{new_kid}'");
        return ExitCode::from(EXIT_CONFIG);
    }
    let cfg = match super::load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let keys = &cfg.identity.actors;
    let Some(old) = keys.iter().find(|k| k.kid == kid) else {
        eprintln!("error: the config has no [[identity.actors]] key '{kid}'");
        return ExitCode::from(EXIT_CONFIG);
    };
    if keys.iter().any(|k| k.kid == new_kid) {
        eprintln!("error: the config has a key '{new_kid}' already");
        return ExitCode::from(EXIT_CONFIG);
    }
    let now = portcullis_clock::Clock::now_ms(&portcullis_clock::SystemClock);
    let until = now.saturating_add(overlap.as_millis() as i64);
    let actors = format!(
        "actors = [{}]\n",
        old.actors
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let extra = format!("{actors}not_before = \"{}\"\n", rfc3339(now));
    let Some((alg, private, entry)) = new_key(new_kid, algorithm, &old.tenant, &old.role, &extra)
    else {
        eprintln!("error: the key could not be made");
        return ExitCode::FAILURE;
    };
    let entries = format!(
        "{entry}\n# In the entry of '{kid}':\nnot_after = \"{}\"\n",
        rfc3339(until)
    );
    print(
        json,
        new_kid,
        alg,
        &private,
        &entries,
        matches!(algorithm, Algorithm::HmacSha256),
    );
    ExitCode::SUCCESS
}
