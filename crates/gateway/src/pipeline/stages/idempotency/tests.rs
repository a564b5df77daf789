use super::*;

#[test]
fn store_keys_cannot_be_confused_across_principals() {
    assert_ne!(
        store_key("a", "b\",\"c", "k"),
        store_key("a", "b", "c\",\"k")
    );
    assert_ne!(store_key("t", "a", "k"), store_key("t", "a2", "k"));
}

#[test]
fn fingerprints_bind_the_tool_and_the_arguments() {
    let a = fingerprint("x.write", &json!({"n": 1}));
    assert_eq!(a, fingerprint("x.write", &json!({"n": 1})));
    assert_ne!(a, fingerprint("x.write", &json!({"n": 2})));
    assert_ne!(a, fingerprint("x.other", &json!({"n": 1})));
}

#[test]
fn stored_outcomes_come_back_marked_as_replays() {
    let body = json!({"cid": "c1", "result": {"content": [], "_meta": {"k": 1}}});
    let (cid, r) = stored(body.to_string().as_bytes()).unwrap();
    assert_eq!(cid, "c1");
    assert_eq!(
        r.unwrap(),
        json!({"content": [], "_meta": {"k": 1, REPLAY_META: "c1"}})
    );
    let body = json!({"cid": "c2", "error": {"code": "upstream_timeout", "message": "slow", "data": null}});
    let f = stored(body.to_string().as_bytes()).unwrap().1.unwrap_err();
    assert_eq!(f.code, ErrorCode::UpstreamTimeout);
    assert_eq!(f.reason, "slow");
    assert_eq!(f.data.unwrap()["replayOf"], "c2");
    for bad in [
        &b"not json"[..],
        b"{}",
        br#"{"cid": 1}"#,
        br#"{"cid": "c", "error": {"code": "nope", "message": "m"}}"#,
    ] {
        assert!(stored(bad).is_none(), "{}", String::from_utf8_lossy(bad));
    }
}

mod through_the_pipeline {
    use std::sync::Arc;
    use std::time::Duration;

    use portcullis_store::Stores;
    use serde_json::{Value, json};

    use super::*;
    use crate::endpoint::RequestLog;
    use crate::pipeline::{ClientRef, Decided, Facts, Governed, Requested, run};
    use crate::testing::{CONFIG, Fixture, principal, records, state_with};

    fn state(extra: &str) -> (Arc<AppState>, Fixture) {
        let (st, fx) = state_with(&format!("{CONFIG}\n{extra}"), Stores::of);
        (Arc::new(st), fx)
    }

    /// A live call of `tool` by the writer, with `key` and `args`.
    async fn call(
        st: &Arc<AppState>,
        tool: &str,
        key: Option<&str>,
        args: &Value,
        live: bool,
    ) -> Decided {
        let p = principal("admin");
        let mut req = Governed {
            principal: &p,
            client: ClientRef::Modern,
            method: GovernedMethod::ToolsCall,
            requested: Requested::Tool(tool),
            arguments: args,
            live,
            idempotency_key: key,
            now_ms: st.clock.now_ms(),
            started: st.clock.instant(),
            cid: "cid-first",
            facts: Facts::default(),
        };
        run(st, &mut req, &mut RequestLog::default()).await
    }

    fn refused(d: Decided) -> ErrorCode {
        match d {
            Decided::Answered(Err(f)) => f.code,
            Decided::Answered(Ok(v)) => panic!("answered {v}"),
            Decided::Allowed(_) => panic!("allowed"),
        }
    }

    async fn run_once(st: &Arc<AppState>, key: &str, args: &Value, answer: Result<Value, Failure>) {
        match call(st, "demo.write", Some(key), args, true).await {
            Decided::Allowed(permit) => {
                let _ = permit.answer(answer).await;
            }
            Decided::Answered(r) => panic!("not allowed: {r:?}"),
        }
    }

