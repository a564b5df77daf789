//! The approval store (control plane): calls held for a person's decision, bound to the exact
//! call, consumed exactly once.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// What an approval is bound to: only a call that matches every field may consume it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalBinding {
    pub tenant: String,
    pub agent: String,
    /// Namespaced tool name.
    pub tool: String,
    /// The tool's pin (hash of its definition) when the approval was asked for.
    pub pin: String,
    /// Lower-case hex SHA-256 of the call's canonical arguments.
    pub args_digest: String,
    /// Version of the policy that required the approval.
    pub policy_version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
    Consumed,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Consumed => "consumed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub binding: ApprovalBinding,
    pub state: ApprovalState,
    pub created_ms: i64,
    /// After this it can be neither decided nor consumed.
    pub expires_ms: i64,
    pub decided_by: Option<String>,
    pub decided_ms: Option<i64>,
    /// The decider's note.
    pub reason: Option<String>,
    pub consumed_ms: Option<i64>,
}

/// What an attempt to consume an approval found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumption {
    /// It was approved, matched and unexpired, and is now consumed (by this call only).
    Consumed(Box<Approval>),
    NotFound,
    /// The call differs from what was approved.
    Mismatch,
    Expired,
    /// Pending, denied or already consumed.
    NotApproved(ApprovalState),
}

#[async_trait]
pub trait ApprovalStore: Send + Sync + 'static {
    /// Save a new approval request; `Conflict` if its id exists.
    async fn create_approval(&self, approval: Approval) -> Result<(), StoreError>;
    async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError>;
    /// Approve or deny a pending, unexpired approval at `at_ms`. `NotFound` if there is no
    /// such approval, `Conflict` if it is not pending or has expired.
    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        actor: &str,
        reason: Option<String>,
        at_ms: i64,
    ) -> Result<Approval, StoreError>;
    /// Consume an approved approval for a call bound as `binding`, atomically: of any number
    /// of concurrent attempts, at most one gets `Consumed`.
    async fn consume_approval(
        &self,
        id: &str,
        binding: &ApprovalBinding,
        at_ms: i64,
    ) -> Result<Consumption, StoreError>;
    /// Pending approvals not expired at `at_ms`, of one tenant or all, oldest first.
    async fn pending_approvals(
        &self,
        tenant: Option<&str>,
        at_ms: i64,
    ) -> Result<Vec<Approval>, StoreError>;
}
