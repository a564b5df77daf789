//! The runner and its stages in-process, on the in-memory store and a controlled clock, with
//! faults injected between stages: a stage that errors, panics or hangs; a ledger that fails,
//! that fails after the decision record, or that holds an append back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use portcullis_ledger::Record;
use portcullis_policy::{EngineError, Engines, PolicyEngine, PolicyRequest, Verdict};
use portcullis_protocol::ErrorCode;
use portcullis_store::{
    Appended, LedgerHead, LedgerStore, MemoryStore, Pruned, Queued, StoreError, StoredRecord,
    Stores,
};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::*;
use crate::endpoint::RequestLog;
use crate::respond::Failure;
use crate::state::AppState;
use crate::testing::{self, Fixture, T0, principal};

/// The ledger's records, parsed.
async fn records(store: &MemoryStore) -> Vec<Record> {
    let rows = store.read_records(0, 1000).await.unwrap();
    rows.iter()
        .map(|r| portcullis_ledger::canonical::parse_canonical(&r.bytes).unwrap())
        .collect()
}

/// Run one governed request of `role`.
async fn decide(
    st: &Arc<AppState>,
    role: &str,
    method: GovernedMethod,
    requested: Requested<'_>,
    args: &Value,
    live: bool,
) -> Decided {
    let p = principal(role);
    let key = live.then(crate::testing::fresh_key);
    let mut req = Governed {
        principal: &p,
        client: ClientRef::Modern,
        method,
        requested,
        arguments: args,
        live,
        idempotency_key: key.as_deref(),
        now_ms: st.clock.now_ms(),
        started: st.clock.instant(),
        cid: "cid-1",
        facts: Facts::default(),
    };
    run(st, &mut req, &mut RequestLog::default()).await
}

async fn tool(st: &Arc<AppState>, role: &str, name: &str, live: bool) -> Decided {
    decide(
        st,
        role,
        GovernedMethod::ToolsCall,
        Requested::Tool(name),
        &json!({"x": 1}),
        live,
    )
    .await
}

fn denied(d: Decided) -> Failure {
    match d {
        Decided::Answered(Err(f)) => f,
        Decided::Answered(Ok(v)) => panic!("expected a denial, got {v}"),
        Decided::Allowed(_) => panic!("expected a denial, got a permit"),
    }
}

fn permit(d: Decided) -> Permit {
    match d {
        Decided::Allowed(p) => p,
        Decided::Answered(r) => panic!("expected a permit, got {r:?}"),
    }
}

fn with_stages(stages: Vec<Arc<dyn Stage>>) -> (Arc<AppState>, Fixture) {
    let (mut st, fx) = testing::state();
    st.pipeline = Pipeline::new(stages);
    (Arc::new(st), fx)
}

/// What the test stages saw, in order: `check:<name>` and `settle:<name>:<outcome>`.
type Trace = Arc<Mutex<Vec<String>>>;

/// A stage that answers with `step` (or fails, panics or hangs) and traces its calls.
struct Probe {
    name: &'static str,
    trace: Trace,
    act: Act,
    budget: Duration,
}

#[derive(Clone)]
enum Act {
    Step(Step),
    Fail(ErrorCode),
    Panic,
    Hang,
    PanicInSettle,
}

impl Probe {
    fn stage(name: &'static str, trace: &Trace, act: Act) -> Arc<dyn Stage> {
        Arc::new(Probe {
            name,
            trace: trace.clone(),
            act,
            budget: DEFAULT_BUDGET,
        })
    }
}

#[async_trait]
impl Stage for Probe {
    fn name(&self) -> &'static str {
        self.name
    }

    fn budget(&self) -> Duration {
        self.budget
    }

    async fn check(&self, _st: &AppState, _req: &mut Governed<'_>) -> Result<Step, Failure> {
        self.trace
            .lock()
            .unwrap()
            .push(format!("check:{}", self.name));
        match &self.act {
            Act::Step(s) => Ok(s.clone()),
            Act::Fail(code) => Err(Failure::new(*code, "the probe failed")),
            Act::Panic => panic!("probe stage panics"),
            Act::Hang => std::future::pending().await,
            Act::PanicInSettle => Ok(Step::Continue),
        }
    }

    fn settle(&self, _st: &AppState, s: &Settlement) {
        self.trace
            .lock()
            .unwrap()
            .push(format!("settle:{}:{}", self.name, s.outcome));
        if matches!(self.act, Act::PanicInSettle) {
            panic!("probe settle panics");
        }
    }
}

