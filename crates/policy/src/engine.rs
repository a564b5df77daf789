//! The policy engine interface: `evaluate(request) -> verdict`, where the request names the
//! principal, the action, the resource and a context. The role/glob engine implements it
//! (`role_engine`); a call must be allowed by every engine configured ([`Engines`]).

use std::sync::Arc;

use portcullis_protocol::ErrorCode;
use serde_json::Value;

use crate::ToolClass;

/// What a principal asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    CallTool,
    GetPrompt,
    ReadResource,
    SubscribeResource,
    UnsubscribeResource,
    /// Ask for completions of a prompt's or a resource template's arguments.
    Complete,
    /// Set the level of log messages the gateway asks the upstreams for.
    SetLogLevel,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::CallTool => "call_tool",
            Action::GetPrompt => "get_prompt",
            Action::ReadResource => "read_resource",
            Action::SubscribeResource => "subscribe_resource",
            Action::UnsubscribeResource => "unsubscribe_resource",
            Action::Complete => "complete",
            Action::SetLogLevel => "set_log_level",
        }
    }
}

/// The caller, as policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub tenant: &'a str,
    pub agent: &'a str,
    pub role: &'a str,
    /// How the caller proved who it is (`api_key`, ...).
    pub auth_method: &'a str,
}

/// What is acted on: a namespaced tool or prompt, a resource as `<namespace>.<uri>`, or the
/// gateway itself (empty name).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub name: &'a str,
    /// The tool's class; `None` for what is not a tool (an unknown tool's class is never
    /// `None`: it is destructive).
    pub class: Option<ToolClass>,
}

/// Facts about the call beyond who, what and on what.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub arguments: &'a Value,
    /// The caller asked for a real run, not a dry-run preview.
    pub live: bool,
    /// Wall time of the request, ms since the epoch.
    pub time_ms: i64,
}

/// One question to the policy.
#[derive(Debug, Clone, Copy)]
pub struct PolicyRequest<'a> {
    pub subject: Subject<'a>,
    pub action: Action,
    pub target: Target<'a>,
    pub context: Context<'a>,
}

/// An engine's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refuse, with a stable code and a reason.
    Deny(ErrorCode, String),
}

impl Verdict {
    pub fn is_allow(&self) -> bool {
        matches!(self, Verdict::Allow)
    }
}

/// An engine that could not decide (a broken policy, an evaluation error). The caller denies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy engine '{engine}' failed: {message}")]
pub struct EngineError {
    pub engine: &'static str,
    pub message: String,
}

pub trait PolicyEngine: Send + Sync + 'static {
    /// Short name, for logs and errors.
    fn name(&self) -> &'static str;
    fn evaluate(&self, request: &PolicyRequest<'_>) -> Result<Verdict, EngineError>;
}

/// Every configured engine; a request is allowed only if each of them allows it. With no engine
/// at all nothing is allowed.
#[derive(Clone, Default)]
pub struct Engines {
    engines: Vec<Arc<dyn PolicyEngine>>,
}

impl Engines {
    pub fn new(engines: Vec<Arc<dyn PolicyEngine>>) -> Engines {
        Engines { engines }
    }

    /// The first denial (or failure) in engine order, else `Allow`.
    pub fn evaluate(&self, request: &PolicyRequest<'_>) -> Result<Verdict, EngineError> {
        if self.engines.is_empty() {
            return Ok(Verdict::Deny(
                ErrorCode::PolicyError,
                "no policy engine is configured".into(),
            ));
        }
        for e in &self.engines {
            match e.evaluate(request)? {
                Verdict::Allow => {}
                deny => return Ok(deny),
            }
        }
        Ok(Verdict::Allow)
    }

    /// True only if every engine allows (failures count as denials).
    pub fn allows(&self, request: &PolicyRequest<'_>) -> bool {
        matches!(self.evaluate(request), Ok(Verdict::Allow))
    }
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.engines.iter().map(|e| e.name()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Result<Verdict, EngineError>);

    impl PolicyEngine for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn evaluate(&self, _: &PolicyRequest<'_>) -> Result<Verdict, EngineError> {
            self.0.clone()
        }
    }

    fn request(args: &Value) -> PolicyRequest<'_> {
        PolicyRequest {
            subject: Subject {
                tenant: "t",
                agent: "a",
                role: "r",
                auth_method: "api_key",
            },
            action: Action::CallTool,
            target: Target {
                name: "demo.echo",
                class: Some(ToolClass::Read),
            },
            context: Context {
                arguments: args,
                live: false,
                time_ms: 0,
            },
        }
    }

    fn engines(list: Vec<Result<Verdict, EngineError>>) -> Engines {
        Engines::new(
            list.into_iter()
                .map(|v| Arc::new(Fixed(v)) as Arc<dyn PolicyEngine>)
                .collect(),
        )
    }

    #[test]
    fn every_engine_must_allow() {
        let args = Value::Null;
        let deny = Verdict::Deny(ErrorCode::NotAllowed, "no".into());
        let fail = EngineError {
            engine: "fixed",
            message: "broken".into(),
        };
        assert_eq!(
            engines(vec![Ok(Verdict::Allow), Ok(Verdict::Allow)]).evaluate(&request(&args)),
            Ok(Verdict::Allow)
        );
        assert_eq!(
            engines(vec![Ok(Verdict::Allow), Ok(deny.clone())]).evaluate(&request(&args)),
            Ok(deny.clone())
        );
        assert_eq!(
            engines(vec![Ok(deny.clone()), Err(fail.clone())]).evaluate(&request(&args)),
            Ok(deny)
        );
        let e = engines(vec![Ok(Verdict::Allow), Err(fail.clone())]);
        assert_eq!(e.evaluate(&request(&args)), Err(fail));
        assert!(!e.allows(&request(&args)));
    }

    #[test]
    fn no_engine_allows_nothing() {
        let args = Value::Null;
        let v = Engines::default().evaluate(&request(&args)).unwrap();
        assert!(matches!(v, Verdict::Deny(ErrorCode::PolicyError, _)));
    }
}
