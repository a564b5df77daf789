//! `audit verify` and `audit tail`. Both read the store file read-only; the gateway need not run.

use std::process::ExitCode;

use portcullis_ledger::canonical;
use rusqlite::{Connection, OpenFlags};

use crate::commands::StoreArgs;

pub fn verify(store: &StoreArgs, pubkeys: &[String], json: bool) -> ExitCode {
    let keys = match pubkeys
        .iter()
        .map(|k| super::parse_pubkey(k))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(k) => k,
        Err(c) => return c,
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
                        ""
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
