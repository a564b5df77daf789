//! Roles: which tools a principal may see and call, and whether it may write or destroy.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

#[derive(Debug, thiserror::Error)]
#[error("invalid glob '{pattern}': {message}")]
pub struct GlobError {
    pub pattern: String,
    pub message: String,
}

/// Globs over policy names (`namespace.tool`, `namespace.prompt`, `namespace.<resource uri>`):
/// `?` one character, `[..]` classes. A pattern without `/` names whole items, and its `*`
/// matches any characters (`demo.*` is everything the `demo` upstream offers). A pattern with
/// a `/` is a path pattern over resource URIs: its `*` and `?` stay within one path segment and
/// `**` spans segments (`fs.file:///srv/reports/*` is the files in `reports`,
/// `fs.file:///srv/reports/**` everything below it). URIs are normalised before they are
/// matched, so `..` and escapes cannot step outside a pattern.
pub(crate) fn compile_glob(pattern: &str) -> Result<Glob, GlobError> {
    GlobBuilder::new(pattern)
        .literal_separator(pattern.contains('/'))
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
    fn a_path_pattern_stays_within_its_segments() {
        let r = Role::new(
            "r",
            &[
                "fs.file:///srv/reports/*".into(),
                "fs.file:///srv/public/**".into(),
                "notes.*".into(),
            ],
            false,
            false,
        )
        .unwrap();
        assert!(r.allows("fs.file:///srv/reports/q1.csv"));
        assert!(
            !r.allows("fs.file:///srv/reports/private/q1.csv"),
            "'*' in a path pattern does not cross '/'"
        );
        assert!(!r.allows("fs.file:///srv/secrets"));
        assert!(r.allows("fs.file:///srv/public/a/b/c.txt"));
        assert!(!r.allows("fs.file:///srv/publicity"));
        assert!(
            r.allows("notes.note://host/a/b"),
            "a pattern without '/' names the whole namespace"
        );
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
