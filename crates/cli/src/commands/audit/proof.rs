//! `audit proof inclusion | consistency`: the same proofs as `/api/ledger/proof/...`, from the
//! store file. Sizes default to the latest signed checkpoint's, else the ledger's size.

use std::process::ExitCode;

use clap::Subcommand;
use portcullis_ledger::merkle::Tree;
use portcullis_ledger::proof;
use portcullis_store::{CheckpointStore, LedgerStore, Lifecycle, SqliteStore};
use serde_json::Value;

use crate::commands::{StoreArgs, runtime};
use crate::{EXIT_CONFIG, EXIT_UNAVAILABLE};

#[derive(Subcommand)]
pub enum ProofCommand {
    /// Proof that record SEQ is in the tree of SIZE records.
    Inclusion {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        seq: u64,
        #[arg(long)]
        size: Option<u64>,
    },
    /// Proof that the tree of FROM records is a prefix of the tree of TO records.
    Consistency {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        from: u64,
        #[arg(long)]
        to: Option<u64>,
    },
}

/// Why a proof or export could not be made: the request (exit 64) or the store (exit 69).
pub(crate) enum Failed {
    Usage(String),
    Store(String),
}

impl Failed {
    pub(crate) fn report(self) -> ExitCode {
        let (m, code) = match self {
            Failed::Usage(m) => (m, EXIT_CONFIG),
            Failed::Store(m) => (m, EXIT_UNAVAILABLE),
        };
        eprintln!("error: {m}");
        ExitCode::from(code)
    }
}

fn store_err(e: impl std::fmt::Display) -> Failed {
    Failed::Store(e.to_string())
}

/// The store's tree up to `size` (default: latest checkpoint, else everything), and the
/// signed note when `size` is the latest checkpoint's.
pub(crate) async fn tree_at(
    store: &SqliteStore,
    size: Option<u64>,
) -> Result<(Tree, u64, Option<String>), Failed> {
    let head = store.head().await.map_err(store_err)?;
    let latest = store.latest_checkpoint().await.map_err(store_err)?;
    let size = size
        .or(latest.as_ref().map(|c| c.size))
        .unwrap_or(head.size);
    if size > head.size {
        return Err(Failed::Usage(format!(
            "size {size} is beyond the ledger's {} records",
            head.size
        )));
    }
    let tree = Tree::new(store.leaf_hashes(0, size).await.map_err(store_err)?);
    let note = latest.filter(|c| c.size == size).map(|c| c.note);
    Ok((tree, size, note))
}

fn print(mut v: Value, note: Option<String>) {
    v["checkpoint"] = note.map_or(Value::Null, Value::String);
    println!("{v}");
}

pub fn run(cmd: ProofCommand) -> ExitCode {
    let store_args = match &cmd {
        ProofCommand::Inclusion { store, .. } | ProofCommand::Consistency { store, .. } => store,
    };
    let (_, store) = match store_args.open() {
        Ok(s) => s,
        Err(c) => return c,
    };
    runtime().block_on(async move {
        let r = match cmd {
            ProofCommand::Inclusion { seq, size, .. } => {
                tree_at(&store, size).await.and_then(|(t, size, note)| {
                    let p = proof::inclusion(&t, seq, size).map_err(Failed::Usage)?;
                    print(serde_json::to_value(p).unwrap_or_default(), note);
                    Ok(())
                })
            }
            ProofCommand::Consistency { from, to, .. } => {
                tree_at(&store, to).await.and_then(|(t, to, note)| {
                    let p = proof::consistency(&t, from, to).map_err(Failed::Usage)?;
                    print(serde_json::to_value(p).unwrap_or_default(), note);
                    Ok(())
                })
            }
        };
        store.close().await;
        match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(f) => f.report(),
        }
    })
}
