//! Roles: which tools a principal may see and call, and whether it may write or destroy.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

#[derive(Debug, thiserror::Error)]
#[error("invalid glob '{pattern}': {message}")]
pub struct GlobError {
    pub pattern: String,
    pub message: String,
}

/// Globs over namespaced tool names; `*` does not cross the namespace separator's meaning on
/// purpose (it matches any characters), `?` one character, `[..]` classes.
pub(crate) fn compile_glob(pattern: &str) -> Result<Glob, GlobError> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map_err(|e| GlobError {
            pattern: pattern.to_string(),
            message: e.kind().to_string(),
        })
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub allow_patterns: Vec<String>,
    allow: GlobSet,
    pub allow_write: bool,
    pub allow_destructive: bool,
}

impl Role {
    pub fn new(
        name: &str,
        allow: &[String],
        allow_write: bool,
        allow_destructive: bool,
    ) -> Result<Role, GlobError> {
        let mut b = GlobSetBuilder::new();
        for p in allow {
            b.add(compile_glob(p)?);
        }
        let set = b.build().map_err(|e| GlobError {
            pattern: allow.join(","),
            message: e.to_string(),
        })?;
        Ok(Role {
            name: name.to_string(),
            allow_patterns: allow.to_vec(),
            allow: set,
            allow_write,
            allow_destructive,
        })
    }

    /// True if one of the role's allow globs names the tool.
    pub fn allows(&self, namespaced_tool: &str) -> bool {
        self.allow.is_match(namespaced_tool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_namespaced_names() {
        let r = Role::new(
            "r",
            &["demo.notes_*".into(), "other.echo".into()],
            false,
            false,
        )
        .unwrap();
        assert!(r.allows("demo.notes_read"));
        assert!(r.allows("other.echo"));
        assert!(!r.allows("other.echo2"));
        assert!(!r.allows("demo.echo"));
    }

    #[test]
    fn empty_allow_list_allows_nothing() {
        let r = Role::new("none", &[], true, true).unwrap();
        assert!(!r.allows("demo.echo"));
    }

    #[test]
    fn bad_globs_are_refused() {
        assert!(Role::new("r", &["demo.[".into()], false, false).is_err());
    }
}
