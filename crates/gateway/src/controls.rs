//! Kill switches at run time. The switches live in the control store, where the CLI (and, on a
//! shared store, any replica) sets them; this process keeps the engaged ones in memory, reads
//! them again whenever the store's controls version moves (looked at every
//! [`POLL_INTERVAL`]), and records every change in the ledger, once, in the order it was made.
//! The `kill_switch` stage refuses what an engaged switch covers. If the switches cannot be
//! read for [`STALE_AFTER`], every governed call is refused: a switch that may be engaged is
//! treated as engaged.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use portcullis_ledger::{RECORD_VERSION, Record, RecordKind};
use portcullis_store::{KillSwitch, StoreError, SwitchScope};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How often the store's controls version is looked at: a switch set in another process is in
/// force here within this interval (plus one read).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long the switches may go unread before every governed call is refused.
pub const STALE_AFTER: Duration = Duration::from_secs(5);
/// Changes recorded per look; more wait for the next one.
const RECORD_BATCH: usize = 100;

/// Who sets the global switch when the gateway starts with `PORTCULLIS_KILL_SWITCH=1`.
pub const ENV_ACTOR: &str = "env:PORTCULLIS_KILL_SWITCH";

/// The engaged switches as last read.
#[derive(Debug, Default)]
pub struct Engaged {
    by_scope: HashMap<SwitchScope, KillSwitch>,
    /// The tenants disabled through the admin API.
    disabled_tenants: HashSet<String>,
    /// When they were read (the injected clock's monotonic time); `None` before the first read.
    read_at: Option<Instant>,
}

impl Engaged {
    /// The first engaged switch among `scopes`, in the order given.
    pub fn first<'a>(&'a self, scopes: &[SwitchScope]) -> Option<&'a KillSwitch> {
        scopes.iter().find_map(|s| self.by_scope.get(s))
    }

    pub fn len(&self) -> usize {
        self.by_scope.len()
    }

    pub fn tenant_disabled(&self, tenant: &str) -> bool {
        !self.disabled_tenants.is_empty() && self.disabled_tenants.contains(tenant)
    }

    /// The engaged switches, by scope key.
    pub fn list(&self) -> Vec<&KillSwitch> {
        let mut all: Vec<&KillSwitch> = self.by_scope.values().collect();
        all.sort_by_key(|s| s.scope.key());
        all
    }

    pub fn is_empty(&self) -> bool {
        self.by_scope.is_empty()
    }

    /// How long ago the switches were read, at monotonic time `now`; `None` if never.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.read_at.map(|t| now.saturating_duration_since(t))
    }
}

/// This process's view of the switches.
pub struct Controls {
    engaged: RwLock<Arc<Engaged>>,
    /// The controls version the view was read at (`u64::MAX`: never read).
    version: AtomicU64,
    /// One refresh at a time, so that no change is recorded twice by this process.
    refreshing: tokio::sync::Mutex<()>,
}

impl Default for Controls {
    fn default() -> Controls {
        Controls::new()
    }
}

