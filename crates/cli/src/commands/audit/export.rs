//! `audit export` and `audit verify-export`. An export holds the records asked for, the latest
//! signed checkpoint and an inclusion proof for each record against it; `verify-export` checks
//! one offline with nothing but the verifier key (`portcullis_ledger::export`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use portcullis_ledger::canonical;
use portcullis_ledger::export::{EXPORT_FORMAT, ExportBundle, ExportedRecord, verify_bundle};
use portcullis_store::{CheckpointStore, LedgerStore, Lifecycle, SqliteStore};

use super::proof::{Failed, tree_at};
use crate::EXIT_CONFIG;
use crate::commands::{StoreArgs, runtime};

/// Largest export file `verify-export` reads.
const MAX_EXPORT_BYTES: u64 = 1 << 30;
/// Records read from the store at a time.
const PAGE: usize = 10_000;

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
    let scope = Scope {
        tenant: a.tenant,
        since_ms,
        until_ms,
    };
    let built = runtime().block_on(async {
        let r = build(&store, scope).await;
        store.close().await;
        r
    });
    let (bundle, skipped) = match built {
        Ok(b) => b,
        Err(f) => return f.report(),
    };
    let text = match serde_json::to_string(&bundle) {
        Ok(t) => t,
        Err(e) => return Failed::Store(e.to_string()).report(),
    };
    if let Err(e) = write_out(a.out.as_ref(), &text) {
        eprintln!("error: cannot write the export: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "exported {} records against checkpoint {}{}",
        bundle.record_count,
        bundle.checkpoint.lines().nth(1).unwrap_or("?"),
        skipped
    );
    ExitCode::SUCCESS
}

struct Scope {
    tenant: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
}

impl Scope {
    fn covers(&self, r: &portcullis_ledger::Record) -> bool {
        self.tenant.as_ref().is_none_or(|t| &r.tenant == t)
            && self.since_ms.is_none_or(|s| r.time_ms >= s)
            && self.until_ms.is_none_or(|u| r.time_ms < u)
    }
}

/// The bundle, and a note on what was left out.
async fn build(store: &SqliteStore, scope: Scope) -> Result<(ExportBundle, String), Failed> {
    let latest = store
        .latest_checkpoint()
        .await
        .map_err(|e| Failed::Store(e.to_string()))?
        .ok_or_else(|| {
            Failed::Store(
                "no checkpoint has been signed yet; run 'portcullis audit checkpoint'".into(),
            )
        })?;
    let (tree, size, _) = tree_at(store, Some(latest.size)).await?;
    let mut records = Vec::new();
    let mut pruned = 0u64;
    let mut from = 0u64;
    while from < size {
        let page = store
            .read_records(from, PAGE)
            .await
            .map_err(|e| Failed::Store(e.to_string()))?;
        if page.is_empty() {
            break;
        }
        for row in page.into_iter().take_while(|r| r.seq < size) {
            from = row.seq + 1;
            if row.bytes.is_empty() {
                pruned += 1;
                continue;
            }
            let r = canonical::parse_canonical(&row.bytes).map_err(|e| {
                Failed::Store(format!(
                    "record {}: {e}; run 'portcullis audit verify'",
                    row.seq
                ))
            })?;
            if scope.covers(&r) {
                let text = String::from_utf8(row.bytes)
                    .map_err(|e| Failed::Store(format!("record {}: {e}", row.seq)))?;
                records.push(ExportedRecord::new(
                    row.seq,
                    text,
                    &tree.inclusion_proof(row.seq, size),
                ));
            }
        }
        if from >= size {
            break;
        }
    }
    let head = store
        .head()
        .await
        .map_err(|e| Failed::Store(e.to_string()))?;
    let mut note = String::new();
    if head.size > size {
        note.push_str(&format!(
            "; {} newer records are not covered by a checkpoint yet",
            head.size - size
        ));
    }
    if pruned > 0 {
        note.push_str(&format!("; {pruned} pruned records skipped"));
    }
    let bundle = ExportBundle {
        format: EXPORT_FORMAT.into(),
        checkpoint: latest.note,
        tenant: scope.tenant,
        since_ms: scope.since_ms,
        until_ms: scope.until_ms,
        record_count: records.len() as u64,
        records,
    };
    Ok((bundle, note))
}

fn write_out(out: Option<&PathBuf>, text: &str) -> std::io::Result<()> {
    let Some(path) = out else {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        return stdout.write_all(b"\n");
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
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
