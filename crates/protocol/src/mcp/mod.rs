//! MCP vocabulary the gateway needs: protocol revisions and their eras, the reserved `_meta`
//! keys and HTTP headers, the method table, tool-name rules and namespacing. Pure.

mod headers;
mod method;
mod names;
pub mod uri;
mod version;

pub use headers::{HeaderValueError, decode_header_value};
pub use method::Method;
pub use names::{NAMESPACE_SEPARATOR, is_valid_tool_name, is_valid_upstream_name, namespaced};
pub use version::{
    Era, LATEST_LEGACY_VERSION, LEGACY_VERSIONS, MODERN_VERSIONS, era_of, is_supported,
    negotiate_legacy, supported_versions,
};

/// `_meta` key: the protocol revision of a request (2026-07-28 and later).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key: the client's capabilities for this request.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key: the client's name and version.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key: the log level the client wants for this request.
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// Result `_meta` key: the server's name and version.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// Notification `_meta` key: the `subscriptions/listen` request a notification belongs to.
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// The per-request keys a modern client puts in `_meta`, which a legacy upstream must not see.
pub const MODERN_REQUEST_META: &[&str] = &[
    META_PROTOCOL_VERSION,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_LOG_LEVEL,
];

pub const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";
pub const HEADER_SESSION_ID: &str = "mcp-session-id";
pub const HEADER_METHOD: &str = "mcp-method";
pub const HEADER_NAME: &str = "mcp-name";
pub const HEADER_LAST_EVENT_ID: &str = "last-event-id";

/// MCP log levels, least severe first (RFC 5424 names).
pub const LOG_LEVELS: &[&str] = &[
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// Rank of a log level (`debug` = 0), or `None` for an unknown name.
pub fn log_level_rank(level: &str) -> Option<usize> {
    LOG_LEVELS.iter().position(|l| *l == level)
}
