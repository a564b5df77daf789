//! Tool and upstream names, and namespacing (`upstream.tool`).

/// Separator between upstream name and tool name in federated tool names (`demo.notes_read`).
pub const NAMESPACE_SEPARATOR: char = '.';

/// MCP tool-name rule (2025-11-25): 1 to 128 characters of `A-Z a-z 0-9 _ - .`.
pub fn is_valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Upstream names: 1 to 64 characters of `a-z 0-9 _ -` (no separator, so names cannot collide).
pub fn is_valid_upstream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

/// `namespace.tool`; just `tool` for an upstream mounted without a namespace.
pub fn namespaced(namespace: &str, tool: &str) -> String {
    if namespace.is_empty() {
        tool.to_string()
    } else {
        format!("{namespace}{NAMESPACE_SEPARATOR}{tool}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_follow_the_spec() {
        assert!(is_valid_tool_name("notes_read"));
        assert!(is_valid_tool_name("demo.notes-read.v2"));
        assert!(!is_valid_tool_name(""));
        assert!(!is_valid_tool_name("has space"));
        assert!(!is_valid_tool_name("slash/name"));
        assert!(!is_valid_tool_name(&"x".repeat(129)));
    }

    #[test]
    fn namespacing_round_trips_and_cannot_collide() {
        assert_eq!(namespaced("demo", "notes.read"), "demo.notes.read");
        assert!(!is_valid_upstream_name("a.b"));
        assert!(is_valid_upstream_name("demo-2"));
        assert_eq!(namespaced("", "t"), "t");
    }
}
