use portcullis_protocol::ErrorCode;
use serde_json::Value;

/// How a call to an upstream failed. Each maps to one stable error code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream did not answer in time")]
    Timeout,
    #[error("the upstream's answer is not valid MCP: {0}")]
    InvalidResponse(String),
    #[error("the upstream is unavailable: {0}")]
    Unavailable(String),
    #[error("the call was cancelled before the upstream answered")]
    Cancelled,
    #[error("the upstream answered with error {code}: {message}")]
    Rpc {
        code: i64,
        message: String,
        data: Option<Value>,
    },
}

impl UpstreamError {
    pub fn code(&self) -> ErrorCode {
        match self {
            UpstreamError::Timeout => ErrorCode::UpstreamTimeout,
            UpstreamError::InvalidResponse(_) => ErrorCode::UpstreamInvalidResponse,
            UpstreamError::Unavailable(_) => ErrorCode::UpstreamUnavailable,
            UpstreamError::Rpc { .. } => ErrorCode::UpstreamError,
            UpstreamError::Cancelled => ErrorCode::RequestCancelled,
        }
    }
}
