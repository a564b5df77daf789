//! The checkpoint signing key on disk: a 32-byte Ed25519 seed, base64 on one line, in a file
//! only its owner can read (0600). Generated on first start; never logged. Rotation moves the
//! old key's verifier key into `<file>.retired` so checkpoints it signed stay verifiable.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;

use crate::StoreError;

fn err(path: &Path, m: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("signing key {}: {m}", path.display()))
}

/// Where retired verifier keys are listed, one a line.
pub fn retired_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".retired");
    PathBuf::from(p)
}

/// Load the key at `path`. Refused if the file is readable by anyone but its owner.
pub fn load(path: &Path) -> Result<SigningKey, StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| err(path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(err(
                path,
                format!("mode {:o} lets others read it; chmod 600 it", mode & 0o777),
            ));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(path, e))?;
    let seed: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| err(path, "not a base64 Ed25519 seed of 32 bytes"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Write a new key to `path`, which must not exist.
fn create(path: &Path) -> Result<SigningKey, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(path, e))?;
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| err(path, e))?;
    writeln!(f, "{}", B64.encode(key.to_bytes())).map_err(|e| err(path, e))?;
    f.sync_all().map_err(|e| err(path, e))?;
    Ok(key)
}

/// Load the key, generating it first if the file does not exist. True when it was created.
pub fn load_or_create(path: &Path) -> Result<(SigningKey, bool), StoreError> {
    if path.exists() {
        return load(path).map(|k| (k, false));
    }
    create(path).map(|k| (k, true))
}

/// Replace the key with a new one; `retired_verifier` (the old key's verifier key) is
/// appended to the retired list first.
pub fn rotate(path: &Path, retired_verifier: &str) -> Result<SigningKey, StoreError> {
    load(path)?;
    let list = retired_path(path);
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    let mut f = opts.open(&list).map_err(|e| err(&list, e))?;
    writeln!(f, "{retired_verifier}").map_err(|e| err(&list, e))?;
    f.sync_all().map_err(|e| err(&list, e))?;
    let tmp = path.with_extension("rotating");
    let _ = std::fs::remove_file(&tmp);
    let key = create(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| err(path, e))?;
    Ok(key)
}

/// Verifier keys of retired signing keys, oldest first.
pub fn retired(path: &Path) -> Vec<String> {
    std::fs::read_to_string(retired_path(path))
        .map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_private_then_loaded_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ledger.key");
        let (k1, created) = load_or_create(&path).unwrap();
        assert!(created);
        let (k2, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(k1.to_bytes(), k2.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_or_malformed_key_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "short\n").unwrap();
        assert!(load(&path).is_err());
        assert!(load(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn rotation_keeps_the_old_verifier_and_changes_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (old, _) = load_or_create(&path).unwrap();
        let new = rotate(&path, "old+00000000+AA").unwrap();
        assert_ne!(old.to_bytes(), new.to_bytes());
        assert_eq!(load(&path).unwrap().to_bytes(), new.to_bytes());
        assert_eq!(retired(&path), vec!["old+00000000+AA".to_string()]);
    }
}
