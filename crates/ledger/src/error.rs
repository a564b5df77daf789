#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("unknown record encoding version {0}")]
    UnknownVersion(u16),
    #[error("record is not valid JSON for this version: {0}")]
    Malformed(String),
    #[error("record bytes are not in canonical form")]
    NotCanonical,
    #[error("tree state is inconsistent: {0}")]
    BadFrontier(String),
}
