use super::*;

fn p(cred: &str) -> Principal {
    Principal {
        tenant: "t".into(),
        agent: "a".into(),
        role: "r".into(),
        credential_id: cred.into(),
        auth_method: portcullis_identity::AuthMethod::ApiKey,
        evidence: None,
    }
}

fn sessions(max: usize) -> Sessions {
    Sessions::new(Duration::from_secs(60), max, max, OutboxLimits::default())
}

fn new<'a>(principal: &'a Principal, caps: Value) -> NewSession<'a> {
    NewSession {
        principal,
        protocol_version: "2025-06-18",
        client_capabilities: caps,
    }
}

#[test]
fn sessions_are_bound_to_their_creator() {
    let s = sessions(10);
    let now = Instant::now();
    let k1 = p("k1");
    let id = s.create(new(&k1, json!({})), now).unwrap().id.clone();
    assert_eq!(id.len(), 32);
    assert!(s.check(&id, &k1, now).is_ok());
    assert_eq!(
        s.check(&id, &p("k2"), now).err().unwrap().code,
        ErrorCode::SessionNotFound
    );
    assert_eq!(
        s.remove(&id, &p("k2"), now).unwrap_err().code,
        ErrorCode::SessionNotFound
    );
    assert_eq!(
        s.check("nope", &k1, now).err().unwrap().code,
        ErrorCode::SessionNotFound
    );
    s.remove(&id, &k1, now).unwrap();
    assert_eq!(
        s.check(&id, &k1, now).err().unwrap().code,
        ErrorCode::SessionNotFound
    );
}

#[test]
fn idle_sessions_expire_and_make_room() {
    let s = sessions(2);
    let t0 = Instant::now();
    let k = p("k");
    let a = s.create(new(&k, json!({})), t0).unwrap().id.clone();
    s.create(new(&k, json!({})), t0).unwrap();
    assert!(s.create(new(&k, json!({})), t0).is_err());
    let later = t0 + Duration::from_secs(61);
    assert_eq!(
        s.check(&a, &k, later).err().unwrap().code,
        ErrorCode::SessionNotFound
    );
    assert!(s.create(new(&k, json!({})), later).is_ok());
}

#[tokio::test]
async fn relayed_requests_need_the_capability_and_are_answered_once() {
    let s = sessions(2);
    let k = p("k");
    let with = s
        .create(new(&k, json!({"sampling": {}})), Instant::now())
        .unwrap();
    let without = s.create(new(&k, json!({})), Instant::now()).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let relayed = portcullis_upstream::ServerRequest::over_channel(
        "sampling/createMessage",
        json!({"maxTokens": 5}),
        json!(7),
        tx.clone(),
    );
    let msg = with.relay_request(relayed).expect("relayed");
    assert_eq!(msg["method"], "sampling/createMessage");
    assert_eq!(msg["params"]["maxTokens"], 5);
    let id = Id::Str(msg["id"].as_str().unwrap().to_string());
    assert!(
        !without.answer(&id, Ok(json!({}))),
        "another session cannot answer it"
    );
    assert!(with.answer(&id, Ok(json!({"role": "assistant"}))));
    assert!(!with.answer(&id, Ok(json!({}))), "answered once");
    let up: Value = serde_json::from_slice(&rx.recv().await.unwrap()).unwrap();
    assert_eq!(
        (up["id"].clone(), up["result"]["role"].clone()),
        (json!(7), json!("assistant"))
    );

    let refused = portcullis_upstream::ServerRequest::over_channel(
        "sampling/createMessage",
        json!({}),
        json!(8),
        tx,
    );
    assert!(without.relay_request(refused).is_none());
    let up: Value = serde_json::from_slice(&rx.recv().await.unwrap()).unwrap();
    assert_eq!(up["error"]["code"], -32601);
}

#[test]
fn cancellation_reaches_only_tracked_requests() {
    let s = sessions(1);
    let k = p("k");
    let session = s.create(new(&k, json!({})), Instant::now()).unwrap();
    let token = session.track(&Id::Num(1));
    assert!(!session.cancel(&Id::Num(2)));
    assert!(session.cancel(&Id::Num(1)));
    assert!(token.is_cancelled());
    assert!(!session.cancel(&Id::Num(1)), "a request is cancelled once");
}

#[test]
fn log_levels_filter_from_the_chosen_one_up() {
    let s = sessions(1);
    let k = p("k");
    let session = s.create(new(&k, json!({})), Instant::now()).unwrap();
    assert!(session.wants_log(0), "everything until the client chooses");
    session.set_log_level(3);
    assert!(!session.wants_log(1));
    assert!(session.wants_log(3) && session.wants_log(7));
}

#[tokio::test]
async fn a_client_cannot_pile_up_unanswered_requests() {
    let s = sessions(1);
    let k = p("k");
    let session = s
        .create(new(&k, json!({"roots": {}})), Instant::now())
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    for i in 0..MAX_UNANSWERED {
        let r = portcullis_upstream::ServerRequest::over_channel(
            "roots/list",
            json!({}),
            json!(i),
            tx.clone(),
        );
        assert!(session.relay_request(r).is_some());
    }
    let r = portcullis_upstream::ServerRequest::over_channel(
        "roots/list",
        json!({}),
        json!("over"),
        tx,
    );
    assert!(session.relay_request(r).is_none());
    let up: Value = serde_json::from_slice(&rx.recv().await.unwrap()).unwrap();
    assert_eq!(
        (up["id"].clone(), up["error"]["code"].clone()),
        (json!("over"), json!(-32603))
    );
}

#[test]
fn one_credential_cannot_take_every_session() {
    let s = Sessions::new(Duration::from_secs(60), 10, 3, OutboxLimits::default());
    let now = Instant::now();
    let (greedy, other) = (p("greedy"), p("other"));
    for _ in 0..3 {
        s.create(new(&greedy, json!({})), now).unwrap();
    }
    let f = s.create(new(&greedy, json!({})), now).err().unwrap();
    assert_eq!(f.code, ErrorCode::Overloaded);
    assert!(f.reason.contains("maximum of 3"), "{}", f.reason);
    assert!(
        s.create(new(&other, json!({})), now).is_ok(),
        "others still get sessions"
    );
    // An expired session of the greedy one makes room again.
    let later = now + Duration::from_secs(61);
    assert!(s.create(new(&greedy, json!({})), later).is_ok());
}