impl Controls {
    pub fn new() -> Controls {
        Controls {
            engaged: RwLock::new(Arc::new(Engaged::default())),
            version: AtomicU64::new(u64::MAX),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn engaged(&self) -> Arc<Engaged> {
        self.engaged
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn store(&self, engaged: Engaged, version: u64) {
        *self.engaged.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(engaged);
        self.version.store(version, Ordering::Release);
    }

    /// Look at the store: when its controls version moved, read the switches again and record
    /// the changes not yet recorded. The view is fresh (its age restarts) whenever the version
    /// could be read.
    pub async fn refresh(&self, st: &AppState) -> Result<(), StoreError> {
        let _one = self.refreshing.lock().await;
        let version = st.stores.controls.controls_version().await?;
        let now = st.clock.instant();
        if version == self.version.load(Ordering::Acquire) {
            let current = self.engaged();
            let fresh = Engaged {
                by_scope: current.by_scope.clone(),
                disabled_tenants: current.disabled_tenants.clone(),
                read_at: Some(now),
            };
            self.store(fresh, version);
            return Ok(());
        }
        record_changes(st).await?;
        let by_scope = st
            .stores
            .controls
            .switches()
            .await?
            .into_iter()
            .filter(|s| s.engaged)
            .map(|s| (s.scope.clone(), s))
            .collect();
        let grants = st
            .stores
            .admin
            .grants()
            .await?
            .into_iter()
            .map(|g| (g.role, g.pattern))
            .collect();
        crate::reload::apply_grants(st, grants).await;
        let disabled_tenants = st
            .stores
            .admin
            .tenants()
            .await?
            .into_iter()
            .filter(|t| t.disabled_ms.is_some())
            .map(|t| t.name)
            .collect();
        self.store(
            Engaged {
                by_scope,
                disabled_tenants,
                read_at: Some(now),
            },
            version,
        );
        Ok(())
    }
}

/// Append a ledger record for each change not yet recorded, then mark it recorded: a crash in
/// between records a change twice rather than never.
async fn record_changes(st: &AppState) -> Result<(), StoreError> {
    loop {
        let changes = st
            .stores
            .controls
            .unrecorded_switch_changes(RECORD_BATCH)
            .await?;
        if changes.is_empty() {
            return Ok(());
        }
        for change in changes {
            st.stores
                .ledger
                .append(control_record(&change.switch, st.clock.now_ms()))
                .await?;
            st.stores
                .controls
                .mark_switch_change_recorded(change.id)
                .await?;
            tracing::warn!(
                scope = %change.switch.scope.key(),
                engaged = change.switch.engaged,
                actor = %change.switch.actor,
                reason = %change.switch.reason,
                "kill switch {}",
                if change.switch.engaged { "engaged" } else { "lifted" }
            );
        }
    }
}

/// The ledger record of one switch change: kind `control`, method `controls/kill` or
/// `controls/revive` (`controls/degrade` or `controls/restore` for read-only mode), the actor as agent and credential, the tenant the switch concerns (empty
/// for the others), and the scope, reason and time of the change as facts.
pub fn control_record(s: &KillSwitch, now_ms: i64) -> Record {
    let tenant = match &s.scope {
        SwitchScope::Tenant(t) | SwitchScope::ReadOnly(Some(t)) => t.clone(),
        SwitchScope::Agent(a) => a
            .split_once('/')
            .map(|(t, _)| t.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let mut facts = BTreeMap::new();
    facts.insert("scope".to_string(), s.scope.key());
    facts.insert("reason".to_string(), s.reason.clone());
    facts.insert("set_ms".to_string(), s.updated_ms.to_string());
    let method = match (&s.scope, s.engaged) {
        (SwitchScope::ReadOnly(_), true) => "controls/degrade",
        (SwitchScope::ReadOnly(_), false) => "controls/restore",
        (_, true) => "controls/kill",
        (_, false) => "controls/revive",
    };
    operator_record(method, tenant, &s.actor, None, facts, now_ms)
}

/// A `control` ledger record: a change an operator (or the gateway itself, as `gateway`) made
/// to the gateway's controls, with what it concerns in `facts`.
pub fn operator_record(
    method: &str,
    tenant: String,
    actor: &str,
    tool: Option<String>,
    facts: BTreeMap<String, String>,
    now_ms: i64,
) -> Record {
    Record {
        version: RECORD_VERSION,
        seq: 0,
        time_ms: now_ms,
        kind: RecordKind::Control,
        correlation_id: uuid::Uuid::new_v4().to_string(),
        tenant,
        agent: actor.to_string(),
        credential_id: actor.to_string(),
        method: method.to_string(),
        tool,
        tool_class: None,
        decision: None,
        code: None,
        args_hash: None,
        args_preview: None,
        latency_us: None,
        facts,
    }
}

/// Engage the global switch for `PORTCULLIS_KILL_SWITCH=1`, unless it is engaged already.
pub async fn engage_from_env(st: &AppState) -> Result<(), StoreError> {
    let engaged = st
        .stores
        .controls
        .switches()
        .await?
        .into_iter()
        .any(|s| s.scope == SwitchScope::Global && s.engaged);
    if engaged {
        return Ok(());
    }
    st.stores
        .controls
        .set_switch(KillSwitch {
            scope: SwitchScope::Global,
            engaged: true,
            reason: "the gateway was started with PORTCULLIS_KILL_SWITCH=1".into(),
            actor: ENV_ACTOR.into(),
            updated_ms: st.clock.now_ms(),
        })
        .await
}

/// Look at the store every [`POLL_INTERVAL`] until `shutdown`.
pub async fn watch(st: Arc<AppState>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = st.controls.refresh(&st).await {
            tracing::error!(error = %e, "the kill switches could not be read");
        }
    }
}
