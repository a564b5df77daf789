//! Circuit breakers (with `[breakers]` in the config): one circuit per tool and, with
//! `upstreams = true`, one per upstream fed by the calls of all its tools. Closed, a circuit
//! remembers its forwarded calls for `window`; once at least `min_calls` of them are there and
//! the share that failed upstream (timeout, error, invalid answer, unavailable) reaches
//! `failure_rate`, it opens: calls are refused with `circuit_open` for `cool_down`. Then it is
//! half-open: up to `probes` calls go through; the first answer decides — a success closes the
//! circuit, a failure opens it again. A call goes through only if every circuit it passes is
//! willing. Every transition is a `control` record in the ledger and moves the
//! `portcullis_breaker_state` gauge; with `degrade_when_open = N`, the N-th circuit open at once
//! puts the whole gateway in read-only mode (the `read_only` switch, set by `gateway`, lifted by
//! an operator). A tool's own errors (`isError` results) are answers, not failures.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use portcullis_protocol::ErrorCode;
use portcullis_store::{KillSwitch, SwitchScope};
use serde_json::json;

use crate::metrics::BreakerLabels;
use crate::pipeline::{Governed, GovernedMethod, Settlement, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

pub struct Breaker;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until_ms: i64 },
    HalfOpen { probes_out: u32 },
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }

    /// The gauge's value: 0 closed, 1 half-open, 2 open.
    fn level(self) -> i64 {
        match self {
            State::Closed => 0,
            State::HalfOpen { .. } => 1,
            State::Open { .. } => 2,
        }
    }
}

#[derive(Debug)]
struct Circuit {
    state: State,
    /// Forwarded calls in the window: when they ended, and whether they failed.
    calls: VecDeque<(i64, bool)>,
}

impl Circuit {
    fn new() -> Circuit {
        Circuit {
            state: State::Closed,
            calls: VecDeque::new(),
        }
    }
}

/// Every circuit, by scope (`tool:<name>`, `upstream:<name>`), made on its first call.
#[derive(Default)]
pub struct Circuits {
    by_scope: Mutex<HashMap<String, Circuit>>,
}

impl Circuits {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Circuit>> {
        self.by_scope.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The circuits that are not closed: scope, tool or upstream, state, and until when an
    /// open one refuses.
    pub fn not_closed(&self) -> Vec<serde_json::Value> {
        let map = self.lock();
        let mut out: Vec<serde_json::Value> = map
            .iter()
            .filter(|(_, c)| c.state != State::Closed)
            .map(|(scope, c)| {
                let mut v = json!({"scope": scope, "state": c.state.as_str()});
                if let Some((kind, name)) = scope.split_once(':') {
                    v[kind] = json!(name);
                }
                if let State::Open { until_ms } = c.state {
                    v["untilMs"] = json!(until_ms);
                }
                v
            })
            .collect();
        out.sort_by(|a, b| a["scope"].as_str().cmp(&b["scope"].as_str()));
        out
    }

