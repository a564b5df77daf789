use serde_json::Value;

use super::*;
use crate::engine::{Context, Subject, Target};

fn policy(mode: Mode) -> Policy {
    let mut roles = HashMap::new();
    for (name, w, d) in [
        ("reader", false, false),
        ("writer", true, false),
        ("admin", true, true),
    ] {
        roles.insert(
            name.to_string(),
            Role::new(name, &["demo.*".into()], w, d).unwrap(),
        );
    }
    Policy {
        mode,
        roles,
        classes: ClassRules::default(),
    }
}

const ARGS: Value = Value::Null;

fn ask(
    p: &Policy,
    action: Action,
    role: &str,
    name: &str,
    class: Option<ToolClass>,
    live: bool,
) -> Verdict {
    let req = PolicyRequest {
        subject: Subject {
            tenant: "t",
            agent: "a",
            role,
            auth_method: "api_key",
        },
        action,
        target: Target { name, class },
        context: Context {
            arguments: &ARGS,
            live,
            time_ms: 0,
        },
    };
    p.evaluate(&req).unwrap()
}

fn tool(p: &Policy, role: &str, name: &str, class: ToolClass, live: bool) -> Verdict {
    ask(p, Action::CallTool, role, name, Some(class), live)
}

fn code(v: Verdict) -> ErrorCode {
    match v {
        Verdict::Deny(c, _) => c,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn reads_are_allowed_in_every_mode() {
    for mode in [Mode::ReadOnly, Mode::Enforce] {
        let p = policy(mode);
        for live in [false, true] {
            assert_eq!(
                tool(&p, "reader", "demo.r", ToolClass::Read, live),
                Verdict::Allow
            );
        }
    }
}

#[test]
fn previews_of_writes_are_allowed_whatever_the_mode_and_write_grant() {
    for mode in [Mode::ReadOnly, Mode::Enforce] {
        let p = policy(mode);
        for role in ["reader", "writer", "admin"] {
            assert_eq!(
                tool(&p, role, "demo.w", ToolClass::Write, false),
                Verdict::Allow
            );
        }
    }
}

#[test]
fn live_writes_need_enforce_mode_and_allow_write() {
    let ro = policy(Mode::ReadOnly);
    assert_eq!(
        code(tool(&ro, "writer", "demo.w", ToolClass::Write, true)),
        ErrorCode::ReadOnlyMode
    );
    assert_eq!(
        code(tool(&ro, "reader", "demo.w", ToolClass::Write, true)),
        ErrorCode::ReadOnlyMode,
        "read-only mode is named before the missing grant"
    );
    let en = policy(Mode::Enforce);
    assert_eq!(
        code(tool(&en, "reader", "demo.w", ToolClass::Write, true)),
        ErrorCode::WriteNotPermitted
    );
    assert_eq!(
        tool(&en, "writer", "demo.w", ToolClass::Write, true),
        Verdict::Allow
    );
}

#[test]
fn destructive_needs_allow_destructive_even_for_a_preview_and_enforce_to_run() {
    let en = policy(Mode::Enforce);
    for role in ["reader", "writer"] {
        for live in [false, true] {
            assert_eq!(
                code(tool(&en, role, "demo.d", ToolClass::Destructive, live)),
                ErrorCode::DestructiveDenied
            );
        }
    }
    assert_eq!(
        tool(&en, "admin", "demo.d", ToolClass::Destructive, false),
        Verdict::Allow
    );
    assert_eq!(
        tool(&en, "admin", "demo.d", ToolClass::Destructive, true),
        Verdict::Allow
    );
    let ro = policy(Mode::ReadOnly);
    assert_eq!(
        code(tool(&ro, "admin", "demo.d", ToolClass::Destructive, true)),
        ErrorCode::ReadOnlyMode
    );
}

#[test]
fn a_tool_without_a_class_is_treated_as_destructive() {
    let en = policy(Mode::Enforce);
    assert_eq!(
        code(ask(&en, Action::CallTool, "writer", "demo.x", None, false)),
        ErrorCode::DestructiveDenied
    );
}

#[test]
fn unknown_roles_and_unlisted_names_are_denied() {
    let p = policy(Mode::Enforce);
    assert_eq!(
        code(tool(&p, "ghost", "demo.r", ToolClass::Read, false)),
        ErrorCode::PolicyError
    );
    assert_eq!(
        code(tool(&p, "admin", "other.r", ToolClass::Read, false)),
        ErrorCode::ToolNotAllowed
    );
    for action in [
        Action::GetPrompt,
        Action::ReadResource,
        Action::SubscribeResource,
        Action::Complete,
    ] {
        assert_eq!(
            ask(&p, action, "reader", "demo.p", None, false),
            Verdict::Allow
        );
        assert_eq!(
            code(ask(&p, action, "reader", "other.p", None, false)),
            ErrorCode::NotAllowed,
            "{action:?}"
        );
        assert_eq!(
            code(ask(&p, action, "ghost", "demo.p", None, false)),
            ErrorCode::PolicyError
        );
    }
}

#[test]
fn leaving_a_subscription_and_setting_a_log_level_need_only_a_defined_role() {
    let p = policy(Mode::ReadOnly);
    for action in [Action::UnsubscribeResource, Action::SetLogLevel] {
        assert_eq!(
            ask(&p, action, "reader", "other.x", None, false),
            Verdict::Allow
        );
        assert_eq!(
            code(ask(&p, action, "ghost", "", None, false)),
            ErrorCode::PolicyError
        );
    }
}

#[test]
fn grants_add_to_their_roles_only() {
    let mut roles = HashMap::new();
    roles.insert(
        "reader".to_string(),
        Role::new("reader", &["demo.read".into()], false, false).unwrap(),
    );
    let p = Policy {
        mode: Mode::Enforce,
        roles,
        classes: ClassRules::default(),
    };
    let grants = vec![
        ("reader".to_string(), "demo.echo".to_string()),
        ("reader".to_string(), "demo.read".to_string()),
        ("ghost".to_string(), "*".to_string()),
        ("reader".to_string(), "[".to_string()),
    ];
    let (grown, unused) = p.with_grants(&grants);
    let r = &grown.roles["reader"];
    assert!(r.allows("demo.echo") && r.allows("demo.read") && !r.allows("demo.write"));
    assert_eq!(r.allow_patterns, ["demo.read", "demo.echo"]);
    assert!(
        !r.allow_write,
        "a grant adds names, never write or destructive rights"
    );
    assert_eq!(
        unused,
        [
            ("ghost".to_string(), "*".to_string()),
            ("reader".to_string(), "[".to_string())
        ]
    );
    assert!(
        !p.roles["reader"].allows("demo.echo"),
        "the file's policy is unchanged"
    );
}
