//! Audit plane, pure part: the ledger record, its canonical encoding, and the Merkle tree over
//! records (RFC 6962 hashing, proofs, the incremental frontier), signed checkpoints (C2SP signed
//! notes) and the export bundle with its offline verification. No I/O here.
#![forbid(unsafe_code)]

pub mod canonical;
mod error;
pub mod export;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod record;

pub use error::LedgerError;
pub use record::{Decision, RECORD_VERSION, RECORD_VERSIONS, Record, RecordKind};