fn trace() -> Trace {
    Arc::new(Mutex::new(Vec::new()))
}

fn seen(t: &Trace) -> Vec<String> {
    t.lock().unwrap().clone()
}

#[tokio::test]
async fn every_path_to_a_decision_leaves_its_record() {
    let (st, fx) = testing::state();
    let st = Arc::new(st);
    let f = denied(tool(&st, "reader", "demo.nope", true).await);
    assert_eq!(f.code, ErrorCode::UnknownTool);
    let f = denied(tool(&st, "reader", "demo.write", true).await);
    assert_eq!(f.code, ErrorCode::UnknownTool, "hidden from the role");
    let preview = match tool(&st, "writer", "demo.write", false).await {
        Decided::Answered(Ok(v)) => v,
        _ => panic!("a write that is not live is previewed"),
    };
    assert_eq!(preview["_meta"]["io.portcullis/dryRun"]["dryRun"], true);
    assert_eq!(preview["isError"], true, "the tool did not run");
    assert!(preview.get("structuredContent").is_none());
    let p = permit(tool(&st, "reader", "demo.read", false).await);
    let recs = records(&fx.store).await;
    let got: Vec<(Option<&str>, Option<&str>, Option<&str>)> = recs
        .iter()
        .map(|r| {
            (
                r.tool.as_deref(),
                r.decision.map(|d| d.as_str()),
                r.code.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (Some("demo.nope"), Some("deny"), Some("unknown_tool")),
            (Some("demo.write"), Some("deny"), Some("unknown_tool")),
            (Some("demo.write"), Some("dry_run"), None),
            (Some("demo.read"), Some("allow"), None),
        ]
    );
    assert!(
        recs.iter()
            .all(|r| r.time_ms == T0 && r.method == "tools/call")
    );
    assert_eq!(recs[3].tool_class.as_deref(), Some("read"));
    assert_eq!(
        recs[1].facts["policy_code"], "tool_not_allowed",
        "the true reason is kept"
    );
    assert!(
        recs.iter()
            .all(|r| r.version == 2
                && r.facts.get("auth_method").map(String::as_str) == Some("api_key")),
        "every decision says how the caller authenticated"
    );
    // The permit answers without an upstream (none is configured here): the outcome is recorded.
    let answer = p.answer(Ok(json!({"content": []}))).await;
    assert!(answer.is_ok());
    let recs = records(&fx.store).await;
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[4].kind, portcullis_ledger::RecordKind::Outcome);
    assert_eq!(recs[4].code.as_deref(), Some("ok"));
}

#[tokio::test]
async fn every_governed_method_goes_through_the_runner() {
    let (st, fx) = testing::state();
    let st = Arc::new(st);
    let args = json!({});
    let reference = serde_json::Map::new();
    let cases: Vec<(GovernedMethod, Requested<'_>, &str)> = vec![
        (
            GovernedMethod::PromptsGet,
            Requested::Prompt("demo.prompt"),
            "demo.prompt",
        ),
        (
            GovernedMethod::ResourcesRead,
            Requested::Resource("file:///a"),
            "demo.file:///a",
        ),
        (
            GovernedMethod::ResourcesSubscribe,
            Requested::Resource("file:///a"),
            "demo.file:///a",
        ),
        (
            GovernedMethod::ResourcesUnsubscribe,
            Requested::Resource("file:///gone"),
            "file:///gone",
        ),
        (
            GovernedMethod::CompletionComplete,
            Requested::CompletePrompt("demo.prompt"),
            "demo.prompt",
        ),
        (
            GovernedMethod::CompletionComplete,
            Requested::CompleteResource("file:///a", &reference),
            "demo.file:///a",
        ),
    ];
    for (method, requested, _) in &cases {
        let p = permit(decide(&st, "reader", *method, *requested, &args, false).await);
        assert!(p.answer(Ok(json!({}))).await.is_ok());
    }
    let p = permit(
        decide(
            &st,
            "reader",
            GovernedMethod::LoggingSetLevel,
            Requested::Gateway,
            &args,
            false,
        )
        .await,
    );
    assert!(p.answer(Ok(json!({}))).await.is_ok());
    let decisions: Vec<(String, Option<String>)> = records(&fx.store)
        .await
        .into_iter()
        .filter(|r| r.kind == portcullis_ledger::RecordKind::Decision)
        .map(|r| (r.method, r.tool))
        .collect();
    let mut expected: Vec<(String, Option<String>)> = cases
        .iter()
        .map(|(m, _, item)| (m.as_str().to_string(), Some(item.to_string())))
        .collect();
    expected.push(("logging/setLevel".into(), None));
    assert_eq!(decisions, expected);
    // A role the policy does not know is denied for each of them, and recorded.
    let f = denied(
        decide(
            &st,
            "ghost",
            GovernedMethod::PromptsGet,
            Requested::Prompt("demo.prompt"),
            &args,
            false,
        )
        .await,
    );
    assert_eq!(f.code, ErrorCode::PolicyError);
    let f = denied(
        decide(
            &st,
            "reader",
            GovernedMethod::ResourcesRead,
            Requested::Resource("file:///nowhere"),
            &args,
            false,
        )
        .await,
    );
    assert_eq!(f.code, ErrorCode::UnknownResource);
}

