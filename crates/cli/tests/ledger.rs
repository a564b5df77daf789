//! The evidence ledger through the real binary: signed checkpoints, proofs, exports checked
//! offline with only the public key, and every tamper case caught and pinpointed by
//! `audit verify` / `audit verify-export` on a real SQLite file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::*;
use ed25519_dalek::SigningKey;
use portcullis_ledger::export::ExportBundle;
use portcullis_ledger::note::{Checkpoint, NoteSigner, NoteVerifier};
use rusqlite::Connection;
use serde_json::Value;

const AUDIT: &str = "[audit]\ncheckpoint_interval = \"100ms\"\norigin = \"test.example/ledger\"\n";

/// A stopped gateway's data directory with records of tenants `t1` and `red`, all covered by
/// a signed checkpoint. Built once; each test works on a copy.
struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    size: u64,
}

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tenant_key(gw: &Gateway, tenant: &str) -> String {
    let o = Command::new(bin())
        .args(["keys", "create", "--data-dir"])
        .arg(gw.data_dir())
        .args([
            "--tenant", tenant, "--agent", "a", "--role", "reader", "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["key"].as_str().unwrap().to_string()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        std::thread::spawn(|| {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let mut gw = Gateway::start(&demo_config("enforce", AUDIT));
                let blue = gw.key("reader", &[]).1;
                let red = tenant_key(&gw, "red");
                echo_calls(&gw.url, &blue, 3).await;
                let first = ledger(&gw.db_path()).len() as u64;
                wait_for_checkpoint(&gw, &blue, first).await;
                echo_calls(&gw.url, &red, 3).await;
                echo_calls(&gw.url, &blue, 2).await;
                let size = ledger(&gw.db_path()).len() as u64;
                wait_for_checkpoint(&gw, &blue, size).await;
                gw.sigterm();
                assert!(gw.wait_exit(20).is_some());
                let dir = tempfile::tempdir().unwrap();
                let data = dir.path().join("data");
                copy_dir(&gw.data_dir(), &data);
                Fixture {
                    _dir: dir,
                    data,
                    size,
                }
            })
        })
        .join()
        .unwrap()
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A private copy of the fixture's data directory.
fn copy() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&fixture().data, &data);
    (dir, data.to_str().unwrap().to_string())
}

fn pubkey(data: &str) -> String {
    let o = run(&["audit", "pubkey", "--data-dir", data]);
    assert!(o.status.success(), "{}", out(&o));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn sql(data: &str, q: &str) {
    Connection::open(Path::new(data).join("portcullis.db"))
        .unwrap()
        .execute_batch(q)
        .unwrap();
}

fn verify(data: &str) -> Output {
    run(&[
        "audit",
        "verify",
        "--data-dir",
        data,
        "--pubkey",
        &pubkey(data),
    ])
}

fn export(data: &str, extra: &[&str]) -> (PathBuf, ExportBundle) {
    let file = Path::new(data)
        .parent()
        .unwrap()
        .join(format!("export-{}.json", extra.len()));
    let mut args = vec![
        "audit",
        "export",
        "--data-dir",
        data,
        "--out",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", out(&o));
    let b = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    (file, b)
}

fn inclusion(data: &str, seq: &str) -> Output {
    run(&[
        "audit",
        "proof",
        "inclusion",
        "--data-dir",
        data,
        "--seq",
        seq,
    ])
}

fn consistency(data: &str, from: u64, to: Option<u64>) -> Output {
    let (from, to) = (from.to_string(), to.map(|t| t.to_string()));
    let mut args = vec![
        "audit",
        "proof",
        "consistency",
        "--data-dir",
        data,
        "--from",
        &from,
    ];
    if let Some(to) = &to {
        args.extend(["--to", to.as_str()]);
    }
    run(&args)
}

fn verify_export(file: &Path, key: &str) -> Output {
    run(&[
        "audit",
        "verify-export",
        file.to_str().unwrap(),
        "--pubkey",
        key,
    ])
}

fn write_bundle(file: &Path, b: &ExportBundle) {
    std::fs::write(file, serde_json::to_vec(b).unwrap()).unwrap();
}

fn assert_fails_naming(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", out(o));
    assert!(
        out(o).contains(needle),
        "expected '{needle}' in: {}",
        out(o)
    );
}

#[test]
fn an_untouched_ledger_and_its_exports_verify_offline() {
    let (_d, data) = copy();
    let key = pubkey(&data);
    assert!(key.starts_with("test.example/ledger+"), "{key}");
    let o = verify(&data);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("signatures checked"), "{}", out(&o));
    let (file, whole) = export(&data, &[]);
    assert_eq!(whole.record_count, fixture().size);
    let o = verify_export(&file, &key);
    assert!(o.status.success(), "{}", out(&o));
    let (file, red) = export(&data, &["--tenant", "red"]);
    assert!(red.record_count > 0 && red.record_count < whole.record_count);
    assert!(
        red.records
            .iter()
            .all(|r| r.record.contains("\"tenant\":\"red\""))
    );
    let o = verify_export(&file, &key);
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        out(&o).contains(&format!("ledger of {} records", fixture().size)),
        "a tenant's records are proven against the whole ledger: {}",
        out(&o)
    );
    let (_, none) = export(&data, &["--since", "2999-01-01T00:00:00Z"]);
    assert_eq!(none.record_count, 0);
}

