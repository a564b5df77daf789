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

    /// The inverse of [`ApprovalState::as_str`].
    pub fn parse(s: &str) -> Option<ApprovalState> {
        Some(match s {
            "pending" => ApprovalState::Pending,
            "approved" => ApprovalState::Approved,
            "denied" => ApprovalState::Denied,
            "consumed" => ApprovalState::Consumed,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub binding: ApprovalBinding,
    pub state: ApprovalState,
    pub created_ms: i64,
    /// After this it can be neither decided nor consumed (at `expires_ms` itself it still can).
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
    /// of concurrent attempts, at most one gets `Consumed`. Checked in this order: `NotFound`,
    /// `Mismatch`, `Expired`, `NotApproved`.
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

impl Approval {
    /// Whether it is past its expiry at `at_ms`.
    pub fn expired_at(&self, at_ms: i64) -> bool {
        at_ms > self.expires_ms
    }

    /// The rule of [`ApprovalStore::decide_approval`], applied to a loaded approval.
    pub(crate) fn decide(
        &mut self,
        approve: bool,
        actor: &str,
        reason: Option<String>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        if self.state != ApprovalState::Pending {
            return Err(StoreError::Conflict(format!(
                "approval '{}' is {}, not pending",
                self.id,
                self.state.as_str()
            )));
        }
        if self.expired_at(at_ms) {
            return Err(StoreError::Conflict(format!(
                "approval '{}' expired",
                self.id
            )));
        }
        self.state = if approve {
            ApprovalState::Approved
        } else {
            ApprovalState::Denied
        };
        self.decided_by = Some(actor.to_string());
        self.decided_ms = Some(at_ms);
        self.reason = reason;
        Ok(())
    }

    /// The rule of [`ApprovalStore::consume_approval`], applied to a loaded approval: marks it
    /// consumed when it may be.
    pub(crate) fn consume(&mut self, binding: &ApprovalBinding, at_ms: i64) -> Consumption {
        if self.binding != *binding {
            return Consumption::Mismatch;
        }
        if self.expired_at(at_ms) {
            return Consumption::Expired;
        }
        if self.state != ApprovalState::Approved {
            return Consumption::NotApproved(self.state);
        }
        self.state = ApprovalState::Consumed;
        self.consumed_ms = Some(at_ms);
        Consumption::Consumed(Box::new(self.clone()))
    }
}
