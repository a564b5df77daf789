//! The decision path of one `tools/call`: classify the tool, then ask the role engine for the
//! caller's role, with a policy shaped like a real one (several roles, class rules).

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_policy::{
    Action, ClassRule, ClassRules, Context, Mode, Policy, PolicyEngine, PolicyRequest, Role,
    Subject, Target, ToolClass, Verdict,
};
use serde_json::{Value, json};

fn policy() -> Policy {
    let role = |name: &str, allow: &[&str], write: bool, destructive: bool| {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        let r = Role::new(name, &allow, write, destructive).expect("valid globs");
        (name.to_string(), r)
    };
    let roles: HashMap<String, Role> = [
        role("reader", &["demo.notes_read", "demo.echo"], false, false),
        role(
            "agent",
            &["demo.*", "files.read_*", "search.*"],
            true,
            false,
        ),
        role("admin", &["*"], true, true),
    ]
    .into_iter()
    .collect();
    let classes = ClassRules::new(vec![
        ClassRule::new("files.delete_*", ToolClass::Destructive).expect("glob"),
        ClassRule::new("files.write_*", ToolClass::Write).expect("glob"),
        ClassRule::new("search.*", ToolClass::Read).expect("glob"),
    ]);
    Policy {
        mode: Mode::ReadOnly,
        roles,
        classes,
    }
}

fn call<'a>(role: &'a str, tool: &'a str, class: ToolClass, args: &'a Value) -> PolicyRequest<'a> {
    PolicyRequest {
        subject: Subject {
            tenant: "t",
            agent: "a",
            role,
            auth_method: "api_key",
        },
        action: Action::CallTool,
        target: Target {
            name: tool,
            class: Some(class),
        },
        context: Context {
            arguments: args,
            live: true,
            time_ms: 0,
        },
    }
}

fn bench_decide(c: &mut Criterion) {
    let args = json!({"text": "hello"});
    let p = policy();
    let read = json!({"readOnlyHint": true});
    let mut g = c.benchmark_group("policy_decide");
    g.bench_function("classify_and_allow_read", |b| {
        b.iter(|| {
            let class = p.classify(black_box("demo.echo"), Some(black_box(&read)));
            p.evaluate(&call(black_box("agent"), "demo.echo", class, &args))
        })
    });
    assert_eq!(
        p.evaluate(&call("agent", "demo.echo", ToolClass::Read, &args)),
        Ok(Verdict::Allow)
    );
    g.bench_function("deny_not_allowed", |b| {
        b.iter(|| {
            let class = p.classify(black_box("files.delete_all"), None);
            p.evaluate(&call(black_box("reader"), "files.delete_all", class, &args))
        })
    });
    g.finish();
}

criterion_group!(benches, bench_decide);
criterion_main!(benches);
