//! The per-call decision. Pure: (principal's role, tool, class, mode, caller's dry-run wish)
//! in, a `Verdict` out. Anything the policy cannot place is denied.

use std::collections::HashMap;

use portcullis_protocol::ErrorCode;
use serde::{Deserialize, Serialize};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward the call.
    Allow,
    /// Forward nothing; answer with a preview.
    DryRun,
    /// Refuse, with a stable code and a reason.
    Deny(ErrorCode, String),
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub mode: Mode,
    pub roles: HashMap<String, Role>,
    pub classes: ClassRules,
}

impl Policy {
    pub fn classify(&self, tool: &str, annotations: Option<&serde_json::Value>) -> ToolClass {
        self.classes.classify(tool, annotations)
    }

    /// May a principal with `role` see `tool` in `tools/list`? Only if some call of it could
    /// be allowed or previewed: allowed by the role's globs, and not a destructive tool the role
    /// can never run.
    pub fn visible(&self, role: &str, tool: &str, class: ToolClass) -> bool {
        let Some(r) = self.roles.get(role) else {
            return false;
        };
        r.allows(tool) && (class != ToolClass::Destructive || r.allow_destructive)
    }

    /// May a principal with `role` see and use the prompt or resource named `name` (prompts by
    /// namespaced name, resources as `<namespace>.<uri>`)? Only if the role's globs allow it.
    pub fn allows(&self, role: &str, name: &str) -> bool {
        self.roles.get(role).is_some_and(|r| r.allows(name))
    }

    /// Decide one `tools/call`. `live` is true only when the caller explicitly asked for
    /// `dry_run: false`; every non-read call is a dry-run otherwise.
    pub fn decide(&self, role: &str, tool: &str, class: ToolClass, live: bool) -> Verdict {
        let Some(r) = self.roles.get(role) else {
            return Verdict::Deny(
                ErrorCode::PolicyError,
                format!("role '{role}' is not defined in the policy"),
            );
        };
        if !r.allows(tool) {
            return Verdict::Deny(
                ErrorCode::ToolNotAllowed,
                format!("role '{role}' may not call '{tool}'"),
            );
        }
        match class {
            ToolClass::Read => Verdict::Allow,
            ToolClass::Write | ToolClass::Destructive => {
                if class == ToolClass::Destructive && !r.allow_destructive {
                    return Verdict::Deny(
                        ErrorCode::DestructiveDenied,
                        format!(
                            "'{tool}' is destructive and role '{role}' lacks allow_destructive"
                        ),
                    );
                }
                if !live {
                    return Verdict::DryRun;
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
    }
}

#[cfg(test)]
mod tests;
