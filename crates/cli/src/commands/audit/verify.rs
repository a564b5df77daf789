//! `audit verify` and `audit tail`. Both read the store file read-only; the gateway need not run.

use std::process::ExitCode;

use portcullis_ledger::canonical;
use rusqlite::{Connection, OpenFlags};

use portcullis_ledger::note::{NoteSigner, NoteVerifier};
use portcullis_store::signing_key;

use crate::commands::StoreArgs;
use crate::{EXIT_CONFIG, EXIT_UNAVAILABLE};

/// The keys signatures are checked against: the ones given, else the gateway's own key in the
/// data directory and the keys it retired. `None` when there are none.
fn verifiers(store: &StoreArgs, pubkeys: &[String]) -> Result<Option<Vec<NoteVerifier>>, ExitCode> {
    if !pubkeys.is_empty() {
        let keys = pubkeys
            .iter()
            .map(|k| super::parse_pubkey(k))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(keys));
    }
    let l = super::ledger(store)?;
    if !l.key_file.exists() {
        return Ok(None);
    }
    let key = signing_key::load(&l.key_file).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_UNAVAILABLE)
    })?;
    let own = NoteSigner::new(&l.origin, key)
        .map_err(|e| {
            eprintln!("error: audit.origin: {e}");
            ExitCode::from(EXIT_CONFIG)
        })?
        .verifier();
    let mut keys = vec![own];
    for old in signing_key::retired(&l.key_file) {
        keys.push(super::parse_pubkey(&old)?);
    }
    Ok(Some(keys))
}

pub fn verify(store: &StoreArgs, pubkeys: &[String], unsigned: bool, json: bool) -> ExitCode {
    let keys = if unsigned {
        Vec::new()
    } else {
        match verifiers(store, pubkeys) {
            Ok(Some(k)) => k,
            Ok(None) => {
                eprintln!(
                    "ledger verification FAILED: signatures cannot be checked: no --pubkey was given and there is no signing key in the data directory; give --pubkey KEY, or --unsigned to check everything but the signatures"
                );
                return ExitCode::FAILURE;
            }
            Err(c) => return c,
        }
    };
    let path = match store.resolve() {
        Ok((_, p)) => p,
        Err(c) => return c,
    };
    match portcullis_store::verify_sqlite(&path, &keys) {
        Ok(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": true,
                        "size": r.size,
                        "root": hex::encode(r.root),
                        "checkpoints": r.checkpoints,
                        "signaturesChecked": !keys.is_empty(),
                        "unsignedRecords": r.size - r.signed_size,
                        "prunedBelow": r.pruned_below,
                    })
                );
            } else {
                println!(
                    "ledger OK: {} records, root {}, {} checkpoints{}{}",
                    r.size,
                    hex::encode(r.root),
                    r.checkpoints,
                    if keys.is_empty() {
                        " (signatures NOT checked: --unsigned)"
                    } else {
                        " (signatures checked)"
                    },
                    if r.pruned_below > 0 {
                        format!(", content of records below {} pruned", r.pruned_below)
                    } else {
                        String::new()
                    }
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                let seq = match &e {
                    portcullis_store::VerifyError::Record { seq, .. } => Some(*seq),
                    _ => None,
                };
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string(), "firstBadRecord": seq})
                );
            }
            eprintln!("ledger verification FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn tail(store: &StoreArgs, lines: u64) -> ExitCode {
    let path = match store.resolve() {
        Ok((_, p)) => p,
        Err(c) => return c,
    };
    match tail_rows(&path, lines) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn tail_rows(path: &std::path::Path, n: u64) -> Result<(), String> {
    if !path.is_file() {
        return Err(format!("{} does not exist", path.display()));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare("SELECT record FROM (SELECT seq, record FROM ledger ORDER BY seq DESC LIMIT ?1) ORDER BY seq")
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([n as i64], |r| {
            Ok(r.get_ref(0)?
                .as_bytes()
                .map(<[u8]>::to_vec)
                .unwrap_or_default())
        })
        .map_err(|e| e.to_string())?;
    for row in rows {
        let bytes = row.map_err(|e| e.to_string())?;
        if bytes.is_empty() {
            println!("{{\"pruned\":true}}");
            continue;
        }
        match canonical::parse_canonical(&bytes) {
            Ok(r) => println!("{}", serde_json::to_string(&r).unwrap_or_default()),
            Err(e) => println!("{{\"unreadable\":\"{e}\"}}"),
        }
    }
    Ok(())
}