/// Each tamper case on the real SQLite file, and the record `audit verify` must name first.
#[test]
fn audit_verify_names_the_first_bad_record_of_each_tamper_case() {
    let n = fixture().size;
    let cases = [
        (
            "a field edited",
            "UPDATE ledger SET record = replace(record, '\"time_ms\":1', '\"time_ms\":2') WHERE seq = 9"
                .to_string(),
            9,
        ),
        ("a record deleted", "DELETE FROM ledger WHERE seq = 4".into(), 4),
        (
            "two records swapped",
            "UPDATE ledger SET seq = -1 WHERE seq = 3; UPDATE ledger SET seq = 3 WHERE seq = 6; UPDATE ledger SET seq = 6 WHERE seq = -1;".into(),
            3,
        ),
        (
            "a record appended behind the gateway's back",
            format!(
                "INSERT INTO ledger(seq, time_ms, kind, tenant, correlation_id, record, leaf_hash)
                 SELECT {n}, time_ms, kind, tenant, correlation_id, replace(record, '\"seq\":{last}', '\"seq\":{n}'), leaf_hash
                 FROM ledger WHERE seq = {last}",
                last = n - 1
            ),
            n,
        ),
    ];
    for (what, edit, seq) in cases {
        let (_d, data) = copy();
        sql(&data, &edit);
        let o = verify(&data);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", out(&o));
        assert!(
            out(&o).contains(&format!("record {seq}:")),
            "{what}: {}",
            out(&o)
        );
    }
}

fn other_signer() -> NoteSigner {
    NoteSigner::new("test.example/ledger", SigningKey::from_bytes(&[42; 32])).unwrap()
}

