//! Audit plane, pure part: the ledger record, its canonical encoding, and the Merkle tree over
//! records (RFC 6962 hashing, proofs, the incremental frontier). No I/O here.
#![forbid(unsafe_code)]

pub mod canonical;
mod error;
pub mod merkle;
pub mod record;

pub use error::LedgerError;
pub use record::{Decision, RECORD_VERSION, Record, RecordKind};
