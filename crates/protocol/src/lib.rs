//! Data plane, pure part: JSON-RPC 2.0 / MCP message types, strict decoding and the error
//! contract. No I/O here.
#![forbid(unsafe_code)]

pub mod error;
pub mod jsonrpc;
pub mod mcp;
pub mod strict;

pub use error::{ErrorBody, ErrorCode};
pub use jsonrpc::{DecodeError, Id, Message, Notification, Request, Response};
