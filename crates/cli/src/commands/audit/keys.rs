//! `audit pubkey`, `rotate-key`, `checkpoint` and `prune`: the signing key and what it signs.

use std::process::ExitCode;

use portcullis_ledger::note::NoteSigner;
use portcullis_store::{LedgerStore, Lifecycle, sign_checkpoint, signing_key};

use super::{Ledger, ledger};
use crate::commands::{StoreArgs, open_store, runtime};
use crate::{EXIT_CONFIG, EXIT_UNAVAILABLE};

fn now_ms() -> i64 {
    portcullis_clock::Clock::now_ms(&portcullis_clock::SystemClock)
}

/// The ledger's paths and its signer; the key is created only if `create`.
fn ledger_signer(store: &StoreArgs, create: bool) -> Result<(Ledger, NoteSigner), ExitCode> {
    let l = ledger(store)?;
    let s = signer(&l, create)?;
    Ok((l, s))
}

fn signer(l: &Ledger, create: bool) -> Result<NoteSigner, ExitCode> {
    if !create && !l.key_file.exists() {
        eprintln!(
            "error: no signing key at {}; it is created when the gateway first starts (or by 'portcullis audit checkpoint')",
            l.key_file.display()
        );
        return Err(ExitCode::from(EXIT_UNAVAILABLE));
    }
    let key = signing_key::load_or_create(&l.key_file).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_UNAVAILABLE)
    })?;
    NoteSigner::new(&l.origin, key.0).map_err(|e| {
        eprintln!("error: audit.origin: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

pub fn pubkey(store: &StoreArgs, all: bool) -> ExitCode {
    let (l, s) = match ledger_signer(store, false) {
        Ok(x) => x,
        Err(c) => return c,
    };
    if all {
        for old in signing_key::retired(&l.key_file) {
            println!("{old}");
        }
    }
    println!("{}", s.verifier());
    ExitCode::SUCCESS
}

pub fn rotate(store: &StoreArgs) -> ExitCode {
    let (l, old) = match ledger_signer(store, false) {
        Ok((l, s)) => (l, s.verifier().to_string()),
        Err(c) => return c,
    };
    match signing_key::rotate(&l.key_file, &old) {
        Ok(_) => match signer(&l, false) {
            Ok(s) => {
                println!("retired {old}\nnew key {}", s.verifier());
                ExitCode::SUCCESS
            }
            Err(c) => c,
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_UNAVAILABLE)
        }
    }
}

pub fn checkpoint(store: &StoreArgs) -> ExitCode {
    let (l, s) = match ledger_signer(store, true) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let store = match open_store(&l.db, std::time::Duration::from_secs(5)) {
        Ok(s) => s,
        Err(c) => return c,
    };
    runtime().block_on(async move {
        let r = sign_checkpoint(store.as_ref(), store.as_ref(), &s, &l.origin, now_ms()).await;
        store.close().await;
        match r {
            Ok(Some(cp)) => {
                print!("{}", cp.note);
                ExitCode::SUCCESS
            }
            Ok(None) => {
                println!("nothing new to sign");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

pub fn prune(store: &StoreArgs, before: &str) -> ExitCode {
    let before_ms = match super::parse_time("before", before, now_ms()) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let (_, store) = match store.open() {
        Ok(s) => s,
        Err(c) => return c,
    };
    runtime().block_on(async move {
        let r = store.prune(before_ms).await;
        store.close().await;
        match r {
            Ok(p) => {
                println!(
                    "pruned the content of {} records; records below {} keep only their leaf hashes",
                    p.removed, p.pruned_below
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_UNAVAILABLE)
            }
        }
    })
}
