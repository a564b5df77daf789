//! In-process test fixtures: a gateway state on the in-memory store and a controlled clock,
//! with a catalog of three demo tools, a prompt and a resource (no upstream processes).

use std::sync::Arc;

use portcullis_clock::ManualClock;
use portcullis_control::Config;
use portcullis_identity::{AuthMethod, Principal};
use portcullis_store::{MemoryStore, Stores};
use serde_json::json;

use crate::federation::Listing;
use crate::state::AppState;

/// Wall time every test clock starts at.
pub const T0: i64 = 1_800_000_000_000;

pub const CONFIG: &str = r#"
[policy]
mode = "enforce"

[roles.reader]
allow = ["demo.read", "demo.prompt", "demo.file:///*"]

[roles.writer]
allow = ["demo.*"]
allow_write = true

[roles.admin]
allow = ["*"]
allow_write = true
allow_destructive = true
"#;

pub struct Fixture {
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
}

/// A gateway state on `stores` (the memory store unless a test wraps it) and a manual clock.
pub fn state_with(
    config: &str,
    stores: impl FnOnce(Arc<MemoryStore>) -> Stores,
) -> (AppState, Fixture) {
    let config = Config::from_bytes(config.as_bytes(), std::path::Path::new(".")).expect("config");
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(T0);
    let st = AppState::new(config, stores(store.clone()), Vec::new(), clock.clone());
    st.update_listings(vec![demo_listing()]).expect("catalog");
    futures::executor::block_on(st.controls.refresh(&st)).expect("kill switches");
    (st, Fixture { store, clock })
}

pub fn state() -> (AppState, Fixture) {
    state_with(CONFIG, Stores::of)
}

fn demo_listing() -> Listing {
    Listing {
        upstream: "demo".into(),
        namespace: "demo".into(),
        tools: vec![
            json!({"name": "read", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}}),
            json!({"name": "write", "inputSchema": {"type": "object"}, "annotations": {"destructiveHint": false}}),
            json!({"name": "delete", "inputSchema": {"type": "object"}}),
        ],
        prompts: vec![json!({"name": "prompt"})],
        resources: vec![json!({"uri": "file:///a", "name": "a"})],
        templates: Vec::new(),
    }
}

pub fn principal(role: &str) -> Principal {
    Principal {
        tenant: "t1".into(),
        agent: format!("agent-{role}"),
        role: role.into(),
        credential_id: format!("key-{role}"),
        auth_method: AuthMethod::ApiKey,
        evidence: None,
    }
}

/// Run one governed request of `principal` through the pipeline: `Ok` if it was allowed (or
/// answered by the gateway), else the refusal's code and reason.
pub async fn governed(
    st: &Arc<AppState>,
    principal: &Principal,
    method: crate::pipeline::GovernedMethod,
    requested: crate::pipeline::Requested<'_>,
) -> Result<(), (portcullis_protocol::ErrorCode, String)> {
    governed_live(st, principal, method, requested, true).await
}

/// [`governed`], asking for a real run (`live`) or a dry-run preview.
pub async fn governed_live(
    st: &Arc<AppState>,
    principal: &Principal,
    method: crate::pipeline::GovernedMethod,
    requested: crate::pipeline::Requested<'_>,
    live: bool,
) -> Result<(), (portcullis_protocol::ErrorCode, String)> {
    use crate::pipeline::Decided;
    match decide(st, principal, method, requested, live).await {
        Decided::Allowed(_) | Decided::Answered(Ok(_)) => Ok(()),
        Decided::Answered(Err(f)) => Err((f.code, f.reason)),
    }
}

/// Run one governed request of `principal` through the pipeline and return the runner's
/// decision (a permit, when allowed, holds what the call holds until it is dropped).
pub async fn decide(
    st: &Arc<AppState>,
    principal: &Principal,
    method: crate::pipeline::GovernedMethod,
    requested: crate::pipeline::Requested<'_>,
    live: bool,
) -> crate::pipeline::Decided {
    use crate::pipeline::{ClientRef, Facts, Governed};
    let args = json!({});
    let key = live.then(crate::testing::fresh_key);
    let mut req = Governed {
        principal,
        client: ClientRef::Modern,
        method,
        requested,
        arguments: &args,
        live,
        idempotency_key: key.as_deref(),
        now_ms: st.clock.now_ms(),
        started: st.clock.instant(),
        cid: "cid",
        facts: Facts::default(),
    };
    let mut log = crate::endpoint::RequestLog::default();
    crate::pipeline::run(st, &mut req, &mut log).await
}

/// A new idempotency key: each live call of the helpers carries one, as a client that
/// follows the contract does.
pub fn fresh_key() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("test-key-{n}")
}

/// [`principal`] of role `role` in tenant `tenant`.
pub fn principal_in(tenant: &str, role: &str) -> Principal {
    Principal {
        tenant: tenant.into(),
        ..principal(role)
    }
}

/// The ledger's records, parsed.
pub async fn records(store: &MemoryStore) -> Vec<portcullis_ledger::Record> {
    use portcullis_store::LedgerStore;
    let rows = store.read_records(0, 10_000).await.expect("records");
    rows.iter()
        .map(|r| portcullis_ledger::canonical::parse_canonical(&r.bytes).expect("canonical"))
        .collect()
}