#[test]
fn a_checkpoint_resigned_with_another_key_is_caught() {
    let (_d, data) = copy();
    let key: NoteVerifier = pubkey(&data).parse().unwrap();
    let (file, mut bundle) = export(&data, &[]);
    // In the export.
    let cp = Checkpoint::open(&bundle.checkpoint, &key).unwrap();
    bundle.checkpoint = cp.sign(&other_signer()).unwrap();
    write_bundle(&file, &bundle);
    assert_fails_naming(
        &verify_export(&file, &key.to_string()),
        "checkpoint is not valid",
    );
    // In the database.
    let conn = Connection::open(Path::new(&data).join("portcullis.db")).unwrap();
    let (size, note): (i64, String) = conn
        .query_row(
            "SELECT size, note FROM checkpoints ORDER BY size LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let forged = Checkpoint::open(&note, &key)
        .unwrap()
        .sign(&other_signer())
        .unwrap();
    conn.execute(
        "UPDATE checkpoints SET note = ?1 WHERE size = ?2",
        rusqlite::params![forged, size],
    )
    .unwrap();
    drop(conn);
    assert_fails_naming(&verify(&data), &format!("checkpoint {size}:"));
}

#[test]
fn verify_export_names_a_spliced_record_of_another_tenant() {
    let (_d, data) = copy();
    let key = pubkey(&data);
    let (_, whole) = export(&data, &[]);
    let (file, mut red) = export(&data, &["--tenant", "red"]);
    let first_red = red.records[0].seq;
    let intruder = whole
        .records
        .iter()
        .find(|r| r.seq > first_red && !r.record.contains("\"tenant\":\"red\""))
        .unwrap()
        .clone();
    let at = red
        .records
        .iter()
        .position(|r| r.seq > intruder.seq)
        .unwrap_or(red.records.len());
    red.records.insert(at, intruder.clone());
    red.record_count += 1;
    write_bundle(&file, &red);
    assert_fails_naming(
        &verify_export(&file, &key),
        &format!(
            "record {} (entry {at} of the export): belongs to tenant 't1'",
            intruder.seq
        ),
    );
}

#[test]
fn verify_export_refuses_a_truncated_export() {
    let (_d, data) = copy();
    let key = pubkey(&data);
    let (file, _) = export(&data, &[]);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() * 2 / 3]).unwrap();
    assert_fails_naming(&verify_export(&file, &key), "not a valid bundle");
}

type Tamper = Box<dyn Fn(&mut ExportBundle)>;

/// Edits of a still well-formed bundle, and what `verify-export` must say.
#[test]
fn verify_export_names_each_tampered_record() {
    let (_d, data) = copy();
    let key = pubkey(&data);
    let (file, bundle) = export(&data, &[]);
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "a field edited",
            Box::new(|b| {
                b.records[5].record =
                    b.records[5]
                        .record
                        .replacen("\"time_ms\":1", "\"time_ms\":2", 1)
            }),
            "record 5 (entry 5",
        ),
        (
            "the last record dropped",
            Box::new(|b| {
                b.records.pop();
            }),
            "records removed or added",
        ),
        (
            "a record removed with the count fixed",
            Box::new(|b| {
                b.records.remove(2);
                b.record_count -= 1;
            }),
            "",
        ),
        (
            "two records swapped",
            Box::new(|b| b.records.swap(6, 7)),
            "record 6 (entry 7 of the export): out of order",
        ),
        (
            "a record moved with its seq rewritten",
            Box::new(|b| b.records[3].seq = 4),
            "record 4 (entry 3",
        ),
    ];
    for (what, tamper, needle) in cases {
        let mut b = bundle.clone();
        tamper(&mut b);
        write_bundle(&file, &b);
        let o = verify_export(&file, &key);
        if needle.is_empty() {
            // An export need not be complete: a removed record is not detectable here.
            assert!(o.status.success(), "{what}: {}", out(&o));
        } else {
            assert_fails_naming(&o, needle);
        }
    }
}

#[test]
fn verify_export_input_errors_are_clear() {
    let (d, data) = copy();
    let key = pubkey(&data);
    let (file, _) = export(&data, &[]);
    let missing = d.path().join("missing.json");
    let o = verify_export(&missing, &key);
    assert_eq!(o.status.code(), Some(64), "{}", out(&o));
    let o = verify_export(d.path(), &key);
    assert_eq!(o.status.code(), Some(64), "a directory: {}", out(&o));
    for bad_key in ["", "nonsense", "a+b+c", &key.replace('+', "-")] {
        let o = verify_export(&file, bad_key);
        assert_eq!(o.status.code(), Some(64), "{bad_key}: {}", out(&o));
        assert!(out(&o).contains("--pubkey"), "{}", out(&o));
    }
    let key_file = d.path().join("key.pub");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    assert!(
        verify_export(&file, key_file.to_str().unwrap())
            .status
            .success()
    );
    let hostile = d.path().join("hostile.json");
    for body in [
        String::new(),
        "[".repeat(100_000),
        "{\"format\":1}".to_string(),
        "\u{0}\u{1}binary".to_string(),
    ] {
        std::fs::write(&hostile, body).unwrap();
        assert_fails_naming(&verify_export(&hostile, &key), "not a valid bundle");
    }
    let huge = std::fs::File::create(&hostile).unwrap();
    huge.set_len((1 << 30) + 1).unwrap();
    let o = verify_export(&hostile, &key);
    assert_eq!(o.status.code(), Some(64), "{}", out(&o));
    assert!(out(&o).contains("larger than"), "{}", out(&o));
}

