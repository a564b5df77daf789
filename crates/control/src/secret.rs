//! Secret references: config never holds a secret, only where to find it (`env:NAME`,
//! `file:PATH`). They are resolved when an upstream is started, never logged.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

impl SecretRef {
    /// Parse `env:NAME` or `file:PATH`; anything else is not a reference.
    pub fn parse(s: &str) -> Option<SecretRef> {
        if let Some(name) = s.strip_prefix("env:") {
            let ok =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return ok.then(|| SecretRef::Env(name.to_string()));
        }
        if let Some(path) = s.strip_prefix("file:") {
            return (!path.is_empty()).then(|| SecretRef::File(PathBuf::from(path)));
        }
        None
    }

    /// Read the value. A file's trailing newline is dropped.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        match self {
            SecretRef::Env(name) => {
                env(name).ok_or_else(|| format!("environment variable {name} is not set"))
            }
            SecretRef::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
        }
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env(n) => write!(f, "env:{n}"),
            SecretRef::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_resolve() {
        assert_eq!(
            SecretRef::parse("env:TOKEN"),
            Some(SecretRef::Env("TOKEN".into()))
        );
        assert_eq!(SecretRef::parse("env:"), None);
        assert_eq!(SecretRef::parse("env:A-B"), None);
        assert_eq!(SecretRef::parse("file:"), None);
        assert_eq!(SecretRef::parse("plain"), None);
        let env = |n: &str| (n == "TOKEN").then(|| "s3cret".to_string());
        assert_eq!(
            SecretRef::Env("TOKEN".into()).resolve(&env).unwrap(),
            "s3cret"
        );
        assert!(SecretRef::Env("OTHER".into()).resolve(&env).is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "abc\n").unwrap();
        assert_eq!(SecretRef::File(p).resolve(&env).unwrap(), "abc");
        assert!(
            SecretRef::File(dir.path().join("missing"))
                .resolve(&env)
                .is_err()
        );
    }
}
