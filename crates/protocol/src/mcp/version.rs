//! Protocol revisions and their eras. Legacy revisions open a session with `initialize`;
//! modern ones (2026-07-28 and later) carry their revision in every request's `_meta`.

/// Legacy revisions the gateway speaks to clients, newest first.
pub const LEGACY_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];
/// Modern revisions the gateway speaks to clients, newest first.
pub const MODERN_VERSIONS: &[&str] = &["2026-07-28"];
/// What `initialize` answers when the client asks for a revision the gateway does not know.
pub const LATEST_LEGACY_VERSION: &str = "2025-11-25";

/// How a revision carries its session and metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize`, `Mcp-Session-Id`, GET stream, resumable SSE.
    Legacy,
    /// Stateless: per-request `_meta`, `server/discover`, `subscriptions/listen`, MRTR.
    Modern,
}

/// The era of a revision string: dates from 2026-07-28 on are modern. Revision strings are
/// `YYYY-MM-DD`, so they order as strings.
pub fn era_of(version: &str) -> Era {
    if version >= "2026-07-28" {
        Era::Modern
    } else {
        Era::Legacy
    }
}

/// Whether the gateway speaks `version` to clients.
pub fn is_supported(version: &str) -> bool {
    MODERN_VERSIONS.contains(&version) || LEGACY_VERSIONS.contains(&version)
}

/// Every revision the gateway speaks, newest first.
pub fn supported_versions() -> Vec<&'static str> {
    MODERN_VERSIONS
        .iter()
        .chain(LEGACY_VERSIONS)
        .copied()
        .collect()
}

/// The revision to answer `initialize` with: the client's if it is a legacy revision the
/// gateway speaks, else the latest legacy one (a modern revision has no `initialize`).
pub fn negotiate_legacy(requested: Option<&str>) -> &'static str {
    requested
        .and_then(|r| LEGACY_VERSIONS.iter().find(|v| **v == r).copied())
        .unwrap_or(LATEST_LEGACY_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_the_clients_known_legacy_version() {
        assert_eq!(negotiate_legacy(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate_legacy(Some("1999-01-01")), LATEST_LEGACY_VERSION);
        assert_eq!(negotiate_legacy(Some("2026-07-28")), LATEST_LEGACY_VERSION);
        assert_eq!(negotiate_legacy(None), LATEST_LEGACY_VERSION);
    }

    #[test]
    fn eras_and_support() {
        assert_eq!(era_of("2025-11-25"), Era::Legacy);
        assert_eq!(era_of("2026-07-28"), Era::Modern);
        assert_eq!(era_of("2027-01-01"), Era::Modern);
        assert!(is_supported("2026-07-28") && is_supported("2025-03-26"));
        assert!(!is_supported("2024-11-05") && !is_supported("nonsense"));
        assert_eq!(supported_versions()[0], "2026-07-28");
    }
}
