//! `audit export` and `audit verify-export`. An export holds the records asked for, the latest
//! signed checkpoint and an inclusion proof for each record against it; `verify-export` checks
//! one offline with nothing but the verifier key (`portcullis_ledger::export`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use std::sync::Arc;

use portcullis_ledger::export::verify_bundle;
use portcullis_store::export::{Export, ExportFailure, ExportScope, ExportSummary};
use portcullis_store::{Lifecycle, SqliteStore};

use super::proof::Failed;
use crate::EXIT_CONFIG;
use crate::commands::{StoreArgs, runtime};

/// Largest export file `verify-export` reads.
const MAX_EXPORT_BYTES: u64 = 1 << 30;

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Only this tenant's records (each still provable against the whole ledger's root).
    #[arg(long)]
    tenant: Option<String>,
    /// Records made at or after this time: RFC 3339, Unix ms, or an age ("7days").
    #[arg(long)]
    since: Option<String>,
    /// Records made before this time.
    #[arg(long)]
    until: Option<String>,
    /// Write here (mode 0600) instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct VerifyExportArgs {
    /// The export bundle.
    file: PathBuf,
    /// The gateway's verifier key (from `portcullis audit pubkey`), or a file holding it.
    #[arg(long)]
    pubkey: String,
    #[arg(long)]
    json: bool,
}

fn valid_tenant(t: &str) -> bool {
    !t.is_empty() && t.len() <= 128 && !t.chars().any(char::is_control)
}

pub fn export(a: ExportArgs) -> ExitCode {
    let now = portcullis_clock::Clock::now_ms(&portcullis_clock::SystemClock);
    if a.tenant.as_deref().is_some_and(|t| !valid_tenant(t)) {
        eprintln!("error: --tenant must be 1-128 characters without control characters");
        return ExitCode::from(EXIT_CONFIG);
    }
    let window = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(|v| super::parse_time(flag, v, now))
            .transpose()
    };
    let (since_ms, until_ms) = match (window("since", &a.since), window("until", &a.until)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let (_, store) = match a.store.open() {
        Ok(s) => s,
        Err(c) => return c,
    };
    let scope = ExportScope {
        tenant: a.tenant,
        since_ms,
        until_ms,
    };
    let written = runtime().block_on(async {
        let r = write_export(store.clone(), scope, a.out.as_ref()).await;
        store.close().await;
        r
    });
    match written {
        Ok(summary) => {
            let mut note = String::new();
            if summary.uncovered > 0 {
                note.push_str(&format!(
                    "; {} newer records are not covered by a checkpoint yet",
                    summary.uncovered
                ));
            }
            if summary.pruned > 0 {
                note.push_str(&format!("; {} pruned records skipped", summary.pruned));
            }
            eprintln!(
                "exported {} records against checkpoint {}{note}",
                summary.records, summary.checkpoint_size
            );
            ExitCode::SUCCESS
        }
        Err(f) => f.report(),
    }
}

/// Write the export, chunk by chunk, to `out` (mode 0600, synced) or standard output.
async fn write_export(
    store: Arc<SqliteStore>,
    scope: ExportScope,
    out: Option<&PathBuf>,
) -> Result<ExportSummary, Failed> {
    let mut export = Export::start(store.clone(), store.as_ref(), scope)
        .await
        .map_err(|e| match e {
            ExportFailure::NoCheckpoint => Failed::Store(
                "no checkpoint has been signed yet; run 'portcullis audit checkpoint'".into(),
            ),
            e => Failed::Store(e.to_string()),
        })?;
    let io = |e: std::io::Error| Failed::Store(format!("cannot write the export: {e}"));
    let out = out.map(PathBuf::as_path);
    let mut sink = crate::commands::private_sink(out).map_err(io)?;
    while let Some(chunk) = export
        .next_chunk()
        .await
        .map_err(|e| Failed::Store(e.to_string()))?
    {
        sink.write_all(&chunk).map_err(io)?;
    }
    crate::commands::finish_sink(sink, out).map_err(io)?;
    Ok(export.summary().clone())
}

pub fn verify_export(a: VerifyExportArgs) -> ExitCode {
    let key = match super::parse_pubkey(&a.pubkey) {
        Ok(k) => k,
        Err(c) => return c,
    };
    let bytes = match read_capped(&a.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {}: {e}", a.file.display());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match verify_bundle(&bytes, &key) {
        Ok(r) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"ok": true, "records": r.records, "checkpointSize": r.checkpoint.size, "root": hex::encode(r.checkpoint.root), "origin": r.checkpoint.origin})
                );
            } else {
                println!(
                    "export OK: {} records, each in the ledger of {} records with root {} signed by {}",
                    r.records,
                    r.checkpoint.size,
                    hex::encode(r.checkpoint.root),
                    key.name()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if a.json {
                let seq = match &e {
                    portcullis_ledger::export::ExportError::Record { seq, .. } => Some(*seq),
                    _ => None,
                };
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string(), "firstBadRecord": seq})
                );
            }
            eprintln!("export verification FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read_capped(path: &PathBuf) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a file".into());
    }
    if meta.len() > MAX_EXPORT_BYTES {
        return Err(format!(
            "larger than the {} MiB an export may be",
            MAX_EXPORT_BYTES >> 20
        ));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}
