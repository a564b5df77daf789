//! Log notifications (`notifications/message`), filtered by the level the request carries in
//! its `_meta` (2026-07-28) or else the level the session set with `logging/setLevel`.

use rmcp::{
    RoleServer,
    model::{LoggingLevel, LoggingMessageNotificationParam},
    service::RequestContext,
};
use serde_json::Value;

use super::ConformanceServer;

/// The level a session starts with, before any `logging/setLevel`.
pub const DEFAULT_LEVEL: LoggingLevel = LoggingLevel::Info;

/// Name of the logger in every log notification of the catalog.
pub const LOGGER: &str = "conformance";

/// RFC 5424 severity order: debug is the least severe, emergency the most.
pub fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

impl ConformanceServer {
    /// Send `data` as a log notification if `level` is at or above the request's or else the
    /// session's level. Returns whether it was sent; a closed connection is not an error for
    /// the tool.
    pub(super) async fn log(
        &self,
        ctx: &RequestContext<RoleServer>,
        level: LoggingLevel,
        data: impl Into<Value>,
    ) -> bool {
        let threshold = ctx.meta.log_level().unwrap_or_else(|| {
            *self
                .session
                .log_level
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        });
        if severity(level) < severity(threshold) {
            return false;
        }
        let param = LoggingMessageNotificationParam::new(level, data.into()).with_logger(LOGGER);
        match ctx.peer.notify_logging_message(param).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!("log notification not delivered: {e}");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_is_strictly_increasing() {
        let order = [
            LoggingLevel::Debug,
            LoggingLevel::Info,
            LoggingLevel::Notice,
            LoggingLevel::Warning,
            LoggingLevel::Error,
            LoggingLevel::Critical,
            LoggingLevel::Alert,
            LoggingLevel::Emergency,
        ];
        for pair in order.windows(2) {
            assert!(severity(pair[0]) < severity(pair[1]), "{pair:?}");
        }
    }
}
