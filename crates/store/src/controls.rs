//! The control store (control plane): kill switches and tool pins, the operator's runtime
//! decisions that every replica must see.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// What a kill switch stops.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "scope", content = "name", rename_all = "snake_case")]
pub enum SwitchScope {
    /// Every governed call.
    Global,
    /// Every tool of one class (`read`, `write`, `destructive`).
    Class(String),
    /// One namespaced tool.
    Tool(String),
    /// Every call of one tenant.
    Tenant(String),
    /// Every call to one upstream.
    Upstream(String),
    /// Every call of one agent, named `<tenant>/<agent>`.
    Agent(String),
    /// Not a stop but a mode: live write and destructive tool calls are refused
    /// (`read_only_mode`) for everyone (`None`) or one tenant; reads and previews go on.
    ReadOnly(Option<String>),
}

impl SwitchScope {
    /// The scope as one string (`global`, `class:write`, `tool:demo.echo`, ...), the key it
    /// is stored under.
    pub fn key(&self) -> String {
        match self {
            SwitchScope::Global => "global".into(),
            SwitchScope::Class(n) => format!("class:{n}"),
            SwitchScope::Tool(n) => format!("tool:{n}"),
            SwitchScope::Tenant(n) => format!("tenant:{n}"),
            SwitchScope::Upstream(n) => format!("upstream:{n}"),
            SwitchScope::Agent(n) => format!("agent:{n}"),
            SwitchScope::ReadOnly(None) => "read_only".into(),
            SwitchScope::ReadOnly(Some(t)) => format!("read_only:{t}"),
        }
    }

    /// The inverse of [`SwitchScope::key`].
    pub fn parse(key: &str) -> Option<SwitchScope> {
        match key {
            "global" => return Some(SwitchScope::Global),
            "read_only" => return Some(SwitchScope::ReadOnly(None)),
            _ => {}
        }
        let (kind, name) = key.split_once(':')?;
        if name.is_empty() {
            return None;
        }
        let name = name.to_string();
        Some(match kind {
            "class" => SwitchScope::Class(name),
            "tool" => SwitchScope::Tool(name),
            "tenant" => SwitchScope::Tenant(name),
            "upstream" => SwitchScope::Upstream(name),
            "read_only" => SwitchScope::ReadOnly(Some(name)),
            "agent"
                if name
                    .split_once('/')
                    .is_some_and(|(t, a)| !t.is_empty() && !a.is_empty()) =>
            {
                SwitchScope::Agent(name)
            }
            _ => return None,
        })
    }
}

/// One kill switch as last set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSwitch {
    pub scope: SwitchScope,
    /// True while it stops calls.
    pub engaged: bool,
    pub reason: String,
    /// Who set it (an admin's credential id, or `config`).
    pub actor: String,
    pub updated_ms: i64,
}

/// One setting of a switch, as it was made: every [`ControlStore::set_switch`] adds one, in
/// order, so that each is recorded in the ledger even when several come between two looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchChange {
    /// Grows with every change.
    pub id: u64,
    pub switch: KillSwitch,
}

/// Whether a pinned tool may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinState {
    /// The definition matches what an operator (or first sight) approved.
    Trusted,
    /// The definition drifted from its pin: hidden and denied until re-approved.
    Quarantined,
}

impl PinState {
    pub fn as_str(self) -> &'static str {
        match self {
            PinState::Trusted => "trusted",
            PinState::Quarantined => "quarantined",
        }
    }

    /// The inverse of [`PinState::as_str`].
    pub fn parse(s: &str) -> Option<PinState> {
        match s {
            "trusted" => Some(PinState::Trusted),
            "quarantined" => Some(PinState::Quarantined),
            _ => None,
        }
    }
}

/// The pin of one namespaced tool: the hash of its approved definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolPin {
    pub tool: String,
    /// Lower-case hex SHA-256 of the tool's canonical definition.
    pub hash: String,
    pub state: PinState,
    /// The definition the hash was taken of (JSON), so drift can be shown as a diff.
    pub definition: String,
    pub actor: String,
    pub updated_ms: i64,
}

#[async_trait]
pub trait ControlStore: Send + Sync + 'static {
    /// Insert or replace the switch of `switch.scope`, and add the change to the changes not
    /// yet recorded.
    async fn set_switch(&self, switch: KillSwitch) -> Result<(), StoreError>;
    /// The oldest `limit` changes not yet marked recorded, oldest first.
    async fn unrecorded_switch_changes(
        &self,
        limit: usize,
    ) -> Result<Vec<SwitchChange>, StoreError>;
    /// Mark change `id` recorded (in the ledger); false if it was already marked or is unknown.
    async fn mark_switch_change_recorded(&self, id: u64) -> Result<bool, StoreError>;
    /// Every switch ever set (engaged or not), ordered by scope key.
    async fn switches(&self) -> Result<Vec<KillSwitch>, StoreError>;
    /// Insert or replace the pin of `pin.tool`.
    async fn set_pin(&self, pin: ToolPin) -> Result<(), StoreError>;
    async fn pin(&self, tool: &str) -> Result<Option<ToolPin>, StoreError>;
    /// Every pin, ordered by tool name.
    async fn pins(&self) -> Result<Vec<ToolPin>, StoreError>;
    /// A number that grows with every change to switches or pins, so that a replica can poll
    /// one value to learn that it must reload them.
    async fn controls_version(&self) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_reads_back_from_its_key() {
        for scope in [
            SwitchScope::Global,
            SwitchScope::Class("write".into()),
            SwitchScope::Tool("demo.x".into()),
            SwitchScope::Tenant("acme".into()),
            SwitchScope::Upstream("files".into()),
            SwitchScope::Agent("acme/bot".into()),
            SwitchScope::ReadOnly(None),
            SwitchScope::ReadOnly(Some("acme".into())),
        ] {
            assert_eq!(
                SwitchScope::parse(&scope.key()),
                Some(scope.clone()),
                "{scope:?}"
            );
        }
        assert_eq!(
            SwitchScope::parse("read_only:acme").unwrap().key(),
            "read_only:acme"
        );
        for bad in [
            "",
            "nope",
            "read_only:",
            "tool:",
            "agent:acme",
            "agent:/b",
            "readonly",
        ] {
            assert_eq!(SwitchScope::parse(bad), None, "{bad}");
        }
    }
}
