//! The role/glob engine: the operator's roles (which names a role may use, whether it may write
//! or destroy) and the global mode, answering the policy engine interface. Pure: a request in,
//! a verdict out. Anything it cannot place is denied.

use std::collections::HashMap;

use portcullis_protocol::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::engine::{Action, EngineError, PolicyEngine, PolicyRequest, Verdict};
use crate::{ClassRules, Role, ToolClass};

/// Global mode. `ReadOnly` is the default: only read tools run; writes can still be previewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    ReadOnly,
    Enforce,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadOnly => "read-only",
            Mode::Enforce => "enforce",
        }
    }
}

/// The role engine's data: mode, roles and the operator's class rules.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub mode: Mode,
    pub roles: HashMap<String, Role>,
    pub classes: ClassRules,
}

impl Policy {
    /// This policy with `grants` — `(role, pattern)` pairs kept outside the config file — added
    /// to the allow patterns of their roles. A grant for a role this policy does not define
    /// changes nothing and is returned, as is one whose glob does not compile.
    pub fn with_grants(&self, grants: &[(String, String)]) -> (Policy, Vec<(String, String)>) {
        let mut out = self.clone();
        let mut unused = Vec::new();
        for (role, pattern) in grants {
            let Some(r) = out.roles.get(role) else {
                unused.push((role.clone(), pattern.clone()));
                continue;
            };
            if r.allow_patterns.contains(pattern) {
                continue;
            }
            let mut allow = r.allow_patterns.clone();
            allow.push(pattern.clone());
            match Role::new(role, &allow, r.allow_write, r.allow_destructive) {
                Ok(grown) => {
                    out.roles.insert(role.clone(), grown);
                }
                Err(_) => unused.push((role.clone(), pattern.clone())),
            }
        }
        (out, unused)
    }

    pub fn classify(&self, tool: &str, annotations: Option<&serde_json::Value>) -> ToolClass {
        self.classes.classify(tool, annotations)
    }

    /// A `tools/call`: the role's globs must name the tool; a destructive tool needs
    /// `allow_destructive` even for a preview; a live write or destructive call also needs
    /// `enforce` mode, and a write `allow_write`. A preview (`live` false) of a tool the role may
    /// call is allowed here: whether it is only previewed is the dry-run stage's business.
    fn call_tool(&self, r: &Role, req: &PolicyRequest<'_>) -> Verdict {
        let (role, tool) = (req.subject.role, req.target.name);
        let class = req.target.class.unwrap_or(ToolClass::Destructive);
        if !r.allows(tool) {
            return Verdict::Deny(
                ErrorCode::ToolNotAllowed,
                format!("role '{role}' may not call '{tool}'"),
            );
        }
        if class == ToolClass::Destructive && !r.allow_destructive {
            return Verdict::Deny(
                ErrorCode::DestructiveDenied,
                format!("'{tool}' is destructive and role '{role}' lacks allow_destructive"),
            );
        }
        if class == ToolClass::Read || !req.context.live {
            return Verdict::Allow;
        }
        if self.mode == Mode::ReadOnly {
            return Verdict::Deny(
                ErrorCode::ReadOnlyMode,
                format!(
                    "'{tool}' is a {} tool and the gateway is read-only",
                    class.as_str()
                ),
            );
        }
        if class == ToolClass::Write && !r.allow_write {
            return Verdict::Deny(
                ErrorCode::WriteNotPermitted,
                format!("role '{role}' lacks allow_write for '{tool}'"),
            );
        }
        Verdict::Allow
    }
}

impl PolicyEngine for Policy {
    fn name(&self) -> &'static str {
        "roles"
    }

    fn evaluate(&self, req: &PolicyRequest<'_>) -> Result<Verdict, EngineError> {
        let role = req.subject.role;
        let Some(r) = self.roles.get(role) else {
            return Ok(Verdict::Deny(
                ErrorCode::PolicyError,
                format!("role '{role}' is not defined in the policy"),
            ));
        };
        Ok(match req.action {
            Action::CallTool => self.call_tool(r, req),
            Action::GetPrompt
            | Action::ReadResource
            | Action::SubscribeResource
            | Action::Complete => {
                if r.allows(req.target.name) {
                    Verdict::Allow
                } else {
                    Verdict::Deny(
                        ErrorCode::NotAllowed,
                        format!(
                            "role '{role}' may not use '{}'",
                            req.target.name.escape_default()
                        ),
                    )
                }
            }
            // Leaving a subscription and choosing a log level are open to every defined role.
            Action::UnsubscribeResource | Action::SetLogLevel => Verdict::Allow,
        })
    }
}

#[cfg(test)]
mod tests;
