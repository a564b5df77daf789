//! Circuit breaker, per tool (with `[breakers]` in the config). Closed, a tool's forwarded calls
//! are remembered for `window`; once at least `min_calls` of them are there and the share that
//! failed upstream (timeout, error, invalid answer, unavailable) reaches `failure_rate`, the
//! circuit opens: calls are refused with `circuit_open` for `cool_down`. Then it is half-open:
//! up to `probes` calls go through; the first answer decides — a success closes the circuit, a
//! failure opens it again. Every transition is a `control` record in the ledger. A tool's own
//! errors (`isError` results) are answers, not failures.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use portcullis_ledger::Decision;
use portcullis_protocol::ErrorCode;
use serde_json::json;

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
}

#[derive(Debug)]
struct Circuit {
    state: State,
    /// Forwarded calls in the window: when they ended, and whether they failed.
    calls: VecDeque<(i64, bool)>,
}

/// Every tool's circuit, made on its first call.
#[derive(Default)]
pub struct Circuits {
    by_tool: Mutex<HashMap<String, Circuit>>,
}

impl Circuits {
    /// The circuits that are not closed: tool, state, and until when an open one refuses.
    pub fn not_closed(&self) -> Vec<serde_json::Value> {
        let map = self.by_tool.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<serde_json::Value> = map
            .iter()
            .filter(|(_, c)| c.state != State::Closed)
            .map(|(tool, c)| {
                let mut v = json!({"tool": tool, "state": c.state.as_str()});
                if let State::Open { until_ms } = c.state {
                    v["untilMs"] = json!(until_ms);
                }
                v
            })
            .collect();
        out.sort_by(|a, b| a["tool"].as_str().cmp(&b["tool"].as_str()));
        out
    }
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

/// Record a transition in the ledger (in the background: a settle hook cannot wait).
fn record(st: &AppState, tool: &str, to: State, reason: String) {
    tracing::warn!(tool = %tool, state = to.as_str(), %reason, "circuit breaker");
    let mut facts = std::collections::BTreeMap::new();
    facts.insert("scope".to_string(), format!("tool:{tool}"));
    facts.insert("reason".to_string(), reason);
    let rec = crate::controls::operator_record(
        &format!("breaker/{}", to.as_str()),
        String::new(),
        "gateway",
        Some(tool.to_string()),
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
        let Some(tool) = req.facts.resolved.as_ref().map(|r| r.item.clone()) else {
            return Ok(Step::Continue);
        };
        let now = req.now_ms;
        let mut map = st
            .circuits
            .by_tool
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let circuit = map.entry(tool.clone()).or_insert_with(|| Circuit {
            state: State::Closed,
            calls: VecDeque::new(),
        });
        let refuse = |why: String, retry_ms: Option<i64>| {
            let mut f = Failure::new(ErrorCode::CircuitOpen, why);
            if let Some(ms) = retry_ms {
                f = f.with("retryAfterMs", json!(ms.max(0)));
            }
            Ok(Step::Deny(f))
        };
        match circuit.state {
            State::Closed => Ok(Step::Continue),
            State::Open { until_ms } if now < until_ms => {
                req.facts.ledger.insert("breaker".into(), "open".into());
                refuse(
                    format!("the circuit of '{tool}' is open: its upstream kept failing"),
                    Some(until_ms - now),
                )
            }
            State::Open { .. } => {
                circuit.state = State::HalfOpen { probes_out: 1 };
                drop(map);
                record(
                    st,
                    &tool,
                    State::HalfOpen { probes_out: 1 },
                    "cool-down over; probing".into(),
                );
                req.facts.breaker_probe = true;
                Ok(Step::Continue)
            }
            State::HalfOpen { probes_out } if probes_out < cfg.probes => {
                circuit.state = State::HalfOpen {
                    probes_out: probes_out + 1,
                };
                req.facts.breaker_probe = true;
                Ok(Step::Continue)
            }
            State::HalfOpen { .. } => {
                req.facts
                    .ledger
                    .insert("breaker".into(), "half_open".into());
                refuse(
                    format!("the circuit of '{tool}' is half-open and its probes are in flight"),
                    None,
                )
            }
        }
    }

    fn settle(&self, st: &AppState, s: &Settlement) {
        let Some(cfg) = &st.config.breakers else {
            return;
        };
        let Some(tool) = s.ctx.tool.clone() else {
            return;
        };
        let forwarded = s.decision == Decision::Allow
            && !matches!(s.outcome.as_str(), "not_forwarded" | "audit_unavailable");
        let now = st.clock.now_ms();
        let mut map = st
            .circuits
            .by_tool
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(circuit) = map.get_mut(&tool) else {
            return;
        };
        if !forwarded {
            // A probe refused after the breaker let it through frees its place.
            if let (true, State::HalfOpen { probes_out }) = (s.facts.breaker_probe, circuit.state) {
                circuit.state = State::HalfOpen {
                    probes_out: probes_out.saturating_sub(1),
                };
            }
            return;
        }
        let bad = failed(&s.outcome);
        let until_ms = now + cfg.cool_down.as_millis() as i64;
        let transition = match circuit.state {
            State::HalfOpen { .. } if bad => {
                circuit.state = State::Open { until_ms };
                Some((circuit.state, format!("a probe failed ({})", s.outcome)))
            }
            State::HalfOpen { .. } => {
                circuit.state = State::Closed;
                circuit.calls.clear();
                Some((State::Closed, "a probe succeeded".to_string()))
            }
            State::Open { .. } => None,
            State::Closed => {
                circuit.calls.push_back((now, bad));
                let since = now - cfg.window.as_millis() as i64;
                while circuit.calls.front().is_some_and(|(t, _)| *t < since) {
                    circuit.calls.pop_front();
                }
                let total = circuit.calls.len();
                let failures = circuit.calls.iter().filter(|(_, f)| *f).count();
                let opens = total >= cfg.min_calls as usize
                    && failures as f64 >= cfg.failure_rate * total as f64;
                opens.then(|| {
                    circuit.state = State::Open { until_ms };
                    (
                        circuit.state,
                        format!("{failures} of the last {total} calls failed upstream"),
                    )
                })
            }
        };
        drop(map);
        if let Some((to, why)) = transition {
            record(st, &tool, to, why);
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
        let (st, fx) = testing::state_with(&format!("{CONFIG}\n{BREAKERS}"), Stores::of);
        (Arc::new(st), fx)
    }

    async fn decide(st: &Arc<AppState>) -> Decided {
        let p = principal_in("t1", "admin");
        testing::decide(
            st,
            &p,
            GovernedMethod::ToolsCall,
            Requested::Tool("demo.read"),
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
        // Transitions are recorded in the background; wait until they have settled.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        testing::records(&fx.store)
            .await
            .into_iter()
            .filter(|r| r.kind == RecordKind::Control)
            .map(|r| r.method)
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
}