    /// Wait until a released key can be reserved again (the release runs in the background).
    async fn until_free(st: &Arc<AppState>, key: &str, args: &Value) -> Decided {
        for _ in 0..1000 {
            match call(st, "demo.write", Some(key), args, true).await {
                Decided::Answered(Err(f)) if f.code == ErrorCode::InProgress => {
                    tokio::task::yield_now().await
                }
                other => return other,
            }
        }
        panic!("the key was never released");
    }

    #[tokio::test]
    async fn live_writes_need_a_key_reads_and_previews_do_not() {
        let (st, _fx) = state("");
        let args = json!({});
        assert_eq!(
            refused(call(&st, "demo.write", None, &args, true).await),
            ErrorCode::IdempotencyKeyRequired
        );
        assert_eq!(
            refused(call(&st, "demo.delete", None, &args, true).await),
            ErrorCode::IdempotencyKeyRequired
        );
        assert!(matches!(
            call(&st, "demo.read", None, &args, true).await,
            Decided::Allowed(_)
        ));
        assert!(
            matches!(
                call(&st, "demo.write", None, &args, false).await,
                Decided::Answered(Ok(_))
            ),
            "a preview"
        );
        let (st, _fx) = state("[idempotency]\nrequire_for = [\"destructive\"]\n");
        assert!(matches!(
            call(&st, "demo.write", None, &args, true).await,
            Decided::Allowed(_)
        ));
    }

    #[tokio::test]
    async fn a_retry_gets_the_stored_result_and_the_ledger_says_it_was_a_replay() {
        let (st, fx) = state("");
        let args = json!({"n": 1});
        run_once(
            &st,
            "k1",
            &args,
            Ok(json!({"content": [{"type": "text", "text": "done"}]})),
        )
        .await;
        let replay = call(&st, "demo.write", Some("k1"), &args, true).await;
        let Decided::Answered(Ok(v)) = replay else {
            panic!("not a replay");
        };
        assert_eq!(v["content"][0]["text"], "done");
        assert_eq!(v["_meta"][REPLAY_META], "cid-first");
        let recs = records(&fx.store).await;
        let decision = recs
            .iter()
            .rev()
            .find(|r| r.kind == portcullis_ledger::RecordKind::Decision)
            .unwrap();
        assert_eq!(decision.decision, Some(portcullis_ledger::Decision::Allow));
        assert_eq!(decision.facts["replay_of"], "cid-first");
        assert_eq!(decision.facts["idempotency_key"], "k1");
        assert_eq!(recs.last().unwrap().code.as_deref(), Some("replayed"));
        // Another agent's same key is its own.
        let p = crate::testing::principal_in("t2", "admin");
        let mut other = Governed {
            principal: &p,
            client: ClientRef::Modern,
            method: GovernedMethod::ToolsCall,
            requested: Requested::Tool("demo.write"),
            arguments: &args,
            live: true,
            idempotency_key: Some("k1"),
            now_ms: st.clock.now_ms(),
            started: st.clock.instant(),
            cid: "cid-2",
            facts: Facts::default(),
        };
        assert!(matches!(
            run(&st, &mut other, &mut RequestLog::default()).await,
            Decided::Allowed(_)
        ));
        // After the TTL the key is free again.
        fx.clock.advance(Duration::from_secs(24 * 3600 + 1));
        st.controls.refresh(&st).await.unwrap();
        assert!(matches!(
            call(&st, "demo.write", Some("k1"), &args, true).await,
            Decided::Allowed(_)
        ));
    }

    #[tokio::test]
    async fn a_different_call_under_the_key_conflicts_and_a_retry_in_flight_waits() {
        let (st, _fx) = state("");
        let args = json!({"n": 1});
        let first = call(&st, "demo.write", Some("k"), &args, true).await;
        assert!(matches!(first, Decided::Allowed(_)));
        assert_eq!(
            refused(call(&st, "demo.write", Some("k"), &args, true).await),
            ErrorCode::InProgress
        );
        assert_eq!(
            refused(call(&st, "demo.write", Some("k"), &json!({"n": 2}), true).await),
            ErrorCode::IdempotencyConflict
        );
        assert_eq!(
            refused(call(&st, "demo.delete", Some("k"), &args, true).await),
            ErrorCode::IdempotencyConflict
        );
        let Decided::Allowed(permit) = first else {
            unreachable!()
        };
        let _ = permit.answer(Ok(json!({"content": []}))).await;
        assert_eq!(
            refused(call(&st, "demo.write", Some("k"), &json!({"n": 2}), true).await),
            ErrorCode::IdempotencyConflict
        );
        assert!(matches!(
            call(&st, "demo.write", Some("k"), &args, true).await,
            Decided::Answered(Ok(_))
        ));
    }