#[test]
fn audit_command_arguments_are_checked() {
    let (_d, data) = copy();
    let long = "9".repeat(100);
    // Each runs as `portcullis audit <args> --data-dir <data>`.
    let cases: &[(&[&str], i32)] = &[
        (&["proof", "inclusion", "--seq", "999999"], 64),
        (&["proof", "inclusion", "--seq", "-1"], 64),
        (
            &["proof", "inclusion", "--seq", "0", "--size", "999999"],
            64,
        ),
        (&["proof", "consistency", "--from", "9", "--to", "3"], 64),
        (&["export", "--since", "yesterday-ish"], 64),
        (&["export", "--until", &long], 64),
        (&["export", "--tenant", ""], 64),
        (&["prune", "--before", "soon"], 64),
        (&["verify", "--pubkey", "x"], 64),
    ];
    for (args, code) in cases {
        let mut all = vec!["audit"];
        all.extend_from_slice(args);
        all.extend(["--data-dir", &data]);
        let o = run(&all);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {}", out(&o));
    }
    let o = run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(64), "no store given: {}", out(&o));
}

#[test]
fn proofs_from_the_cli_verify_against_the_signed_checkpoint() {
    let (_d, data) = copy();
    let key: NoteVerifier = pubkey(&data).parse().unwrap();
    let n = fixture().size;
    let o = inclusion(&data, "3");
    assert!(o.status.success(), "{}", out(&o));
    let p: Value = serde_json::from_slice(&o.stdout).unwrap();
    let cp = Checkpoint::open(p["checkpoint"].as_str().unwrap(), &key).unwrap();
    assert_eq!(
        (cp.size, hex::encode(cp.root)),
        (n, p["root"].as_str().unwrap().to_string())
    );
    let mut proof: portcullis_ledger::proof::InclusionProof = {
        let mut p = p.clone();
        p.as_object_mut().unwrap().remove("checkpoint");
        serde_json::from_value(p).unwrap()
    };
    proof.verify().unwrap();
    proof.seq = 4;
    assert!(proof.verify().is_err());
    let o = consistency(&data, 5, None);
    assert!(o.status.success(), "{}", out(&o));
    let mut c: Value = serde_json::from_slice(&o.stdout).unwrap();
    c.as_object_mut().unwrap().remove("checkpoint");
    let c: portcullis_ledger::proof::ConsistencyProof = serde_json::from_value(c).unwrap();
    assert_eq!(c.to, n);
    c.verify().unwrap();
}

#[test]
fn pruning_keeps_what_remains_verifiable() {
    let (_d, data) = copy();
    let key = pubkey(&data);
    let o = run(&["audit", "prune", "--data-dir", &data, "--before", "0days"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        out(&o).contains(&format!("records below {}", fixture().size)),
        "{}",
        out(&o)
    );
    let o = verify(&data);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("pruned"), "{}", out(&o));
    let (file, b) = export(&data, &[]);
    assert_eq!(b.record_count, 0, "pruned content is gone");
    assert!(verify_export(&file, &key).status.success());
    let o = inclusion(&data, "2");
    assert!(o.status.success(), "proofs still work: {}", out(&o));
}