    fn open_count(&self) -> usize {
        self.lock()
            .values()
            .filter(|c| matches!(c.state, State::Open { .. }))
            .count()
    }
}

/// The circuits a call passes: its tool's, and its upstream's when upstreams have circuits.
fn scopes(upstreams: bool, tool: Option<&str>, upstream: Option<&str>) -> Vec<String> {
    let mut out = Vec::with_capacity(2);
    if let Some(t) = tool {
        out.push(format!("tool:{t}"));
    }
    if let (true, Some(u)) = (upstreams, upstream) {
        out.push(format!("upstream:{u}"));
    }
    out
}

/// The outcomes that count as the upstream failing.
fn failed(outcome: &str) -> bool {
    matches!(
        outcome,
        "upstream_timeout"
            | "upstream_error"
            | "upstream_invalid_response"
            | "upstream_unavailable"
    )
}

/// Record a transition of the circuit `scope` in the ledger (in the background: a settle hook
/// cannot wait) and in the metrics.
fn record(st: &AppState, scope: &str, to: State, reason: String) {
    tracing::warn!(scope = %scope, state = to.as_str(), %reason, "circuit breaker");
    let labels = BreakerLabels {
        scope: scope.to_string(),
    };
    st.metrics
        .breaker_state
        .get_or_create(&labels)
        .set(to.level());
    let mut facts = std::collections::BTreeMap::new();
    facts.insert("scope".to_string(), scope.to_string());
    facts.insert("reason".to_string(), reason);
    let tool = scope.strip_prefix("tool:").map(str::to_string);
    let rec = crate::controls::operator_record(
        &format!("breaker/{}", to.as_str()),
        String::new(),
        "gateway",
        tool,
        facts,
        st.clock.now_ms(),
    );
    let ledger = st.stores.ledger.clone();
    tokio::spawn(async move {
        if let Err(e) = ledger.append(rec).await {
            tracing::error!(error = %e, "a circuit breaker transition could not be recorded");
        }
    });
}

/// With `degrade_when_open`, put the gateway in read-only mode once that many circuits are
/// open (unless it already is). The switch goes through the store like an operator's, so
/// every process sharing it follows, and the controls watcher records it.
fn degrade_if_needed(st: &AppState) {
    let Some(limit) = st
        .config
        .breakers
        .as_ref()
        .and_then(|b| b.degrade_when_open)
    else {
        return;
    };
    let open = st.circuits.open_count();
    let read_only = SwitchScope::ReadOnly(None);
    if open < limit as usize
        || st
            .controls
            .engaged()
            .first(std::slice::from_ref(&read_only))
            .is_some()
    {
        return;
    }
    let switch = KillSwitch {
        scope: read_only,
        engaged: true,
        reason: format!("{open} circuits are open (breakers.degrade_when_open = {limit})"),
        actor: "gateway".into(),
        updated_ms: st.clock.now_ms(),
    };
    tracing::warn!(open, "circuits open: the gateway goes read-only");
    let controls = st.stores.controls.clone();
    tokio::spawn(async move {
        if let Err(e) = controls.set_switch(switch).await {
            tracing::error!(error = %e, "the read-only mode could not be set");
        }
    });
}

#[async_trait]
impl Stage for Breaker {
    fn name(&self) -> &'static str {
        "breaker"
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        let Some(cfg) = &st.config.breakers else {
            return Ok(Step::Continue);
        };
        if req.method != GovernedMethod::ToolsCall {
            return Ok(Step::Continue);
        }
        let resolved = req.facts.resolved.as_ref();
        let scopes = scopes(
            cfg.upstreams,
            resolved.map(|r| r.item.as_str()),
            resolved.and_then(|r| r.upstream.as_deref()),
        );
        let now = req.now_ms;
        let mut map = st.circuits.lock();
        // First whether every circuit lets the call through; only then take probe places.
        for scope in &scopes {
            let Some(c) = map.get(scope) else { continue };
            let refusal = match c.state {
                State::Open { until_ms } if now < until_ms => Some((
                    "open",
                    format!("the circuit '{scope}' is open: its upstream kept failing"),
                    Some(until_ms - now),
                )),
                State::HalfOpen { probes_out } if probes_out >= cfg.probes => Some((
                    "half_open",
                    format!("the circuit '{scope}' is half-open and its probes are in flight"),
                    None,
                )),
                _ => None,
            };
            if let Some((state, why, retry_ms)) = refusal {
                req.facts.ledger.insert("breaker".into(), state.into());
                let mut f = Failure::new(ErrorCode::CircuitOpen, why);
                if let Some(ms) = retry_ms {
                    f = f.with("retryAfterMs", json!(ms.max(0)));
                }
                return Ok(Step::Deny(f));
            }
        }
        let mut half_opened = Vec::new();
        for scope in scopes {
            let c = map.entry(scope.clone()).or_insert_with(Circuit::new);
            match c.state {
                State::Closed => continue,
                State::Open { .. } => {
                    c.state = State::HalfOpen { probes_out: 1 };
                    half_opened.push(scope.clone());
                }
                State::HalfOpen { probes_out } => {
                    c.state = State::HalfOpen {
                        probes_out: probes_out + 1,
                    };
                }
            }
            req.facts.breaker_probes.push(scope);
        }
        drop(map);
        for scope in half_opened {
            record(
                st,
                &scope,
                State::HalfOpen { probes_out: 1 },
                "cool-down over; probing".into(),
            );
        }
        Ok(Step::Continue)
    }

    fn settle(&self, st: &AppState, s: &Settlement) {
        let Some(cfg) = &st.config.breakers else {
            return;
        };
        if s.ctx.method != GovernedMethod::ToolsCall {
            return;
        }
        let forwarded = s.forwarded();
        let now = st.clock.now_ms();
        let mut transitions = Vec::new();
        let mut map = st.circuits.lock();
        for scope in scopes(
            cfg.upstreams,
            s.ctx.item.as_deref(),
            s.ctx.upstream.as_deref(),
        ) {
            let probe = s.facts.breaker_probes.contains(&scope);
            let c = match map.get_mut(&scope) {
                Some(c) => c,
                None if forwarded => map.entry(scope.clone()).or_insert_with(Circuit::new),
                None => continue,
            };
            if !forwarded {
                // A probe refused after the breaker let it through frees its place.
                if let (true, State::HalfOpen { probes_out }) = (probe, c.state) {
                    c.state = State::HalfOpen {
                        probes_out: probes_out.saturating_sub(1),
                    };
                }
                continue;
            }
            if let Some(t) = settle_one(c, cfg, &s.outcome, now) {
                transitions.push((scope, t));
            }
        }
        drop(map);
        let mut opened = false;
        for (scope, (to, why)) in transitions {
            opened |= matches!(to, State::Open { .. });
            record(st, &scope, to, why);
        }
        if opened {
            degrade_if_needed(st);
        }
    }
}