    #[tokio::test]
    async fn a_call_that_never_reached_the_tool_frees_its_key() {
        let (st, _fx) = state("");
        let args = json!({});
        // The upstream was unavailable: nothing ran.
        let gone = Failure::new(ErrorCode::UpstreamUnavailable, "down");
        run_once(&st, "k", &args, Err(gone)).await;
        assert!(matches!(
            until_free(&st, "k", &args).await,
            Decided::Allowed(_)
        ));
        // Dropped before forwarding (the client went away).
        assert!(matches!(
            until_free(&st, "k", &args).await,
            Decided::Allowed(_)
        ));
        // A timeout may have left the tool run: kept, and replayed as the same failure.
        let slow = Failure::new(ErrorCode::UpstreamTimeout, "slow");
        let Decided::Allowed(p) = until_free(&st, "k", &args).await else {
            panic!("not free");
        };
        let _ = p.answer(Err(slow)).await;
        match call(&st, "demo.write", Some("k"), &args, true).await {
            Decided::Answered(Err(f)) => {
                assert_eq!(f.code, ErrorCode::UpstreamTimeout);
                assert_eq!(f.data.unwrap()["replayOf"], "cid-first");
            }
            _ => panic!("not replayed"),
        }
    }

    #[tokio::test]
    async fn a_key_taken_by_a_call_a_later_stage_refused_is_freed() {
        let (st, _fx) = state("[[limits.quota]]\nscope = \"agent\"\nwindow = \"day\"\ncalls = 1\n");
        let args = json!({});
        run_once(&st, "a", &args, Ok(json!({"content": []}))).await;
        assert_eq!(
            refused(call(&st, "demo.write", Some("b"), &args, true).await),
            ErrorCode::QuotaExceeded
        );
        // Not in flight: refused by the quota again, not `in_progress`.
        assert_eq!(
            refused(until_free(&st, "b", &args).await),
            ErrorCode::QuotaExceeded
        );
    }

    #[tokio::test]
    async fn identical_live_calls_within_the_window_are_refused() {
        let (st, fx) = state("[duplicates]\nwindow = \"10s\"\nclasses = [\"write\"]\n");
        let args = json!({"n": 1});
        run_once(&st, "k1", &args, Ok(json!({"content": []}))).await;
        let d = call(&st, "demo.write", Some("k2"), &args, true).await;
        let Decided::Answered(Err(f)) = d else {
            panic!("not refused");
        };
        assert_eq!(f.code, ErrorCode::DuplicateRequest);
        assert_eq!(f.data.unwrap()["windowMs"], 10_000);
        // The retry of the first call under its key is a replay, not a duplicate.
        assert!(matches!(
            call(&st, "demo.write", Some("k1"), &args, true).await,
            Decided::Answered(Ok(_))
        ));
        // Other arguments, other classes and previews are not duplicates.
        run_once(&st, "k3", &json!({"n": 2}), Ok(json!({"content": []}))).await;
        assert!(matches!(
            call(&st, "demo.delete", Some("k4"), &args, true).await,
            Decided::Allowed(_)
        ));
        assert!(matches!(
            call(&st, "demo.write", None, &args, false).await,
            Decided::Answered(Ok(_))
        ));
        fx.clock.advance(Duration::from_millis(10_001));
        st.controls.refresh(&st).await.unwrap();
        assert!(matches!(
            call(&st, "demo.write", Some("k5"), &args, true).await,
            Decided::Allowed(_)
        ));
    }
}