#[tokio::test]
async fn an_erroring_stage_denies_with_its_code_and_later_stages_do_not_run() {
    let t = trace();
    let (st, fx) = with_stages(vec![
        Probe::stage("a", &t, Act::Step(Step::Allow)),
        Probe::stage("b", &t, Act::Fail(ErrorCode::AuditUnavailable)),
        Probe::stage("c", &t, Act::Step(Step::Allow)),
    ]);
    let f = denied(tool(&st, "reader", "demo.read", false).await);
    assert_eq!(f.code, ErrorCode::AuditUnavailable);
    assert_eq!(
        seen(&t),
        [
            "check:a",
            "check:b",
            "settle:b:not_forwarded",
            "settle:a:not_forwarded"
        ]
    );
    let recs = records(&fx.store).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].code.as_deref(), Some("audit_unavailable"));
}

#[tokio::test]
async fn a_panicking_stage_denies_and_is_recorded() {
    let t = trace();
    let (st, fx) = with_stages(vec![
        Probe::stage("a", &t, Act::Step(Step::Allow)),
        Probe::stage("boom", &t, Act::Panic),
    ]);
    let f = denied(tool(&st, "reader", "demo.read", false).await);
    assert_eq!(f.code, ErrorCode::InternalError);
    assert!(f.reason.contains("'boom'"), "{}", f.reason);
    let recs = records(&fx.store).await;
    assert_eq!(recs[0].decision, Some(portcullis_ledger::Decision::Deny));
    assert_eq!(recs[0].code.as_deref(), Some("internal_error"));
}

#[tokio::test(start_paused = true)]
async fn a_stage_that_overruns_its_budget_denies_and_is_recorded() {
    let t = trace();
    let hang = Arc::new(Probe {
        name: "slow",
        trace: t.clone(),
        act: Act::Hang,
        budget: Duration::from_millis(50),
    });
    let (st, fx) = with_stages(vec![Probe::stage("a", &t, Act::Step(Step::Allow)), hang]);
    let f = denied(tool(&st, "reader", "demo.read", false).await);
    assert_eq!(f.code, ErrorCode::DecisionTimeout);
    assert!(f.reason.contains("50 ms"), "{}", f.reason);
    assert_eq!(
        records(&fx.store).await[0].code.as_deref(),
        Some("decision_timeout")
    );
    assert_eq!(
        seen(&t),
        [
            "check:a",
            "check:slow",
            "settle:slow:not_forwarded",
            "settle:a:not_forwarded"
        ]
    );
}

#[tokio::test]
async fn without_a_stage_that_allows_nothing_is_allowed() {
    let t = trace();
    let (st, fx) = with_stages(vec![Probe::stage("a", &t, Act::Step(Step::Continue))]);
    let f = denied(tool(&st, "reader", "demo.read", false).await);
    assert_eq!(f.code, ErrorCode::PolicyError);
    assert_eq!(
        records(&fx.store).await[0].code.as_deref(),
        Some("policy_error")
    );
}

#[tokio::test]
async fn later_stages_still_run_after_an_allow_and_settle_runs_in_reverse_after_the_outcome() {
    let t = trace();
    let (st, fx) = with_stages(vec![
        Probe::stage("a", &t, Act::Step(Step::Continue)),
        Probe::stage("b", &t, Act::Step(Step::Allow)),
        Probe::stage("c", &t, Act::PanicInSettle),
    ]);
    let p = permit(tool(&st, "reader", "demo.read", false).await);
    assert_eq!(seen(&t), ["check:a", "check:b", "check:c"]);
    // A settle hook that panics changes nothing: the answer stands and the others still run.
    let answer = p.answer(Ok(json!({"content": [], "isError": true}))).await;
    assert_eq!(answer, Ok(json!({"content": [], "isError": true})));
    assert_eq!(
        seen(&t)[3..],
        [
            "settle:c:tool_error",
            "settle:b:tool_error",
            "settle:a:tool_error"
        ]
    );
    let recs = records(&fx.store).await;
    assert_eq!(recs[1].code.as_deref(), Some("tool_error"));
}

