//! In-memory kill switches and pins, ordered by scope key and tool name like SQLite's.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::MemoryStore;
use crate::{ControlStore, KillSwitch, StoreError, SwitchChange, ToolPin};

#[derive(Default)]
pub(super) struct Controls {
    /// By scope key.
    switches: BTreeMap<String, KillSwitch>,
    pins: BTreeMap<String, ToolPin>,
    pub(super) version: u64,
    /// Every change, oldest first, with whether it was recorded.
    changes: Vec<(SwitchChange, bool)>,
}

#[async_trait]
impl ControlStore for MemoryStore {
    async fn set_switch(&self, switch: KillSwitch) -> Result<(), StoreError> {
        let mut c = self.lock(&self.controls)?;
        let id = c.changes.len() as u64 + 1;
        c.changes.push((
            SwitchChange {
                id,
                switch: switch.clone(),
            },
            false,
        ));
        c.switches.insert(switch.scope.key(), switch);
        c.version += 1;
        Ok(())
    }

    async fn unrecorded_switch_changes(
        &self,
        limit: usize,
    ) -> Result<Vec<SwitchChange>, StoreError> {
        let c = self.lock(&self.controls)?;
        Ok(c.changes
            .iter()
            .filter(|(_, recorded)| !recorded)
            .take(limit)
            .map(|(change, _)| change.clone())
            .collect())
    }

    async fn mark_switch_change_recorded(&self, id: u64) -> Result<bool, StoreError> {
        let mut c = self.lock(&self.controls)?;
        let found = c.changes.iter_mut().find(|(change, _)| change.id == id);
        Ok(match found {
            Some((_, recorded)) if !*recorded => {
                *recorded = true;
                true
            }
            _ => false,
        })
    }

    async fn switches(&self) -> Result<Vec<KillSwitch>, StoreError> {
        Ok(self
            .lock(&self.controls)?
            .switches
            .values()
            .cloned()
            .collect())
    }

    async fn set_pin(&self, pin: ToolPin) -> Result<(), StoreError> {
        let mut c = self.lock(&self.controls)?;
        c.pins.insert(pin.tool.clone(), pin);
        c.version += 1;
        Ok(())
    }

    async fn pin(&self, tool: &str) -> Result<Option<ToolPin>, StoreError> {
        Ok(self.lock(&self.controls)?.pins.get(tool).cloned())
    }

    async fn pins(&self) -> Result<Vec<ToolPin>, StoreError> {
        Ok(self.lock(&self.controls)?.pins.values().cloned().collect())
    }

    async fn controls_version(&self) -> Result<u64, StoreError> {
        Ok(self.lock(&self.controls)?.version)
    }
}
