//! Fuzz targets for every parser that reads bytes from outside the gateway: one function per
//! target that feeds arbitrary bytes to the parser and checks what must hold for any input (no
//! panic, and the parser's own properties: round trips, agreement between parsers, fail-closed
//! answers). `fuzz/` drives them with libFuzzer; `tests/replay.rs` replays the committed
//! corpus through them in the ordinary test suite.
#![forbid(unsafe_code)]

mod config;
pub mod fixtures;
mod identity;
mod ingress;
mod ledger;
mod protocol;
mod query;
mod sse;
mod upstream;
mod uri;

pub use config::config;
pub use identity::jwt_token;
pub use ingress::{ingress_host_origin, tools_call_params};
pub use ledger::{ledger_canonical, ledger_export, ledger_note};
pub use protocol::{jsonrpc_decode, mcp_header_value};
pub use query::ledger_query;
pub use sse::sse_event_id;
pub use upstream::upstream_classify;
pub use uri::{uri_normalize, uri_template};

/// A fuzz target: panics when the input breaks what must hold for any input.
pub type Target = fn(&[u8]);

/// Every target by name; the name is also its corpus directory (`fuzz/corpus/<name>/`) and its
/// libFuzzer binary (`fuzz/fuzz_targets/<name>.rs`).
pub const TARGETS: &[(&str, Target)] = &[
    ("jsonrpc_decode", jsonrpc_decode),
    ("mcp_header_value", mcp_header_value),
    ("ingress_host_origin", ingress_host_origin),
    ("tools_call_params", tools_call_params),
    ("uri_template", uri_template),
    ("uri_normalize", uri_normalize),
    ("ledger_query", ledger_query),
    ("sse_event_id", sse_event_id),
    ("upstream_classify", upstream_classify),
    ("ledger_canonical", ledger_canonical),
    ("ledger_export", ledger_export),
    ("ledger_note", ledger_note),
    ("config", config),
    ("jwt_token", jwt_token),
];

/// The input up to its first newline, and the rest (`None` when there is no newline).
pub(crate) fn split_line(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    }
}