#[tokio::test]
async fn held_calls_and_previews_are_recorded_with_their_decision() {
    let t = trace();
    let held = Err(Failure::new(ErrorCode::NotAllowed, "held for approval"));
    let (st, fx) = with_stages(vec![
        Probe::stage("a", &t, Act::Step(Step::Allow)),
        Probe::stage("hold", &t, Act::Step(Step::PendingApproval(held))),
    ]);
    let f = denied(tool(&st, "reader", "demo.read", false).await);
    assert_eq!(f.reason, "held for approval");
    let recs = records(&fx.store).await;
    assert_eq!(
        recs[0].decision,
        Some(portcullis_ledger::Decision::PendingApproval)
    );
    assert_eq!(
        recs.len(),
        1,
        "nothing was forwarded, so there is no outcome"
    );
}

/// A ledger over the memory store whose appends can be held back, or fail.
struct Faulty {
    inner: Arc<MemoryStore>,
    /// Appends wait for a permit of this semaphore (held back until the test adds one).
    gate: Arc<Semaphore>,
    /// Appends fail after this many succeeded.
    appends_before_failing: Mutex<Option<usize>>,
    /// Queued (outcome) records fail.
    fail_enqueue: bool,
}

#[async_trait]
impl LedgerStore for Faulty {
    async fn append(&self, record: Record) -> Result<Appended, StoreError> {
        let _pass = self.gate.acquire().await.map_err(|_| StoreError::Closed)?;
        if let Some(n) = self.appends_before_failing.lock().unwrap().as_mut() {
            if *n == 0 {
                return Err(StoreError::Unavailable(
                    "disk I/O error at /secret/path".into(),
                ));
            }
            *n -= 1;
        }
        self.inner.append(record).await
    }
    async fn enqueue(&self, record: Record) -> Result<Queued, StoreError> {
        if self.fail_enqueue {
            return Err(StoreError::Unavailable("disk full".into()));
        }
        self.inner.enqueue(record).await
    }
    async fn head(&self) -> Result<LedgerHead, StoreError> {
        self.inner.head().await
    }
    async fn read_records(&self, from: u64, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        self.inner.read_records(from, limit).await
    }
    async fn leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        self.inner.leaf_hashes(from, to).await
    }
    async fn prune(&self, before_ms: i64) -> Result<Pruned, StoreError> {
        self.inner.prune(before_ms).await
    }
}

fn faulty(
    gate_open: bool,
    fail_after: Option<usize>,
    fail_enqueue: bool,
) -> (Arc<AppState>, Fixture, Arc<Semaphore>) {
    let gate = Arc::new(Semaphore::new(if gate_open {
        Semaphore::MAX_PERMITS
    } else {
        0
    }));
    let g = gate.clone();
    let (st, fx) = testing::state_with(testing::CONFIG, move |mem| {
        let mut stores = Stores::of(mem.clone());
        stores.ledger = Arc::new(Faulty {
            inner: mem,
            gate: g,
            appends_before_failing: Mutex::new(fail_after),
            fail_enqueue,
        });
        stores
    });
    (Arc::new(st), fx, gate)
}

#[tokio::test]
async fn no_permit_exists_before_the_decision_record_is_durable() {
    let (st, fx, gate) = faulty(false, None, false);
    let running = {
        let st = st.clone();
        tokio::spawn(async move {
            matches!(
                tool(&st, "reader", "demo.read", false).await,
                Decided::Allowed(_)
            )
        })
    };
    // The append is held back: however long the runner is given, it hands out nothing.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(
        !running.is_finished(),
        "the runner answered before its record was durable"
    );
    assert!(records(&fx.store).await.is_empty());
    gate.add_permits(1);
    assert!(running.await.unwrap(), "allowed once the record is durable");
    let first = &records(&fx.store).await[0];
    assert_eq!(first.decision, Some(portcullis_ledger::Decision::Allow));
}

