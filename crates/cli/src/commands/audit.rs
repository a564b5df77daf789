//! `audit verify` and `audit tail`. Both read the store directly; the gateway need not run.

use std::process::ExitCode;

use clap::Subcommand;
use portcullis_ledger::canonical;
use rusqlite::{Connection, OpenFlags};

use super::StoreArgs;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check every record and the tree head; names the first bad record.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
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
}

pub fn run(cmd: AuditCommand) -> ExitCode {
    crate::logging::init("warn");
    match cmd {
        AuditCommand::Verify { store, json } => {
            let path = match store.resolve() {
                Ok((_, p)) => p,
                Err(c) => return c,
            };
            match portcullis_store::verify_sqlite(&path, &[]) {
                Ok(r) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"ok": true, "size": r.size, "root": hex::encode(r.root)})
                        );
                    } else {
                        println!(
                            "ledger OK: {} records, root {}",
                            r.size,
                            hex::encode(r.root)
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"ok": false, "error": e.to_string()})
                        );
                    }
                    eprintln!("ledger verification FAILED: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        AuditCommand::Tail { store, lines } => {
            let path = match store.resolve() {
                Ok((_, p)) => p,
                Err(c) => return c,
            };
            match tail(&path, lines) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn tail(path: &std::path::Path, n: u64) -> Result<(), String> {
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
        match canonical::parse_canonical(&bytes) {
            Ok(r) => println!("{}", serde_json::to_string(&r).unwrap_or_default()),
            Err(e) => println!("{{\"unreadable\":\"{e}\"}}"),
        }
    }
    Ok(())
}
