//! Concurrency caps: a tool call whose tool has `[[tools]] max_concurrency` waits up to the
//! entry's `max_wait` for one of its tool's slots, then, if its upstream has
//! `[[upstreams]] max_concurrency`, up to the upstream's `max_wait` for one of the upstream's;
//! it is refused with `overloaded` when a slot does not free in time (and gives back the one it
//! took). Slots are held until the call's outcome (the settle hook gives them back, however the
//! call ended). Last in the pipeline, so that only calls that will be forwarded hold or wait
//! for a slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use portcullis_protocol::ErrorCode;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::pipeline::{Governed, GovernedMethod, Settlement, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

pub struct Concurrency;

/// Each capped tool's and upstream's slots, by scope (`tool:<name>`, `upstream:<name>`), made
/// on its first call.
#[derive(Default)]
pub struct ToolSlots {
    by_scope: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl ToolSlots {
    fn of(&self, scope: &str, max: u32) -> Arc<Semaphore> {
        let mut map = self.by_scope.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(scope.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(max as usize)))
            .clone()
    }

    /// Calls of `scope` in flight now (`None` if it was never capped and called).
    pub fn in_flight(&self, scope: &str, max: u32) -> Option<usize> {
        let map = self.by_scope.lock().unwrap_or_else(|p| p.into_inner());
        map.get(scope)
            .map(|s| (max as usize).saturating_sub(s.available_permits()))
    }
}

/// The slots held by one call; shared by the clones of its facts, given back once.
#[derive(Debug, Clone, Default)]
pub struct HeldSlot(Arc<Mutex<Vec<OwnedSemaphorePermit>>>);