#[tokio::test]
async fn an_unwritable_decision_record_refuses_and_keeps_its_cause_out_of_the_answer() {
    let (st, fx, _) = faulty(true, Some(0), false);
    let f = denied(tool(&st, "reader", "demo.read", false).await);
    assert_eq!(f.code, ErrorCode::AuditUnavailable);
    assert!(!f.reason.contains("/secret/path"), "{}", f.reason);
    assert!(f.cause.is_some(), "the cause is kept for the log");
    // A denial stays the denial it was.
    let f = denied(tool(&st, "reader", "demo.write", true).await);
    assert_eq!(f.code, ErrorCode::UnknownTool);
    assert!(records(&fx.store).await.is_empty());
    assert_eq!(st.metrics.audit_failures.get(), 2);
}

#[tokio::test]
async fn a_store_failing_after_the_decision_record_does_not_change_the_answer() {
    let (st, fx, _) = faulty(true, None, true);
    let p = permit(tool(&st, "reader", "demo.read", false).await);
    let answer = p.answer(Ok(json!({"content": []}))).await;
    assert_eq!(answer, Ok(json!({"content": []})));
    assert_eq!(
        records(&fx.store).await.len(),
        1,
        "only the decision record"
    );
    assert_eq!(
        st.metrics.audit_failures.get(),
        1,
        "the lost outcome is counted"
    );
}

#[tokio::test]
async fn a_permit_dropped_unused_records_that_nothing_was_forwarded() {
    let t = trace();
    let (st, fx) = with_stages(vec![Probe::stage("a", &t, Act::Step(Step::Allow))]);
    drop(permit(tool(&st, "reader", "demo.read", false).await));
    let mut recs = records(&fx.store).await;
    for _ in 0..1000 {
        if recs.len() == 2 {
            break;
        }
        tokio::task::yield_now().await;
        recs = records(&fx.store).await;
    }
    assert_eq!(recs[1].code.as_deref(), Some("not_forwarded"));
    assert_eq!(seen(&t), ["check:a", "settle:a:not_forwarded"]);
}

#[tokio::test]
async fn record_times_come_from_the_clock() {
    let (st, fx) = testing::state();
    let st = Arc::new(st);
    let p = permit(tool(&st, "reader", "demo.read", false).await);
    fx.clock.advance(Duration::from_millis(1_500));
    p.answer(Ok(json!({}))).await.unwrap();
    let recs = records(&fx.store).await;
    assert_eq!((recs[0].time_ms, recs[1].time_ms), (T0, T0 + 1_500));
    assert_eq!(recs[1].latency_us, Some(1_500_000));
}

/// An engine that refuses every live call.
struct NoLiveCalls;

impl PolicyEngine for NoLiveCalls {
    fn name(&self) -> &'static str {
        "no-live-calls"
    }
    fn evaluate(&self, req: &PolicyRequest<'_>) -> Result<Verdict, EngineError> {
        Ok(if req.context.live {
            Verdict::Deny(ErrorCode::NotAllowed, "no live calls".into())
        } else {
            Verdict::Allow
        })
    }
}

#[tokio::test]
async fn every_engine_must_allow_and_the_preview_asks_them() {
    let (st, _fx) = testing::state();
    let policy = st.live().policy.clone();
    let roles: Arc<dyn PolicyEngine> = Arc::new(policy.clone());
    let st_roles = Arc::new(testing::state().0);
    // The role engine alone would run this write live and says so in the preview.
    let preview = match tool(&st_roles, "writer", "demo.write", false).await {
        Decided::Answered(Ok(v)) => v,
        _ => panic!("previewed"),
    };
    assert_eq!(
        preview["_meta"]["io.portcullis/dryRun"]["liveCallWouldBeAllowed"],
        true
    );
    st.set_live(crate::state::Live {
        file_policy: policy.clone(),
        policy,
        grants: Vec::new(),
        unused_grants: Vec::new(),
        engines: Engines::new(vec![roles, Arc::new(NoLiveCalls)]),
        config_hash: String::new(),
        generation: 1,
    });
    let st = Arc::new(st);
    let preview = match tool(&st, "writer", "demo.write", false).await {
        Decided::Answered(Ok(v)) => v,
        _ => panic!("previewed"),
    };
    assert_eq!(
        preview["_meta"]["io.portcullis/dryRun"]["liveCallWouldBeAllowed"],
        false
    );
    let f = denied(tool(&st, "writer", "demo.write", true).await);
    assert_eq!(
        (f.code, f.reason.as_str()),
        (ErrorCode::NotAllowed, "no live calls")
    );
}
