//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) and the minimised crashes
//! (`fuzz/regressions/<target>/`) through every target, so each input keeps passing without a
//! fuzzing engine. Every target needs a non-empty corpus; every corpus directory a target.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use portcullis_fuzz_targets::{TARGETS, fixtures};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn subdirs(dir: &Path) -> BTreeSet<String> {
    if !dir.exists() {
        return BTreeSet::new();
    }
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable directory entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn replay(dir: &Path, target: fn(&[u8])) -> usize {
    let inputs = files(dir);
    for path in &inputs {
        let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| target(&data));
        assert!(outcome.is_ok(), "{} fails its target", path.display());
    }
    inputs.len()
}

#[test]
fn every_target_has_a_corpus_and_every_corpus_a_target() {
    let names: BTreeSet<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(names.len(), TARGETS.len(), "target names are unique");
    let corpus = subdirs(&fuzz_dir().join("corpus"));
    assert_eq!(corpus, names, "fuzz/corpus/ has one directory per target");
    for extra in subdirs(&fuzz_dir().join("regressions")) {
        assert!(
            names.contains(&extra),
            "fuzz/regressions/{extra} has no target"
        );
    }
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for name in &names {
        let src = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(src.is_file(), "{} is missing", src.display());
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
    }
}

#[test]
fn the_corpus_replays_cleanly() {
    for (name, target) in TARGETS {
        let n = replay(&fuzz_dir().join("corpus").join(name), *target);
        assert!(n > 0, "fuzz/corpus/{name} is empty");
        let regressions = fuzz_dir().join("regressions").join(name);
        if regressions.is_dir() {
            replay(&regressions, *target);
        }
    }
}

#[test]
fn the_ledger_seeds_are_still_validly_signed() {
    let key = fixtures::signer().verifier();
    let dir = fuzz_dir().join("corpus/ledger_export");
    let valid = files(&dir)
        .iter()
        .filter(|p| portcullis_ledger::export::verify_bundle(&fs::read(p).unwrap(), &key).is_ok())
        .count();
    assert!(
        valid >= 2,
        "the export corpus needs valid bundles to start from"
    );
    let note = fs::read_to_string(dir.join("../ledger_note/checkpoint-signed")).unwrap();
    assert!(portcullis_ledger::note::Checkpoint::open(&note, &key).is_ok());
}

/// Writes the seeds that must be signed with the fixed key (run with `--ignored` after the
/// fixtures change).
#[test]
#[ignore]
fn write_signed_seeds() {
    let corpus = fuzz_dir().join("corpus");
    let write = |rel: &str, text: String| fs::write(corpus.join(rel), text).unwrap();
    write("ledger_export/bundle-all", fixtures::export_bundle(7, None));
    write(
        "ledger_export/bundle-tenant",
        fixtures::export_bundle(7, Some("red")),
    );
    write("ledger_export/bundle-one", fixtures::export_bundle(1, None));
    write(
        "ledger_export/bundle-empty",
        fixtures::export_bundle(3, Some("green")),
    );
    write(
        "ledger_note/checkpoint-signed",
        fixtures::checkpoint_note(7),
    );
    write(
        "ledger_note/verifier-key",
        fixtures::signer().verifier().to_string(),
    );
    write(
        "ledger_canonical/decision",
        fixtures::record_text(0, "acme"),
    );
    write("ledger_canonical/outcome", fixtures::record_text(1, "acme"));
}
