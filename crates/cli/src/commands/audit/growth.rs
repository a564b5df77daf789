//! `audit verify-consistency`: an auditor holding two signed checkpoints checks, offline, that
//! the ledger only grew between them, with a consistency proof from `audit proof consistency`
//! or `/api/ledger/proof/consistency`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use portcullis_ledger::note::{Checkpoint, NoteVerifier};
use portcullis_ledger::proof::{ConsistencyProof, check_growth};
use serde_json::Value;

use crate::EXIT_CONFIG;

/// Largest checkpoint or proof file read.
const MAX_FILE: u64 = 1 << 20;

#[derive(Args)]
pub struct VerifyConsistencyArgs {
    /// The older checkpoint: a signed note, or JSON holding one (an export bundle, a proof, or
    /// the answer of /api/ledger/checkpoint).
    #[arg(long)]
    old: PathBuf,
    /// The newer checkpoint, in the same forms.
    #[arg(long)]
    new: PathBuf,
    /// The consistency proof (JSON).
    #[arg(long)]
    proof: PathBuf,
    /// Verifier key(s); each checkpoint must be signed by one of them.
    #[arg(long, required = true)]
    pubkey: Vec<String>,
}

fn read(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return Err(format!(
            "{}: not a file of at most {} KiB",
            path.display(),
            MAX_FILE >> 10
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The signed note in a file: the note itself, or the `checkpoint` / `note` member of JSON.
fn note_in(text: &str) -> Result<String, String> {
    if !text.trim_start().starts_with('{') {
        return Ok(text.to_string());
    }
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    ["checkpoint", "note"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::to_string)
        .ok_or_else(|| "JSON without a 'checkpoint' or 'note' member".into())
}

fn open(name: &Path, text: &str, keys: &[NoteVerifier]) -> Result<Checkpoint, String> {
    let note = note_in(text).map_err(|e| format!("{}: {e}", name.display()))?;
    let mut last = String::new();
    for k in keys {
        match Checkpoint::open(&note, k) {
            Ok(c) => return Ok(c),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("{}: {last}", name.display()))
}

fn proof_in(name: &Path, text: &str) -> Result<ConsistencyProof, String> {
    let mut v: Value =
        serde_json::from_str(text).map_err(|e| format!("{}: not JSON: {e}", name.display()))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("checkpoint");
    }
    serde_json::from_value(v)
        .map_err(|e| format!("{}: not a consistency proof: {e}", name.display()))
}

/// Exit 0 when the ledger only grew, 1 when the evidence does not show that (bad signature,
/// malformed note or proof, shrunk or forked ledger), 64 for unreadable files or keys.
pub fn run(a: VerifyConsistencyArgs) -> ExitCode {
    let keys = match a
        .pubkey
        .iter()
        .map(|k| super::parse_pubkey(k))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(k) => k,
        Err(c) => return c,
    };
    let texts = (|| Ok::<_, String>((read(&a.old)?, read(&a.new)?, read(&a.proof)?)))();
    let (old_text, new_text, proof_text) = match texts {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let checked = open(&a.old, &old_text, &keys).and_then(|old| {
        let new = open(&a.new, &new_text, &keys)?;
        check_growth(&old, &new, &proof_in(&a.proof, &proof_text)?)?;
        Ok((old, new))
    });
    match checked {
        Ok((old, new)) => {
            println!(
                "consistent: the ledger '{}' of {} records only grew to {} records",
                new.origin, old.size, new.size
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("consistency verification FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
