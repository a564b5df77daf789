//! `actors keygen`: a new key for signing actor requests, printed once, with the
//! `[[identity.actors]]` entry that makes the gateway trust it. Rotation: add the new key's
//! entry with `not_before`, give the old one a `not_after`, reload; both are valid in between.

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
}

fn label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

pub fn run(cmd: ActorsCommand) -> ExitCode {
    let ActorsCommand::Keygen {
        kid,
        algorithm,
        tenant,
        role,
        json,
    } = cmd;
    for (flag, v) in [("--kid", &kid), ("--tenant", &tenant), ("--role", &role)] {
        if !label_ok(v) {
            eprintln!("error: {flag} must be 1-64 characters of A-Z a-z 0-9 _ - ., not '{v}'");
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let private = actor::b64(&bytes);
    let (alg, material) = match algorithm {
        Algorithm::Ed25519 => {
            let Some(public) = actor::ed25519_public(&bytes) else {
                eprintln!("error: the key could not be made");
                return ExitCode::FAILURE;
            };
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
        "[[identity.actors]]\nkid = \"{kid}\"\nalgorithm = \"{alg}\"\n{material}\ntenant = \"{tenant}\"\nrole = \"{role}\"\n"
    );
    if json {
        println!(
            "{}",
            json!({"kid": kid, "algorithm": alg, "private": private, "config": entry})
        );
    } else {
        println!(
            "# The signing key ({alg}, base64url): give it to the agent; it is not shown again."
        );
        println!("{private}");
        println!();
        println!("# The gateway's config entry:");
        print!("{entry}");
        if matches!(algorithm, Algorithm::HmacSha256) {
            println!(
                "# ...and the gateway's environment must hold the same secret in that variable."
            );
        }
    }
    ExitCode::SUCCESS
}