impl HeldSlot {
    fn release(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// One cap a call must pass: its scope, the most in flight, and how long to wait.
struct Cap {
    scope: String,
    max: u32,
    wait: std::time::Duration,
}

#[async_trait]
impl Stage for Concurrency {
    fn name(&self) -> &'static str {
        "concurrency"
    }

    /// The waits for slots are bounded by the tool's and the upstream's `max_wait` (at most
    /// 60 s each).
    fn budget(&self) -> std::time::Duration {
        std::time::Duration::from_secs(121)
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        if req.method != GovernedMethod::ToolsCall {
            return Ok(Step::Continue);
        }
        let Some(resolved) = req.facts.resolved.as_ref() else {
            return Ok(Step::Continue);
        };
        let tool = resolved.item.as_str();
        let mut caps = Vec::with_capacity(2);
        if let Some(rule) = st
            .config
            .tools
            .iter()
            .find(|t| t.max_concurrency.is_some() && t.matches(tool))
        {
            caps.push(Cap {
                scope: format!("tool:{tool}"),
                max: rule.max_concurrency.unwrap_or(1),
                wait: rule.max_wait,
            });
        }
        if let Some(up) = resolved
            .upstream
            .as_deref()
            .and_then(|u| st.config.upstreams.iter().find(|c| c.name == u))
            && let Some(max) = up.max_concurrency
        {
            caps.push(Cap {
                scope: format!("upstream:{}", up.name),
                max,
                wait: up.max_wait,
            });
        }
        if caps.is_empty() {
            return Ok(Step::Continue);
        }
        let mut held = Vec::with_capacity(caps.len());
        for cap in caps {
            let slots = st.tool_slots.of(&cap.scope, cap.max);
            match tokio::time::timeout(cap.wait, slots.acquire_owned()).await {
                Ok(Ok(p)) => held.push(p),
                Ok(Err(_)) | Err(_) => {
                    // `held` is dropped with the refusal: the slots taken are given back.
                    let Cap { scope, max, wait } = cap;
                    req.facts
                        .ledger
                        .insert("concurrency".into(), format!("{scope} max {max}"));
                    return Ok(Step::Deny(
                        Failure::new(
                            ErrorCode::Overloaded,
                            format!(
                                "'{scope}' has its {max} calls in flight and none finished within {} ms; retry later",
                                wait.as_millis()
                            ),
                        )
                        .with("maxConcurrency", json!(max)),
                    ));
                }
            }
        }
        req.facts.slot = Some(HeldSlot(Arc::new(Mutex::new(held))));
        Ok(Step::Continue)
    }

    fn settle(&self, _st: &AppState, s: &Settlement) {
        if let Some(slot) = &s.facts.slot {
            slot.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use portcullis_protocol::ErrorCode;
    use portcullis_store::Stores;

    use crate::pipeline::{Decided, GovernedMethod, Requested};
    use crate::state::AppState;
    use crate::testing::{self, CONFIG, principal_in};

    const TOOLS: &str =
        "[[tools]]\nmatch = \"demo.read\"\nmax_concurrency = 2\nmax_wait = \"200ms\"\n";

    async fn decide(st: &Arc<AppState>, tool: &str) -> Decided {
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

    #[tokio::test(start_paused = true)]
    async fn a_call_past_the_cap_waits_then_is_refused_and_a_finished_call_frees_its_slot() {
        let (st, _fx) = testing::state_with(&format!("{CONFIG}\n{TOOLS}"), Stores::of);
        let st = Arc::new(st);
        let first = decide(&st, "demo.read").await;
        let second = decide(&st, "demo.read").await;
        assert!(matches!(first, Decided::Allowed(_)) && matches!(second, Decided::Allowed(_)));
        assert_eq!(st.tool_slots.in_flight("tool:demo.read", 2), Some(2));
        match decide(&st, "demo.read").await {
            Decided::Answered(Err(f)) => {
                assert_eq!(f.code, ErrorCode::Overloaded);
                assert!(f.reason.contains("200 ms"), "{}", f.reason);
            }
            _ => panic!("the third call is refused after its wait"),
        }
        assert!(
            matches!(decide(&st, "demo.write").await, Decided::Allowed(_)),
            "another tool has no cap"
        );
        // The first call ends (answered here without an upstream): its slot is free again.
        let Decided::Allowed(permit) = first else {
            unreachable!()
        };
        let _ = permit.answer(Ok(serde_json::json!({}))).await;
        assert_eq!(st.tool_slots.in_flight("tool:demo.read", 2), Some(1));
        let third = decide(&st, "demo.read").await;
        assert!(
            matches!(third, Decided::Allowed(_)),
            "the freed slot is taken"
        );
        // A waiting call gets the slot a dropped call gives back, before its wait runs out.
        let waiting = tokio::spawn({
            let st = st.clone();
            async move { matches!(decide(&st, "demo.read").await, Decided::Allowed(_)) }
        });
        tokio::task::yield_now().await;
        let Decided::Allowed(second) = second else {
            unreachable!()
        };
        drop(second);
        assert!(
            waiting.await.unwrap(),
            "the waiting call took the freed slot"
        );
        drop(third);
    }

    #[tokio::test(start_paused = true)]
    async fn an_upstream_cap_holds_all_its_tools_and_a_refused_call_gives_back_its_tool_slot() {
        let upstream = "[[upstreams]]\nname = \"demo\"\ntransport = \"stdio\"\ncommand = \"/bin/true\"\nmax_concurrency = 2\nmax_wait = \"100ms\"\n";
        let (st, _fx) = testing::state_with(&format!("{CONFIG}\n{TOOLS}\n{upstream}"), Stores::of);
        let st = Arc::new(st);
        let read = decide(&st, "demo.read").await;
        let write = decide(&st, "demo.write").await;
        assert!(matches!(read, Decided::Allowed(_)) && matches!(write, Decided::Allowed(_)));
        assert_eq!(st.tool_slots.in_flight("upstream:demo", 2), Some(2));
        match decide(&st, "demo.read").await {
            Decided::Answered(Err(f)) => {
                assert_eq!(f.code, ErrorCode::Overloaded);
                assert!(f.reason.contains("'upstream:demo'"), "{}", f.reason);
            }
            _ => panic!("the upstream is full"),
        }
        assert_eq!(
            st.tool_slots.in_flight("tool:demo.read", 2),
            Some(1),
            "the refused call gave its tool slot back"
        );
        drop(write);
        assert!(matches!(
            decide(&st, "demo.delete").await,
            Decided::Allowed(_)
        ));
        drop(read);
    }
}
