//! `audit ...`: verify, tail, pubkey, rotate-key, checkpoint, proof, export, verify-export,
//! verify-consistency, prune. All read the store (or an export file) directly; the gateway need not run.

mod export;
mod growth;
mod keys;
mod proof;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use portcullis_control::config::DEFAULT_ORIGIN;
use portcullis_ledger::note::NoteVerifier;

use super::StoreArgs;
use crate::EXIT_CONFIG;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check every record, the tree head and the signed checkpoints; names the first bad
    /// record.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// Check every checkpoint's signature against this verifier key (repeatable, for keys
        /// retired by rotation). Without it, the gateway's own key in the data directory and the
        /// keys it retired are used.
        #[arg(long)]
        pubkey: Vec<String>,
        /// Check everything but the signatures (when no key is at hand). Without it, a
        /// verification that cannot check signatures fails.
        #[arg(long)]
        unsigned: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the last records.
    Tail {
        #[command(flatten)]
        store: StoreArgs,
        /// How many records.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u64,
    },
    /// Print the checkpoint verifier key (`<name>+<key id>+<base64 key>`).
    Pubkey {
        #[command(flatten)]
        store: StoreArgs,
        /// Also print the keys retired by rotation, oldest first.
        #[arg(long)]
        all: bool,
    },
    /// Replace the signing key (stop the gateway first); the old verifier key is kept in
    /// `<key file>.retired` so checkpoints it signed stay verifiable.
    RotateKey {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Sign a checkpoint of the ledger now (if it grew since the last one).
    Checkpoint {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print an inclusion or consistency proof as JSON.
    #[command(subcommand)]
    Proof(proof::ProofCommand),
    /// Write the records, the signed checkpoint covering them and an inclusion proof for each
    /// as one JSON bundle.
    Export(export::ExportArgs),
    /// Check an export bundle offline against a verifier key; names the first bad record.
    VerifyExport(export::VerifyExportArgs),
    /// Check offline that the ledger only grew between two signed checkpoints.
    VerifyConsistency(growth::VerifyConsistencyArgs),
    /// Remove the content of records made before a time (leaf hashes stay; only records a
    /// signed checkpoint covers).
    Prune {
        #[command(flatten)]
        store: StoreArgs,
        /// RFC 3339 time (e.g. 2026-01-31T00:00:00Z) or an age (e.g. 90days).
        #[arg(long)]
        before: String,
    },
}

pub fn run(cmd: AuditCommand) -> ExitCode {
    let _logs = crate::logging::init("warn");
    match cmd {
        AuditCommand::Verify {
            store,
            pubkey,
            unsigned,
            json,
        } => verify::verify(&store, &pubkey, unsigned, json),
        AuditCommand::Tail { store, lines } => verify::tail(&store, lines),
        AuditCommand::Pubkey { store, all } => keys::pubkey(&store, all),
        AuditCommand::RotateKey { store } => keys::rotate(&store),
        AuditCommand::Checkpoint { store } => keys::checkpoint(&store),
        AuditCommand::Proof(p) => proof::run(p),
        AuditCommand::Export(a) => export::export(a),
        AuditCommand::VerifyExport(a) => export::verify_export(a),
        AuditCommand::VerifyConsistency(a) => growth::run(a),
        AuditCommand::Prune { store, before } => keys::prune(&store, &before),
    }
}

/// Where the signing key is, the checkpoint origin, and the database.
pub(crate) struct Ledger {
    pub key_file: PathBuf,
    pub origin: String,
    pub db: PathBuf,
}

/// The origin comes from `--config`; without one, from the latest checkpoint, else the default.
pub(crate) fn ledger(store: &StoreArgs) -> Result<Ledger, ExitCode> {
    let (config, db) = store.resolve()?;
    let data_dir = db.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(match config {
        Some(mut c) => {
            c.store.data_dir = data_dir;
            Ledger {
                key_file: c.audit.signing_key_path(&c.store),
                origin: c.audit.origin,
                db,
            }
        }
        None => Ledger {
            key_file: data_dir.join("ledger.key"),
            origin: signed_origin(&db).unwrap_or_else(|| DEFAULT_ORIGIN.to_string()),
            db,
        },
    })
}

/// Without a config, the origin the latest checkpoint was signed under.
fn signed_origin(db: &Path) -> Option<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let note: String = conn
        .query_row(
            "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .ok()?;
    note.lines().next().map(str::to_string)
}

/// A verifier key given on the command line: the key itself, or a file holding it.
pub(crate) fn parse_pubkey(arg: &str) -> Result<NoteVerifier, ExitCode> {
    let direct = arg.parse::<NoteVerifier>();
    if let Ok(k) = direct {
        return Ok(k);
    }
    let from_file = Path::new(arg)
        .is_file()
        .then(|| std::fs::read_to_string(arg).ok())
        .flatten()
        .filter(|t| t.len() <= 4096)
        .map(|t| t.trim().parse::<NoteVerifier>());
    match (from_file, direct) {
        (Some(Ok(k)), _) => Ok(k),
        (Some(Err(e)), _) | (None, Err(e)) => {
            eprintln!("error: --pubkey: {e}");
            Err(ExitCode::from(EXIT_CONFIG))
        }
        (None, Ok(k)) => Ok(k),
    }
}

/// `--since` / `--until` / `--before`: RFC 3339 time, Unix milliseconds, or an age ("90days").
pub(crate) fn parse_time(flag: &str, v: &str, now_ms: i64) -> Result<i64, ExitCode> {
    let fail = || {
        eprintln!(
            "error: --{flag} '{v}' is not an RFC 3339 time (2026-01-31T00:00:00Z), Unix milliseconds or an age (90days)"
        );
        ExitCode::from(EXIT_CONFIG)
    };
    if v.len() > 64 {
        return Err(fail());
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().map_err(|_| fail());
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        let ms = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| fail())?
            .as_millis();
        return i64::try_from(ms).map_err(|_| fail());
    }
    let age = humantime::parse_duration(v).map_err(|_| fail())?;
    let age = i64::try_from(age.as_millis()).map_err(|_| fail())?;
    Ok(now_ms.saturating_sub(age))
}
