//! What the kill-switch, rate-limit, arguments, idempotency and duplicates stages cost a call
//! they let through: each variant runs `resolve` and then the stage under test on one live
//! `tools/call`, in process (memory store, manual clock moved 2 ms a call so rate buckets
//! refill and duplicate windows pass), against `resolve` alone. The idempotency variant sends
//! a new key each call, so each call reserves one.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_gateway::pipeline::stages::{
    Arguments, Duplicates, Idempotency, KillSwitch, RateLimit, Resolve,
};
use portcullis_gateway::pipeline::{
    ClientRef, Facts, Governed, GovernedMethod, Requested, Stage, Step,
};
use portcullis_gateway::state::AppState;
use portcullis_gateway::testing::{self, CONFIG, Fixture, principal_in};
use portcullis_store::{ControlStore, Stores, SwitchScope};
use serde_json::json;

/// Three rules that match every call and never refuse one at a call a millisecond.
const LIMITS: &str = r#"
[[limits.rate]]
scope = "tenant"
rate = "1000/s"

[[limits.rate]]
scope = "agent"
rate = "1000/s"

[[limits.rate]]
scope = "tenant_tool"
match = "demo.*"
rate = "1000/s"
"#;

/// A `max_results` bound on the tool (the call leaves the argument out; the schema does not
/// declare it), an idempotency setting, and a duplicates window shorter than a call's 2 ms.
const CALLS: &str = r#"
[[tools]]
match = "demo.read"
results_argument = "limit"
max_results = 100

[duplicates]
window = "1ms"
classes = ["read"]
"#;

/// Five engaged switches, none of which covers the call.
fn engage_others(st: &AppState, fx: &Fixture, rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        for scope in [
            SwitchScope::Tenant("other".into()),
            SwitchScope::Agent("t1/someone-else".into()),
            SwitchScope::Upstream("files".into()),
            SwitchScope::Class("destructive".into()),
            SwitchScope::Tool("demo.write".into()),
        ] {
            let s = portcullis_store::KillSwitch {
                scope,
                engaged: true,
                reason: "bench".into(),
                actor: "bench".into(),
                updated_ms: 0,
            };
            fx.store.set_switch(s).await.expect("switch");
        }
        st.controls.refresh(st).await.expect("refresh");
    });
}

/// A name, the state and fixture to run on, and the stage after `resolve` (if any).
type Variant<'a> = (&'a str, &'a AppState, &'a Fixture, Option<Arc<dyn Stage>>);

/// A new idempotency key for each call of the bench.
fn next_key() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("k{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let p = principal_in("t1", "admin");
    let args = json!({});
    let (plain, plain_fx) = testing::state_with(CONFIG, Stores::of);
    let (limited, limited_fx) = testing::state_with(&format!("{CONFIG}\n{LIMITS}"), Stores::of);
    let (calls, calls_fx) = testing::state_with(&format!("{CONFIG}\n{CALLS}"), Stores::of);
    engage_others(&plain, &plain_fx, &rt);
    let variants: [Variant<'_>; 6] = [
        ("resolve", &plain, &plain_fx, None),
        (
            "resolve+kill_switch",
            &plain,
            &plain_fx,
            Some(Arc::new(KillSwitch)),
        ),
        (
            "resolve+rate_limit",
            &limited,
            &limited_fx,
            Some(Arc::new(RateLimit)),
        ),
        (
            "resolve+arguments",
            &calls,
            &calls_fx,
            Some(Arc::new(Arguments)),
        ),
        (
            "resolve+idempotency",
            &calls,
            &calls_fx,
            Some(Arc::new(Idempotency)),
        ),
        (
            "resolve+duplicates",
            &calls,
            &calls_fx,
            Some(Arc::new(Duplicates)),
        ),
    ];
    let mut g = c.benchmark_group("stage_check");
    for (name, st, fx, stage) in variants {
        g.bench_function(name, |b| {
            b.iter(|| {
                fx.clock.advance(Duration::from_millis(2));
                let key = (name == "resolve+idempotency").then(next_key);
                // The switches were read "now": a manual clock moved far would make them stale.
                rt.block_on(st.controls.refresh(st)).expect("refresh");
                let mut req = Governed {
                    principal: &p,
                    client: ClientRef::Modern,
                    method: GovernedMethod::ToolsCall,
                    requested: Requested::Tool("demo.read"),
                    arguments: &args,
                    live: true,
                    idempotency_key: key.as_deref(),
                    now_ms: st.clock.now_ms(),
                    started: st.clock.instant(),
                    cid: "cid",
                    facts: Facts::default(),
                };
                rt.block_on(async {
                    let step = Resolve.check(st, &mut req).await.expect("resolved");
                    black_box(step);
                    if let Some(stage) = &stage {
                        let step = stage.check(st, &mut req).await.expect("checked");
                        assert!(matches!(step, Step::Continue), "the call goes on");
                    }
                });
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
