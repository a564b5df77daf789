//! The methods a client may send, as one enum with an explicit `Unknown`.

/// A client-to-server method the gateway knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Initialize,
    Ping,
    ServerDiscover,
    ToolsList,
    ToolsCall,
    ResourcesList,
    ResourcesRead,
    ResourcesTemplatesList,
    ResourcesSubscribe,
    ResourcesUnsubscribe,
    PromptsList,
    PromptsGet,
    CompletionComplete,
    LoggingSetLevel,
    SubscriptionsListen,
    Unknown,
}

impl Method {
    pub fn parse(name: &str) -> Method {
        match name {
            "initialize" => Method::Initialize,
            "ping" => Method::Ping,
            "server/discover" => Method::ServerDiscover,
            "tools/list" => Method::ToolsList,
            "tools/call" => Method::ToolsCall,
            "resources/list" => Method::ResourcesList,
            "resources/read" => Method::ResourcesRead,
            "resources/templates/list" => Method::ResourcesTemplatesList,
            "resources/subscribe" => Method::ResourcesSubscribe,
            "resources/unsubscribe" => Method::ResourcesUnsubscribe,
            "prompts/list" => Method::PromptsList,
            "prompts/get" => Method::PromptsGet,
            "completion/complete" => Method::CompletionComplete,
            "logging/setLevel" => Method::LoggingSetLevel,
            "subscriptions/listen" => Method::SubscriptionsListen,
            _ => Method::Unknown,
        }
    }

    /// The wire name; `unknown` for [`Method::Unknown`] (a bounded metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Initialize => "initialize",
            Method::Ping => "ping",
            Method::ServerDiscover => "server/discover",
            Method::ToolsList => "tools/list",
            Method::ToolsCall => "tools/call",
            Method::ResourcesList => "resources/list",
            Method::ResourcesRead => "resources/read",
            Method::ResourcesTemplatesList => "resources/templates/list",
            Method::ResourcesSubscribe => "resources/subscribe",
            Method::ResourcesUnsubscribe => "resources/unsubscribe",
            Method::PromptsList => "prompts/list",
            Method::PromptsGet => "prompts/get",
            Method::CompletionComplete => "completion/complete",
            Method::LoggingSetLevel => "logging/setLevel",
            Method::SubscriptionsListen => "subscriptions/listen",
            Method::Unknown => "unknown",
        }
    }

    /// Which body field `Mcp-Name` mirrors for this method, if any.
    pub fn name_field(self) -> Option<&'static str> {
        match self {
            Method::ToolsCall | Method::PromptsGet => Some("name"),
            Method::ResourcesRead => Some("uri"),
            _ => None,
        }
    }

    /// Whether a legacy client may send it (inside a session, except `initialize`).
    pub fn in_legacy(self) -> bool {
        !matches!(
            self,
            Method::ServerDiscover | Method::SubscriptionsListen | Method::Unknown
        )
    }

    /// Whether a modern client may send it.
    pub fn in_modern(self) -> bool {
        !matches!(
            self,
            Method::Initialize
                | Method::Ping
                | Method::LoggingSetLevel
                | Method::ResourcesSubscribe
                | Method::ResourcesUnsubscribe
                | Method::Unknown
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknowns_stay_unknown() {
        for m in [
            Method::Initialize,
            Method::ToolsCall,
            Method::ResourcesTemplatesList,
            Method::SubscriptionsListen,
        ] {
            assert_eq!(Method::parse(m.as_str()), m);
        }
        assert_eq!(Method::parse("tools/call "), Method::Unknown);
        assert_eq!(Method::parse("TOOLS/CALL"), Method::Unknown);
        assert!(!Method::Ping.in_modern() && Method::Ping.in_legacy());
        assert!(Method::ServerDiscover.in_modern() && !Method::ServerDiscover.in_legacy());
        assert_eq!(Method::ResourcesRead.name_field(), Some("uri"));
    }
}
