//! In-memory approvals: decide and consume apply the shared rules under one lock.

use async_trait::async_trait;

use super::MemoryStore;
use crate::{Approval, ApprovalBinding, ApprovalState, ApprovalStore, Consumption, StoreError};

#[async_trait]
impl ApprovalStore for MemoryStore {
    async fn create_approval(&self, approval: Approval) -> Result<(), StoreError> {
        let mut all = self.lock(&self.approvals)?;
        if all.contains_key(&approval.id) {
            return Err(StoreError::Conflict(format!(
                "approval id '{}' exists",
                approval.id
            )));
        }
        all.insert(approval.id.clone(), approval);
        Ok(())
    }

    async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        Ok(self.lock(&self.approvals)?.get(id).cloned())
    }

    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        actor: &str,
        reason: Option<String>,
        at_ms: i64,
    ) -> Result<Approval, StoreError> {
        let mut all = self.lock(&self.approvals)?;
        let a = all
            .get_mut(id)
            .ok_or_else(|| StoreError::NotFound(format!("approval '{id}'")))?;
        a.decide(approve, actor, reason, at_ms)?;
        Ok(a.clone())
    }

    async fn consume_approval(
        &self,
        id: &str,
        binding: &ApprovalBinding,
        at_ms: i64,
    ) -> Result<Consumption, StoreError> {
        Ok(match self.lock(&self.approvals)?.get_mut(id) {
            Some(a) => a.consume(binding, at_ms),
            None => Consumption::NotFound,
        })
    }

    async fn pending_approvals(
        &self,
        tenant: Option<&str>,
        at_ms: i64,
    ) -> Result<Vec<Approval>, StoreError> {
        let mut pending: Vec<Approval> = self
            .lock(&self.approvals)?
            .values()
            .filter(|a| {
                a.state == ApprovalState::Pending
                    && !a.expired_at(at_ms)
                    && tenant.is_none_or(|t| a.binding.tenant == t)
            })
            .cloned()
            .collect();
        pending.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(pending)
    }
}
