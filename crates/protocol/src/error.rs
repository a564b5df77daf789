//! The error contract: one enum of stable codes, each with its HTTP status, JSON-RPC code and
//! guidance. Codes are documented in `docs/errors.md` and never renamed.

use serde::{Deserialize, Serialize};

/// Every way the gateway can refuse or fail a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(strum::EnumIter))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // ingress
    ForbiddenHost,
    ForbiddenOrigin,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed,
    UnsupportedMediaType,
    NotAcceptable,
    RepeatedHeader,
    RequestTimeout,
    // identity
    MissingCredentials,
    InvalidCredentials,
    AmbiguousCredentials,
    CredentialExpired,
    CredentialRevoked,
    InsufficientScope,
    IdentityUnavailable,
    ReplayedRequest,
    IdentityMismatch,
    TenantDisabled,
    // protocol
    ParseError,
    InvalidRequest,
    BatchNotSupported,
    MethodNotFound,
    InvalidParams,
    SessionRequired,
    SessionNotFound,
    SessionForbidden,
    HeaderMismatch,
    UnsupportedProtocolVersion,
    InvalidMeta,
    RequestStateInvalid,
    RequestCancelled,
    // policy
    InvalidArguments,
    ToolQuarantined,
    UnknownTool,
    UnknownPrompt,
    UnknownResource,
    ToolNotAllowed,
    NotAllowed,
    ReadOnlyMode,
    WriteNotPermitted,
    DestructiveDenied,
    PolicyError,
    DecisionTimeout,
    // controls and limits
    Killed,
    RateLimited,
    QuotaExceeded,
    CircuitOpen,
    IdempotencyKeyRequired,
    IdempotencyConflict,
    InProgress,
    DuplicateRequest,
    ResultTooLarge,
    // audit
    AuditUnavailable,
    InvalidQuery,
    NoCheckpoint,
    // admin API
    AdminRoleInsufficient,
    InvalidBody,
    InvalidField,
    ObjectNotFound,
    AlreadyExists,
    StateConflict,
    PreconditionRequired,
    PreconditionFailed,
    ReloadFailed,
    // upstream
    UpstreamTimeout,
    UpstreamInvalidResponse,
    UpstreamUnavailable,
    UpstreamError,
    // process
    ShuttingDown,
    Overloaded,
    InternalError,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::ForbiddenHost,
        ErrorCode::ForbiddenOrigin,
        ErrorCode::PayloadTooLarge,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::NotAcceptable,
        ErrorCode::RepeatedHeader,
        ErrorCode::RequestTimeout,
        ErrorCode::MissingCredentials,
        ErrorCode::InvalidCredentials,
        ErrorCode::AmbiguousCredentials,
        ErrorCode::CredentialExpired,
        ErrorCode::CredentialRevoked,
        ErrorCode::InsufficientScope,
        ErrorCode::IdentityUnavailable,
        ErrorCode::ReplayedRequest,
        ErrorCode::IdentityMismatch,
        ErrorCode::TenantDisabled,
        ErrorCode::ParseError,
        ErrorCode::InvalidRequest,
        ErrorCode::BatchNotSupported,
        ErrorCode::MethodNotFound,
        ErrorCode::InvalidParams,
        ErrorCode::SessionRequired,
        ErrorCode::SessionNotFound,
        ErrorCode::SessionForbidden,
        ErrorCode::HeaderMismatch,
        ErrorCode::UnsupportedProtocolVersion,
        ErrorCode::InvalidMeta,
        ErrorCode::RequestStateInvalid,
        ErrorCode::RequestCancelled,
        ErrorCode::InvalidArguments,
        ErrorCode::ToolQuarantined,
        ErrorCode::UnknownTool,
        ErrorCode::UnknownPrompt,
        ErrorCode::UnknownResource,
        ErrorCode::ToolNotAllowed,
        ErrorCode::NotAllowed,
        ErrorCode::ReadOnlyMode,
        ErrorCode::WriteNotPermitted,
        ErrorCode::DestructiveDenied,
        ErrorCode::PolicyError,
        ErrorCode::DecisionTimeout,
        ErrorCode::Killed,
        ErrorCode::RateLimited,
        ErrorCode::QuotaExceeded,
        ErrorCode::CircuitOpen,
        ErrorCode::IdempotencyKeyRequired,
        ErrorCode::IdempotencyConflict,
        ErrorCode::InProgress,
        ErrorCode::DuplicateRequest,
        ErrorCode::ResultTooLarge,
        ErrorCode::AuditUnavailable,
        ErrorCode::InvalidQuery,
        ErrorCode::NoCheckpoint,
        ErrorCode::AdminRoleInsufficient,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidField,
        ErrorCode::ObjectNotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::StateConflict,
        ErrorCode::PreconditionRequired,
        ErrorCode::PreconditionFailed,
        ErrorCode::ReloadFailed,
        ErrorCode::UpstreamTimeout,
        ErrorCode::UpstreamInvalidResponse,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::UpstreamError,
        ErrorCode::ShuttingDown,
        ErrorCode::Overloaded,
        ErrorCode::InternalError,
    ];

    /// The stable snake_case name, as it appears on the wire and in the ledger.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            ForbiddenHost => "forbidden_host",
            ForbiddenOrigin => "forbidden_origin",
            PayloadTooLarge => "payload_too_large",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            UnsupportedMediaType => "unsupported_media_type",
            NotAcceptable => "not_acceptable",
            RepeatedHeader => "repeated_header",
            RequestTimeout => "request_timeout",
            MissingCredentials => "missing_credentials",
            InvalidCredentials => "invalid_credentials",
            AmbiguousCredentials => "ambiguous_credentials",
            CredentialExpired => "credential_expired",
            CredentialRevoked => "credential_revoked",
            InsufficientScope => "insufficient_scope",
            IdentityUnavailable => "identity_unavailable",
            ReplayedRequest => "replayed_request",
            IdentityMismatch => "identity_mismatch",
            TenantDisabled => "tenant_disabled",
            ParseError => "parse_error",
            InvalidRequest => "invalid_request",
            BatchNotSupported => "batch_not_supported",
            MethodNotFound => "method_not_found",
            InvalidParams => "invalid_params",
            SessionRequired => "session_required",
            SessionNotFound => "session_not_found",
            SessionForbidden => "session_forbidden",
            HeaderMismatch => "header_mismatch",
            UnsupportedProtocolVersion => "unsupported_protocol_version",
            InvalidMeta => "invalid_meta",
            RequestStateInvalid => "request_state_invalid",
            RequestCancelled => "request_cancelled",
            InvalidArguments => "invalid_arguments",
            ToolQuarantined => "tool_quarantined",
            UnknownTool => "unknown_tool",
            UnknownPrompt => "unknown_prompt",
            UnknownResource => "unknown_resource",
            ToolNotAllowed => "tool_not_allowed",
            NotAllowed => "not_allowed",
            ReadOnlyMode => "read_only_mode",
            WriteNotPermitted => "write_not_permitted",
            DestructiveDenied => "destructive_denied",
            PolicyError => "policy_error",
            DecisionTimeout => "decision_timeout",
            Killed => "killed",
            RateLimited => "rate_limited",
            QuotaExceeded => "quota_exceeded",
            CircuitOpen => "circuit_open",
            IdempotencyKeyRequired => "idempotency_key_required",
            IdempotencyConflict => "idempotency_conflict",
            InProgress => "in_progress",
            DuplicateRequest => "duplicate_request",
            ResultTooLarge => "result_too_large",
            AuditUnavailable => "audit_unavailable",
            InvalidQuery => "invalid_query",
            NoCheckpoint => "no_checkpoint",
            AdminRoleInsufficient => "admin_role_insufficient",
            InvalidBody => "invalid_body",
            InvalidField => "invalid_field",
            ObjectNotFound => "object_not_found",
            AlreadyExists => "already_exists",
            StateConflict => "state_conflict",
            PreconditionRequired => "precondition_required",
            PreconditionFailed => "precondition_failed",
            ReloadFailed => "reload_failed",
            UpstreamTimeout => "upstream_timeout",
            UpstreamInvalidResponse => "upstream_invalid_response",
            UpstreamUnavailable => "upstream_unavailable",
            UpstreamError => "upstream_error",
            ShuttingDown => "shutting_down",
            Overloaded => "overloaded",
            InternalError => "internal_error",
        }
    }

    /// HTTP status when the error ends the HTTP exchange itself (ingress, identity, transport).
    /// Errors inside a well-formed JSON-RPC exchange travel as JSON-RPC errors with HTTP 200.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            ForbiddenHost | ForbiddenOrigin | SessionForbidden => 403,
            PayloadTooLarge => 413,
            NotFound | SessionNotFound => 404,
            MethodNotAllowed => 405,
            UnsupportedMediaType => 415,
            NotAcceptable => 406,
            RequestTimeout => 408,
            MissingCredentials | InvalidCredentials | AmbiguousCredentials | CredentialExpired
            | CredentialRevoked | ReplayedRequest | IdentityMismatch => 401,
            InsufficientScope | TenantDisabled | AdminRoleInsufficient => 403,
            InvalidBody => 400,
            InvalidField | ReloadFailed => 422,
            ObjectNotFound => 404,
            AlreadyExists | StateConflict => 409,
            PreconditionRequired => 428,
            PreconditionFailed => 412,
            IdentityUnavailable => 503,
            ParseError
            | InvalidRequest
            | RepeatedHeader
            | BatchNotSupported
            | MethodNotFound
            | InvalidParams
            | SessionRequired
            | HeaderMismatch
            | UnsupportedProtocolVersion
            | InvalidMeta
            | RequestStateInvalid => 400,
            RequestCancelled | InProgress | DuplicateRequest => 409,
            IdempotencyKeyRequired => 400,
            IdempotencyConflict => 422,
            RateLimited | QuotaExceeded => 429,
            InvalidQuery => 400,
            NoCheckpoint => 404,
            InvalidArguments => 400,
            UnknownTool | UnknownPrompt | UnknownResource | ToolNotAllowed | NotAllowed
            | ToolQuarantined | ReadOnlyMode | WriteNotPermitted | DestructiveDenied
            | PolicyError => 403,
            AuditUnavailable | UpstreamUnavailable | ShuttingDown | Overloaded
            | DecisionTimeout | Killed | CircuitOpen => 503,
            UpstreamTimeout => 504,
            UpstreamInvalidResponse | UpstreamError | ResultTooLarge => 502,
            InternalError => 500,
        }
    }

    /// JSON-RPC error code: the standard ones where they fit, `-32000..-32099` (server errors) else.
    pub fn jsonrpc_code(self) -> i64 {
        use ErrorCode::*;
        match self {
            ParseError => -32700,
            InvalidRequest | BatchNotSupported | RepeatedHeader => -32600,
            MethodNotFound => -32601,
            InvalidParams
            | InvalidArguments
            | UnknownTool
            | UnknownPrompt
            | UnknownResource
            | RequestStateInvalid
            | InvalidMeta
            | IdempotencyKeyRequired
            | IdempotencyConflict => -32602,
            HeaderMismatch => -32020,
            UnsupportedProtocolVersion => -32022,
            RequestCancelled => -32007,
            InternalError => -32603,
            MissingCredentials | InvalidCredentials | AmbiguousCredentials | CredentialExpired
            | CredentialRevoked | InsufficientScope | IdentityUnavailable | ReplayedRequest
            | IdentityMismatch | TenantDisabled => -32001,
            SessionRequired | SessionNotFound | SessionForbidden => -32002,
            ToolNotAllowed | NotAllowed | ReadOnlyMode | WriteNotPermitted | DestructiveDenied
            | PolicyError | DecisionTimeout | ToolQuarantined => -32003,
            AuditUnavailable | NoCheckpoint => -32004,
            InvalidQuery => -32602,
            UpstreamTimeout
            | UpstreamInvalidResponse
            | UpstreamUnavailable
            | UpstreamError
            | CircuitOpen
            | ResultTooLarge => -32005,
            ShuttingDown | Overloaded | Killed | RateLimited | QuotaExceeded | InProgress
            | DuplicateRequest => -32006,
            ForbiddenHost | ForbiddenOrigin | PayloadTooLarge | NotFound | MethodNotAllowed
            | UnsupportedMediaType | NotAcceptable | RequestTimeout => -32000,
            AdminRoleInsufficient
            | InvalidBody
            | InvalidField
            | ObjectNotFound
            | AlreadyExists
            | StateConflict
            | PreconditionRequired
            | PreconditionFailed
            | ReloadFailed => -32000,
        }
    }

    /// What the caller can do about it.
    pub fn guidance(self) -> &'static str {
        use ErrorCode::*;
        match self {
            ForbiddenHost => "Connect using a host name listed in server.allowed_hosts.",
            ForbiddenOrigin => {
                "Browser origins must be listed in server.allowed_origins; non-browser clients should not send Origin."
            }
            PayloadTooLarge => "Send a smaller request; the limit is server.max_body_bytes.",
            NotFound => "The MCP endpoint is at the configured base path (default /mcp).",
            MethodNotAllowed => "Use POST for JSON-RPC messages on the MCP endpoint.",
            UnsupportedMediaType => "Send the body as Content-Type: application/json.",
            NotAcceptable => "Accept application/json and text/event-stream.",
            RequestTimeout => {
                "Send the whole request promptly; the limits are server.header_read_timeout and server.body_read_timeout."
            }
            RepeatedHeader => {
                "Send each credential, host, origin, session and protocol header at most once."
            }
            MissingCredentials => {
                "Send an API key as 'Authorization: Bearer <key>' or 'X-MCP-KEY: <key>', or a token of a trusted issuer as 'Authorization: Bearer <token>'."
            }
            InvalidCredentials => "Check the API key; create one with 'portcullis keys create'.",
            AmbiguousCredentials => {
                "Send exactly one credential: Authorization or X-MCP-KEY, not both or several kinds."
            }
            CredentialExpired => "The key has expired; ask an operator for a new one.",
            CredentialRevoked => "The key was revoked; ask an operator for a new one.",
            InsufficientScope => {
                "The token lacks a scope this gateway requires (error.data.scope); get a token with it from the authorization server."
            }
            IdentityUnavailable => {
                "The token's issuer keys could not be fetched, so it cannot be checked; retry later."
            }
            ReplayedRequest => {
                "This signature was used before; sign every request anew, with the current time."
            }
            IdentityMismatch => {
                "The client certificate and the other credential name different actors; send the credential of the certificate's actor."
            }
            TenantDisabled => "The key's tenant is disabled; ask an operator to enable it.",
            ParseError => "The body must be one JSON-RPC 2.0 message in valid JSON.",
            InvalidRequest => {
                "Send a JSON-RPC 2.0 object with jsonrpc \"2.0\", a method and an id."
            }
            BatchNotSupported => {
                "JSON-RPC batches are not part of MCP; send one message per request."
            }
            MethodNotFound => "The gateway does not serve this method.",
            InvalidParams => "Check the method's params against the MCP specification.",
            SessionRequired => {
                "Call initialize first and send the Mcp-Session-Id header it returns."
            }
            SessionNotFound => "The session expired or never existed; initialize a new one.",
            SessionForbidden => "A session can only be used by the principal that created it.",
            HeaderMismatch => {
                "Send MCP-Protocol-Version, Mcp-Method and Mcp-Name headers equal to the body's values."
            }
            UnsupportedProtocolVersion => {
                "Retry with one of the revisions listed in error.data.supported."
            }
            InvalidMeta => {
                "Every request of revision 2026-07-28 needs _meta with io.modelcontextprotocol/protocolVersion and clientCapabilities."
            }
            RequestStateInvalid => {
                "The requestState is unknown, expired or not yours; send the original request again without it."
            }
            RequestCancelled => "The request was cancelled before it completed.",
            InvalidArguments => {
                "The arguments do not match the tool's input schema; error.data.errors names each place (JSON pointer) and rule at fault."
            }
            ToolQuarantined => {
                "The tool is quarantined until an operator checks it (its definition cannot be used as it is); call tools/list for the tools you may use."
            }
            UnknownTool => "Call tools/list to see the tools your role may use.",
            UnknownPrompt => "Call prompts/list to see the prompts your role may use.",
            UnknownResource => {
                "Call resources/list or resources/templates/list to see the resources your role may read."
            }
            ToolNotAllowed => "Your role does not allow this tool; ask an operator for a grant.",
            NotAllowed => {
                "Your role does not allow this prompt or resource; ask an operator for a grant."
            }
            ReadOnlyMode => {
                "The gateway (or your tenant) is in read-only mode; writes run only as dry-run until an operator sets policy.mode = \"enforce\" or lifts the read-only switch."
            }
            WriteNotPermitted => {
                "Your role lacks allow_write; the call can still be previewed as a dry-run."
            }
            DestructiveDenied => "Destructive tools need a role with allow_destructive.",
            PolicyError => {
                "The policy could not be evaluated, so the call was denied; tell an operator."
            }
            DecisionTimeout => {
                "The gateway could not decide in time, so the call was denied and not forwarded; retry later."
            }
            Killed => {
                "An operator stopped this with a kill switch (error.data.reason names it); retry once it is lifted."
            }
            RateLimited => {
                "Too many calls: retry after error.data.retryAfterMs milliseconds (error.data.limit names the limit)."
            }
            QuotaExceeded => {
                "The quota is used up until error.data.resetsAtMs (error.data.quota names it); ask an operator for more."
            }
            CircuitOpen => {
                "The tool's upstream kept failing, so its calls are paused; retry after error.data.retryAfterMs."
            }
            IdempotencyKeyRequired => {
                "Send an Idempotency-Key header (or _meta[\"io.portcullis/idempotencyKey\"]) with live write and destructive calls, and the same key when you retry."
            }
            IdempotencyConflict => {
                "This idempotency key was used for a different call; use a new key for a new call."
            }
            InProgress => {
                "The first call with this idempotency key has not finished; retry later with the same key to get its result."
            }
            DuplicateRequest => {
                "The same call was just made; wait for error.data.windowMs, or send it with an idempotency key to get its result."
            }
            ResultTooLarge => {
                "The tool's result exceeded the gateway's cap for it; ask for less (see the tool's arguments)."
            }
            AuditUnavailable => {
                "The audit record could not be written, so nothing was forwarded; retry later."
            }
            InvalidQuery => {
                "Check the query parameters: decimal numbers within the ledger's size (see docs/ledger.md)."
            }
            NoCheckpoint => {
                "No checkpoint has been signed yet; one is signed within audit.checkpoint_interval of the first record."
            }
            AdminRoleInsufficient => {
                "This admin API action needs a role your admin key lacks; the reason names it."
            }
            InvalidBody => "Send the admin API a JSON object body as documented in docs/admin.md.",
            InvalidField => "A field of the request is not acceptable; the reason names it.",
            ObjectNotFound => "No such object; list the collection to see what exists.",
            StateConflict => {
                "The object's state does not allow this (a revoked key cannot be rotated, say); read it again."
            }
            AlreadyExists => {
                "An object with this name exists; choose another name or update the existing one."
            }
            PreconditionRequired => "Send If-Match with the ETag of the object as last read.",
            PreconditionFailed => {
                "The object changed since it was read; read it again and retry with its new ETag."
            }
            ReloadFailed => {
                "The config file is invalid (error.data.errors lists why); the last good config keeps serving."
            }
            UpstreamTimeout => "The tool server did not answer in time; retry later.",
            UpstreamInvalidResponse => {
                "The tool server answered with something that is not valid MCP; tell an operator."
            }
            UpstreamUnavailable => "The tool server is not reachable now; retry later.",
            UpstreamError => "The tool server returned an error; see reason.",
            ShuttingDown => "The gateway is shutting down; retry against another replica.",
            Overloaded => "The gateway is at a capacity limit; retry later.",
            InternalError => "Unexpected gateway error; quote the correlationId to an operator.",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error: `{code, reason, correlationId, guidance}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub reason: String,
    #[serde(rename = "correlationId")]
    pub correlation_id: String,
    pub guidance: String,
}

impl ErrorBody {
    pub fn new(
        code: ErrorCode,
        reason: impl Into<String>,
        correlation_id: impl Into<String>,
    ) -> Self {
        ErrorBody {
            code,
            reason: reason.into(),
            correlation_id: correlation_id.into(),
            guidance: code.guidance().to_string(),
        }
    }
}

/// The table of codes as it appears in `docs/errors.md`.
pub fn markdown_table() -> String {
    let mut out = String::from("| code | HTTP | JSON-RPC | guidance |\n|---|---|---|---|\n");
    for c in ErrorCode::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            c.as_str(),
            c.http_status(),
            c.jsonrpc_code(),
            c.guidance()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_errors_md_lists_every_code_as_the_code_does() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md"))
                .expect("docs/errors.md");
        let table = markdown_table();
        assert!(
            doc.contains(&table),
            "docs/errors.md is out of date; its table must be exactly:\n{table}"
        );
    }

    #[test]
    fn all_lists_every_code_in_declaration_order() {
        use strum::IntoEnumIterator;
        let declared: Vec<ErrorCode> = ErrorCode::iter().collect();
        assert_eq!(
            declared,
            ErrorCode::ALL,
            "ErrorCode::ALL (and so docs/errors.md) must list every variant"
        );
    }

    #[test]
    fn names_round_trip_through_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, *code);
        }
    }

    #[test]
    fn every_code_has_guidance_and_an_error_status() {
        for code in ErrorCode::ALL {
            assert!(!code.guidance().is_empty(), "{code}");
            assert!(code.http_status() >= 400, "{code}");
        }
    }
}
