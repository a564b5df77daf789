use super::*;

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
        assert_eq!(
            p.decide("reader", "demo.r", ToolClass::Read, false),
            Verdict::Allow
        );
        assert_eq!(
            p.decide("reader", "demo.r", ToolClass::Read, true),
            Verdict::Allow
        );
    }
}

#[test]
fn writes_are_dry_run_unless_asked_live() {
    for mode in [Mode::ReadOnly, Mode::Enforce] {
        let p = policy(mode);
        for role in ["reader", "writer", "admin"] {
            assert_eq!(
                p.decide(role, "demo.w", ToolClass::Write, false),
                Verdict::DryRun
            );
        }
    }
}

#[test]
fn live_writes_need_enforce_mode_and_allow_write() {
    let ro = policy(Mode::ReadOnly);
    assert_eq!(
        code(ro.decide("writer", "demo.w", ToolClass::Write, true)),
        ErrorCode::ReadOnlyMode
    );
    let en = policy(Mode::Enforce);
    assert_eq!(
        code(en.decide("reader", "demo.w", ToolClass::Write, true)),
        ErrorCode::WriteNotPermitted
    );
    assert_eq!(
        en.decide("writer", "demo.w", ToolClass::Write, true),
        Verdict::Allow
    );
}

#[test]
fn destructive_needs_allow_destructive_and_enforce() {
    let en = policy(Mode::Enforce);
    for role in ["reader", "writer"] {
        for live in [false, true] {
            assert_eq!(
                code(en.decide(role, "demo.d", ToolClass::Destructive, live)),
                ErrorCode::DestructiveDenied
            );
        }
    }
    assert_eq!(
        en.decide("admin", "demo.d", ToolClass::Destructive, false),
        Verdict::DryRun
    );
    assert_eq!(
        en.decide("admin", "demo.d", ToolClass::Destructive, true),
        Verdict::Allow
    );
    let ro = policy(Mode::ReadOnly);
    assert_eq!(
        code(ro.decide("admin", "demo.d", ToolClass::Destructive, true)),
        ErrorCode::ReadOnlyMode
    );
}

#[test]
fn unknown_roles_and_unlisted_tools_are_denied() {
    let p = policy(Mode::Enforce);
    assert_eq!(
        code(p.decide("ghost", "demo.r", ToolClass::Read, false)),
        ErrorCode::PolicyError
    );
    assert_eq!(
        code(p.decide("admin", "other.r", ToolClass::Read, false)),
        ErrorCode::ToolNotAllowed
    );
}

#[test]
fn visibility_hides_what_can_never_run() {
    let p = policy(Mode::ReadOnly);
    assert!(p.visible("reader", "demo.r", ToolClass::Read));
    assert!(p.visible("reader", "demo.w", ToolClass::Write));
    assert!(!p.visible("reader", "demo.d", ToolClass::Destructive));
    assert!(p.visible("admin", "demo.d", ToolClass::Destructive));
    assert!(!p.visible("admin", "other.r", ToolClass::Read));
    assert!(!p.visible("ghost", "demo.r", ToolClass::Read));
}
