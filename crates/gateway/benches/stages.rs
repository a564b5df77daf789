//! What the kill-switch and rate-limit stages cost a call they let through: each variant runs
//! `resolve` and then the stage under test on one `tools/call`, in process (memory store,
//! manual clock moved 1 ms a call so rate buckets refill), against `resolve` alone.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_gateway::pipeline::stages::{KillSwitch, RateLimit, Resolve};
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

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let p = principal_in("t1", "admin");
    let args = json!({});
    let (plain, plain_fx) = testing::state_with(CONFIG, Stores::of);
    let (limited, limited_fx) = testing::state_with(&format!("{CONFIG}\n{LIMITS}"), Stores::of);
    engage_others(&plain, &plain_fx, &rt);
    let variants: [Variant<'_>; 3] = [
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
    ];
    let mut g = c.benchmark_group("stage_check");
    for (name, st, fx, stage) in variants {
        g.bench_function(name, |b| {
            b.iter(|| {
                fx.clock.advance(Duration::from_millis(1));
                // The switches were read "now": a manual clock moved far would make them stale.
                rt.block_on(st.controls.refresh(st)).expect("refresh");
                let mut req = Governed {
                    principal: &p,
                    client: ClientRef::Modern,
                    method: GovernedMethod::ToolsCall,
                    requested: Requested::Tool("demo.read"),
                    arguments: &args,
                    live: true,
                    idempotency_key: None,
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
