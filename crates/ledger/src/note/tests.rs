use ed25519_dalek::SigningKey;

use super::*;

fn signer(seed: u8) -> NoteSigner {
    NoteSigner::new("example.com/log", SigningKey::from_bytes(&[seed; 32])).unwrap()
}

fn cp() -> Checkpoint {
    Checkpoint {
        origin: "example.com/log".into(),
        size: 42,
        root: [7; 32],
    }
}

#[test]
fn a_signed_checkpoint_round_trips_and_has_the_c2sp_shape() {
    let s = signer(1);
    let note = cp().sign(&s).unwrap();
    let mut lines = note.lines();
    assert_eq!(lines.next(), Some("example.com/log"));
    assert_eq!(lines.next(), Some("42"));
    assert_eq!(lines.next(), Some(B64.encode([7u8; 32]).as_str()));
    assert_eq!(lines.next(), Some(""));
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("\u{2014} example.com/log ")
    );
    let v: NoteVerifier = s.verifier().to_string().parse().unwrap();
    assert_eq!(v, s.verifier());
    assert_eq!(Checkpoint::open(&note, &v).unwrap(), cp());
}

#[test]
fn the_verifier_key_format_matches_the_note_spec() {
    let text = signer(1).verifier().to_string();
    let parts: Vec<&str> = text.split('+').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], "example.com/log");
    assert_eq!(parts[1].len(), 8);
    let blob = B64.decode(parts[2]).unwrap();
    assert_eq!(blob.len(), 33);
    assert_eq!(blob[0], 0x01);
}

#[test]
fn another_key_or_any_edit_is_refused() {
    let note = cp().sign(&signer(1)).unwrap();
    let other = signer(2).verifier();
    assert!(matches!(
        Checkpoint::open(&note, &other),
        Err(NoteError::NotSigned(_))
    ));
    let v = signer(1).verifier();
    let edited = note.replacen("42", "43", 1);
    assert!(Checkpoint::open(&edited, &v).is_err());
    let resigned = cp().sign(&signer(2)).unwrap();
    assert!(Checkpoint::open(&resigned, &v).is_err());
    for bad in [
        "",
        "x",
        "a\n\n",
        "a\n\n\u{2014} x y\n",
        &note[..note.len() - 1],
    ] {
        assert!(Checkpoint::open(bad, &v).is_err(), "{bad:?}");
    }
    assert!(Checkpoint::open(&"a".repeat(MAX_NOTE_BYTES + 1), &v).is_err());
}

#[test]
fn keys_whose_base64_holds_a_plus_round_trip() {
    let plus = (0u8..=255)
        .map(|seed| signer(seed).verifier())
        .find(|v| v.to_string().matches('+').count() > 2)
        .expect("some key's base64 has a '+'");
    assert_eq!(plus.to_string().parse::<NoteVerifier>().unwrap(), plus);
}

#[test]
fn malformed_verifier_keys_are_refused() {
    let good = signer(1).verifier().to_string();
    let (name, rest) = good.split_once('+').unwrap();
    let (id, key) = rest.split_once('+').unwrap();
    let cases = [
        String::new(),
        "name".into(),
        format!("{name}+{id}"),
        format!("{name}+{id}+{key}+x"),
        format!("{name}+{id}+{key}="),
        format!("other+{id}+{key}"),
        format!("{name}+00000000+{key}"),
        format!("{name}+{id}+!!!"),
        format!("{name}+{id}+{}", B64.encode([2u8; 33])),
        format!("{name}+{id}+{}", B64.encode([1u8; 10])),
        format!("na me+{id}+{key}"),
        "x".repeat(10_000),
    ];
    for c in cases {
        assert!(c.parse::<NoteVerifier>().is_err(), "{c}");
    }
}

#[test]
fn malformed_checkpoint_bodies_are_refused() {
    for body in [
        "",
        "origin\n",
        "origin\n-1\nAAAA\n",
        "origin\n01\nAAAA\n",
        "origin\n99999999999999999999999\nAAAA\n",
        "origin\n3\nnot base64\n",
        "origin\n3\nAAAA\n",
    ] {
        assert!(Checkpoint::parse(body).is_err(), "{body:?}");
    }
    let ext = format!("{}extension line\n", cp().body());
    assert_eq!(Checkpoint::parse(&ext).unwrap(), cp());
}

#[test]
fn bad_names_are_refused_when_signing() {
    assert!(NoteSigner::new("a b", SigningKey::from_bytes(&[1; 32])).is_err());
    assert!(NoteSigner::new("", SigningKey::from_bytes(&[1; 32])).is_err());
    assert!(signer(1).sign("no newline").is_err());
}
