//! Identity: who is calling. This crate holds the pure parts (credential formats, hashing,
//! the principal); the lookup against the store happens in the gateway's identity stage.
#![forbid(unsafe_code)]

pub mod actor;
pub mod admin;
pub mod apikey;
pub mod jwt;
pub mod principal;
#[cfg(any(test, feature = "test-keys"))]
pub mod test_keys;

pub use admin::{AdminKeyRecord, AdminRole};
pub use apikey::{ApiKeyError, GeneratedKey, KeyRecord, KeyStatus, ParsedKey};
pub use principal::{AuthMethod, Principal, valid_label};