/// Feed one forwarded call's `outcome` to circuit `c`: the transition it causes, if any.
fn settle_one(
    c: &mut Circuit,
    cfg: &portcullis_control::BreakerConfig,
    outcome: &str,
    now: i64,
) -> Option<(State, String)> {
    let bad = failed(outcome);
    let until_ms = now + cfg.cool_down.as_millis() as i64;
    match c.state {
        State::HalfOpen { .. } if bad => {
            c.state = State::Open { until_ms };
            Some((c.state, format!("a probe failed ({outcome})")))
        }
        State::HalfOpen { .. } => {
            c.state = State::Closed;
            c.calls.clear();
            Some((State::Closed, "a probe succeeded".to_string()))
        }
        State::Open { .. } => None,
        State::Closed => {
            c.calls.push_back((now, bad));
            let since = now - cfg.window.as_millis() as i64;
            while c.calls.front().is_some_and(|(t, _)| *t < since) {
                c.calls.pop_front();
            }
            let total = c.calls.len();
            let failures = c.calls.iter().filter(|(_, f)| *f).count();
            let opens = total >= cfg.min_calls as usize
                && failures as f64 >= cfg.failure_rate * total as f64;
            opens.then(|| {
                c.state = State::Open { until_ms };
                (
                    c.state,
                    format!("{failures} of the last {total} calls failed upstream"),
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use portcullis_ledger::RecordKind;
    use portcullis_protocol::ErrorCode;
    use portcullis_store::Stores;

    use crate::pipeline::{Decided, GovernedMethod, Permit, Requested};
    use crate::respond::Failure;
    use crate::state::AppState;
    use crate::testing::{self, CONFIG, Fixture, principal_in};

    const BREAKERS: &str = "[breakers]\nwindow = \"60s\"\nmin_calls = 4\nfailure_rate = 0.5\ncool_down = \"30s\"\nprobes = 1\n";

    fn state() -> (Arc<AppState>, Fixture) {
        state_plus("")
    }

    fn state_plus(extra: &str) -> (Arc<AppState>, Fixture) {
        let (st, fx) = testing::state_with(&format!("{CONFIG}\n{BREAKERS}{extra}"), Stores::of);
        (Arc::new(st), fx)
    }

    async fn decide(st: &Arc<AppState>) -> Decided {
        decide_tool(st, "demo.read").await
    }

    async fn decide_tool(st: &Arc<AppState>, tool: &str) -> Decided {
        let p = principal_in("t1", "admin");
        testing::decide(
            st,
            &p,
            GovernedMethod::ToolsCall,
            Requested::Tool(tool),
            true,
        )
        .await
    }

    fn permit(d: Decided) -> Permit {
        match d {
            Decided::Allowed(p) => p,
            Decided::Answered(r) => panic!("expected a permit, got {r:?}"),
        }
    }

    fn refused(d: Decided) -> ErrorCode {
        match d {
            Decided::Answered(Err(f)) => f.code,
            _ => panic!("expected a refusal"),
        }
    }

    /// One call through to its outcome: the upstream answers, or fails.
    async fn call(st: &Arc<AppState>, fails: bool) {
        let p = permit(decide(st).await);
        let outcome = if fails {
            Err(Failure::new(ErrorCode::UpstreamError, "boom"))
        } else {
            Ok(serde_json::json!({"content": []}))
        };
        let _ = p.answer(outcome).await;
    }

    /// Move the clock past the cool-down (the kill switches are read again, as the watcher
    /// would, so that they stay fresh).
    async fn cool_down(st: &Arc<AppState>, fx: &Fixture) {
        fx.clock.advance(Duration::from_secs(30));
        st.controls.refresh(st).await.unwrap();
    }

    async fn transitions(fx: &Fixture) -> Vec<String> {
        transition_records(fx)
            .await
            .into_iter()
            .map(|r| r.method)
            .collect()
    }

    async fn transition_records(fx: &Fixture) -> Vec<portcullis_ledger::Record> {
        // Transitions are recorded in the background; wait until they have settled.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        testing::records(&fx.store)
            .await
            .into_iter()
            .filter(|r| r.kind == RecordKind::Control)
            .collect()
    }

    #[tokio::test]
    async fn failures_open_the_circuit_and_a_good_probe_closes_it() {
        let (st, fx) = state();
        call(&st, false).await;
        call(&st, true).await;
        call(&st, false).await;
        assert!(
            matches!(decide(&st).await, Decided::Allowed(_)),
            "1 of 3: below min_calls"
        );
        call(&st, true).await;
        // 2 of 4 failed: the rate is reached.
        assert_eq!(refused(decide(&st).await), ErrorCode::CircuitOpen);
        assert_eq!(st.circuits.not_closed()[0]["state"], "open");
        cool_down(&st, &fx).await;
        let probe = permit(decide(&st).await);
        assert_eq!(
            refused(decide(&st).await),
            ErrorCode::CircuitOpen,
            "one probe at a time"
        );
        let _ = probe.answer(Ok(serde_json::json!({"content": []}))).await;
        assert!(
            matches!(decide(&st).await, Decided::Allowed(_)),
            "closed again"
        );
        assert!(st.circuits.not_closed().is_empty());
        assert_eq!(
            transitions(&fx).await,
            ["breaker/open", "breaker/half_open", "breaker/closed"]
        );
    }

    #[tokio::test]
    async fn a_failed_probe_opens_the_circuit_again() {
        let (st, fx) = state();
        for _ in 0..4 {
            call(&st, true).await;
        }
        assert_eq!(refused(decide(&st).await), ErrorCode::CircuitOpen);
        cool_down(&st, &fx).await;
        call(&st, true).await;
        assert_eq!(
            refused(decide(&st).await),
            ErrorCode::CircuitOpen,
            "open again"
        );
        assert_eq!(
            transitions(&fx).await,
            ["breaker/open", "breaker/half_open", "breaker/open"]
        );
        // Other tools are not affected.
        let p = principal_in("t1", "admin");
        let other = testing::decide(
            &st,
            &p,
            GovernedMethod::ToolsCall,
            Requested::Tool("demo.write"),
            true,
        )
        .await;
        assert!(matches!(other, Decided::Allowed(_)));
    }

    #[tokio::test]
    async fn an_upstream_circuit_stops_all_its_tools_and_closes_on_any_good_probe() {
        let (st, fx) = state_plus("upstreams = true\n");
        for _ in 0..4 {
            call(&st, true).await;
        }
        assert_eq!(
            refused(decide_tool(&st, "demo.write").await),
            ErrorCode::CircuitOpen
        );
        let scopes: Vec<String> = st
            .circuits
            .not_closed()
            .iter()
            .map(|c| c["scope"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(scopes, ["tool:demo.read", "upstream:demo"]);
        let metrics = st.metrics.encode();
        assert!(
            metrics.contains("portcullis_breaker_state{scope=\"upstream:demo\"} 2"),
            "{metrics}"
        );
        cool_down(&st, &fx).await;
        // demo.write's circuit is closed: it probes the upstream's.
        let probe = permit(decide_tool(&st, "demo.write").await);
        let _ = probe.answer(Ok(serde_json::json!({"content": []}))).await;
        assert!(matches!(
            decide_tool(&st, "demo.write").await,
            Decided::Allowed(_)
        ));
        let scopes: Vec<serde_json::Value> = st.circuits.not_closed();
        assert_eq!(scopes.len(), 1);
        assert_eq!(
            scopes[0]["tool"], "demo.read",
            "its own circuit is still open"
        );
        let recs = transition_records(&fx).await;
        let up: Vec<&str> = recs
            .iter()
            .filter(|r| r.facts["scope"] == "upstream:demo")
            .map(|r| r.method.as_str())
            .collect();
        assert_eq!(up, ["breaker/open", "breaker/half_open", "breaker/closed"]);
        assert!(
            recs.iter()
                .filter(|r| r.facts["scope"] == "upstream:demo")
                .all(|r| r.tool.is_none())
        );
    }

    #[tokio::test]
    async fn enough_open_circuits_put_the_gateway_in_read_only_mode() {
        use portcullis_store::{ControlStore, SwitchScope};
        let (st, fx) = state_plus("degrade_when_open = 1\n");
        for _ in 0..4 {
            call(&st, true).await;
        }
        let mut engaged = Vec::new();
        for _ in 0..1000 {
            engaged = fx.store.switches().await.unwrap();
            if !engaged.is_empty() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(engaged.len(), 1, "the read-only switch was set");
        assert_eq!(engaged[0].scope, SwitchScope::ReadOnly(None));
        assert_eq!(engaged[0].actor, "gateway");
        assert!(engaged[0].reason.contains("1 circuits are open"));
        st.controls.refresh(&st).await.unwrap();
        assert_eq!(
            refused(decide_tool(&st, "demo.write").await),
            ErrorCode::ReadOnlyMode
        );
    }
}