#[test]
fn a_rotated_key_keeps_old_checkpoints_verifiable() {
    let (_d, data) = copy();
    let old = pubkey(&data);
    let o = run(&["audit", "rotate-key", "--data-dir", &data]);
    assert!(o.status.success(), "{}", out(&o));
    let new = pubkey(&data);
    assert_ne!(old, new);
    let all = run(&["audit", "pubkey", "--data-dir", &data, "--all"]);
    assert_eq!(
        String::from_utf8_lossy(&all.stdout),
        format!("{old}\n{new}\n")
    );
    let o = run(&["audit", "verify", "--data-dir", &data, "--pubkey", &new]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "old checkpoints are not signed by the new key"
    );
    let o = run(&[
        "audit",
        "verify",
        "--data-dir",
        &data,
        "--pubkey",
        &new,
        "--pubkey",
        &old,
    ]);
    assert!(o.status.success(), "{}", out(&o));
}

#[cfg(unix)]
#[test]
fn the_signing_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(fixture().data.join("ledger.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn an_auditor_checks_offline_that_the_ledger_only_grew_between_two_checkpoints() {
    let (d, data) = copy();
    let key = pubkey(&data);
    let notes: Vec<(u64, String)> = {
        let conn = Connection::open(Path::new(&data).join("portcullis.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT size, note FROM checkpoints ORDER BY size")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(notes.len() >= 2, "{notes:?}");
    let (old_size, old_note) = &notes[0];
    let (new_size, new_note) = notes.last().unwrap();
    let file = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let (old, new) = (file("old.note", old_note), file("new.note", new_note));
    let proof_for = |from: u64, to: u64, name: &str| {
        let o = consistency(&data, from, Some(to));
        assert!(o.status.success(), "{}", out(&o));
        file(name, &String::from_utf8(o.stdout).unwrap())
    };
    let proof = proof_for(*old_size, *new_size, "proof.json");
    let check = |old: &str, new: &str, proof: &str, key: &str| {
        run(&[
            "audit",
            "verify-consistency",
            "--old",
            old,
            "--new",
            new,
            "--proof",
            proof,
            "--pubkey",
            key,
        ])
    };
    let o = check(&old, &new, &proof, &key);
    assert!(o.status.success(), "{}", out(&o));
    // An export bundle holds its checkpoint too, and serves as --new.
    let (bundle, _) = export(&data, &[]);
    let o = check(&old, bundle.to_str().unwrap(), &proof, &key);
    assert!(o.status.success(), "{}", out(&o));

    assert_fails_naming(&check(&new, &old, &proof, &key), "larger than the new one");
    let other = proof_for(old_size + 1, *new_size, "other.json");
    assert_fails_naming(
        &check(&old, &new, &other, &key),
        "the proof is between sizes",
    );
    let cp = Checkpoint::open(new_note, &key.parse().unwrap()).unwrap();
    let forged = file("forged.note", &cp.sign(&other_signer()).unwrap());
    assert_fails_naming(&check(&old, &forged, &proof, &key), "no signature");
    let text = std::fs::read_to_string(&proof).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["proof"][0] = Value::String("00".repeat(32));
    let bad = file("bad.json", &v.to_string());
    assert_fails_naming(&check(&old, &new, &bad, &key), "did not only grow");
    let junk = file("junk.json", "{\"from\":");
    assert_fails_naming(&check(&old, &new, &junk, &key), "not JSON");
    let missing = d.path().join("none").to_str().unwrap().to_string();
    assert_eq!(check(&old, &new, &missing, &key).status.code(), Some(64));
    let huge = file("huge.json", &" ".repeat((1 << 20) + 1));
    let o = check(&old, &new, &huge, &key);
    assert_eq!(o.status.code(), Some(64), "{}", out(&o));
    assert!(out(&o).contains("at most"), "{}", out(&o));
    assert_eq!(check(&old, &new, &proof, "bad-key").status.code(), Some(64));
}
