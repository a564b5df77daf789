//! Signed checkpoints in the C2SP formats: the checkpoint body of `tlog-checkpoint` (origin,
//! decimal tree size, base64 root hash, one per line) inside a `signed-note`, signed with
//! Ed25519. A verifier key is written `<name>+<key id hex8>+<base64(0x01 ‖ public key)>`, where
//! the key id is the first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

use crate::canonical::sha256;
use crate::merkle::Hash;

/// Signature algorithm byte of Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;
/// Longest note accepted for parsing (a checkpoint is well under 1 KiB).
pub const MAX_NOTE_BYTES: usize = 16 * 1024;
/// Longest accepted key or origin name.
const MAX_NAME: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("malformed verifier key: {0}")]
    BadKey(String),
    #[error("no signature by key '{0}' verifies this note")]
    NotSigned(String),
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(String),
}

/// A key or origin name: printable ASCII/UTF-8 without spaces or '+'.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let h = sha256(&[name.as_bytes(), b"\n", &[ALG_ED25519], public.as_bytes()]);
    [h[0], h[1], h[2], h[3]]
}

/// The signing half: a name and an Ed25519 key.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key", &"[secret]")
            .finish()
    }
}

impl NoteSigner {
    pub fn new(name: &str, key: SigningKey) -> Result<NoteSigner, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey(format!(
                "'{name}' is not a valid key name"
            )));
        }
        Ok(NoteSigner {
            name: name.to_string(),
            key,
        })
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            id: key_id(&self.name, &self.key.verifying_key()),
            key: self.key.verifying_key(),
        }
    }

    /// Sign `text` (which must end in a newline) into a signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') || text.contains("\n\n") {
            return Err(NoteError::Malformed(
                "note text must end in one newline and contain no blank line".into(),
            ));
        }
        let sig = self.key.sign(text.as_bytes());
        let mut blob = key_id(&self.name, &self.key.verifying_key()).to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n\u{2014} {} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

/// The public half: what an auditor holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl std::fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut blob = vec![ALG_ED25519];
        blob.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            B64.encode(blob)
        )
    }
}

impl std::str::FromStr for NoteVerifier {
    type Err = NoteError;

    /// Parse `<name>+<hex8>+<base64(0x01 ‖ key)>`; the key id must match the key.
    fn from_str(s: &str) -> Result<NoteVerifier, NoteError> {
        let bad = |m: &str| NoteError::BadKey(m.to_string());
        if s.len() > 2 * MAX_NAME {
            return Err(bad("too long"));
        }
        // Names hold no '+', but the base64 key may.
        let mut parts = s.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected <name>+<key id>+<key>"));
        };
        if !valid_name(name) {
            return Err(bad("invalid name"));
        }
        let id: [u8; 4] = hex::decode(id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .filter(|_| id.len() == 8)
            .ok_or_else(|| bad("the key id must be 8 hex digits"))?;
        let blob = B64.decode(key).map_err(|_| bad("the key is not base64"))?;
        let Some((&ALG_ED25519, raw)) = blob.split_first() else {
            return Err(bad("not an Ed25519 key (algorithm byte 0x01)"));
        };
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&raw).map_err(|_| bad("not a valid Ed25519 point"))?;
        if key_id(name, &key) != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            id,
            key,
        })
    }
}

impl NoteVerifier {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Check `note` and return its text if a signature line by this key verifies.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("too long".into()));
        }
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| NoteError::Malformed("no signature block".into()))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::Malformed("no signature lines".into()));
        }
        for line in sigs.lines() {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or_else(|| NoteError::Malformed(format!("bad signature line '{line}'")))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| NoteError::Malformed("signature line without a signature".into()))?;
            let blob = B64
                .decode(b64)
                .map_err(|_| NoteError::Malformed("signature is not base64".into()))?;
            if name != self.name || blob.len() != 4 + 64 || blob[..4] != self.id {
                continue;
            }
            let sig = Signature::from_slice(&blob[4..])
                .map_err(|_| NoteError::Malformed("bad signature bytes".into()))?;
            if self.key.verify(text.as_bytes(), &sig).is_ok() {
                return Ok(text);
            }
        }
        Err(NoteError::NotSigned(self.to_string()))
    }
}

/// A tree head: what a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The checkpoint body (note text).
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parse a checkpoint body; extension lines after the root are allowed and ignored.
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let bad = |m: &str| NoteError::BadCheckpoint(m.to_string());
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("no origin"))?;
        let size_text = lines.next().ok_or_else(|| bad("no tree size"))?;
        if size_text.is_empty()
            || !size_text.bytes().all(|b| b.is_ascii_digit())
            || (size_text.len() > 1 && size_text.starts_with('0'))
        {
            return Err(bad("the tree size is not a decimal number"));
        }
        let size = size_text
            .parse()
            .map_err(|_| bad("the tree size is too large"))?;
        let root = lines
            .next()
            .and_then(|r| B64.decode(r).ok())
            .and_then(|b| <Hash>::try_from(b).ok())
            .ok_or_else(|| bad("the root hash is not 32 bytes of base64"))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// Verify a signed checkpoint note with `key` and parse it.
    pub fn open(note: &str, key: &NoteVerifier) -> Result<Checkpoint, NoteError> {
        Checkpoint::parse(key.open(note)?)
    }

    pub fn sign(&self, signer: &NoteSigner) -> Result<String, NoteError> {
        signer.sign(&self.body())
    }
}

#[cfg(test)]
mod tests;
