//! Multi round-trip requests for modern clients in front of legacy upstreams. A legacy upstream
//! asks its client questions (sampling, elicitation, roots) in the middle of a call; a modern
//! client cannot receive requests, so the gateway parks the call, answers the client with an
//! `input_required` result carrying the question and an opaque `requestState`, and resumes the
//! parked call when the client retries with `inputResponses`. The state is a random token
//! naming server-side state bound to the principal, the original request and a deadline;
//! nothing in it can be forged or replayed by another caller.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use portcullis_protocol::ErrorCode;
use portcullis_upstream::{CallEvent, RpcError, ServerRequest};
use rand::RngCore;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::{Exchange, Running};
use crate::respond::Failure;

/// Key of the single input request in each round.
const INPUT_KEY: &str = "input";

struct Parked {
    credential_id: String,
    request_key: String,
    expires: Instant,
    running: Running,
    cancel: CancellationToken,
    question: ServerRequest,
}

/// Calls waiting for a modern client's input.
pub struct ParkingLot {
    ttl: Duration,
    max: usize,
    parked: Mutex<HashMap<String, Parked>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The capability a client must declare to be asked `method`.
pub fn capability_for(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

impl ParkingLot {
    pub fn new(ttl: Duration, max: usize) -> ParkingLot {
        ParkingLot {
            ttl,
            max,
            parked: Mutex::new(HashMap::new()),
        }
    }

    /// Drop parked calls past their deadline (their upstream calls are cancelled).
    fn sweep(map: &mut HashMap<String, Parked>, now: Instant) {
        map.retain(|_, p| {
            let keep = p.expires > now;
            if !keep {
                p.cancel.cancel();
            }
            keep
        });
    }

    pub fn len(&self) -> usize {
        lock(&self.parked).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Park `running` on the upstream's question `ev`; returns the client's `input_required`
/// result, or an error when no more calls can be parked.
pub fn park(ex: &Exchange, ev: CallEvent, running: Running) -> Result<Value, Failure> {
    let CallEvent::Request(question) = ev else {
        return Err(Failure::new(
            ErrorCode::InternalError,
            "only a request can need input",
        ));
    };
    let lot = &ex.st.parked;
    let mut map = lock(&lot.parked);
    let now = ex.st.clock.instant();
    ParkingLot::sweep(&mut map, now);
    if map.len() >= lot.max {
        question.respond(Err(RpcError::new(
            -32603,
            "the gateway cannot hold more calls",
        )));
        ex.cancel.cancel();
        return Err(Failure::new(
            ErrorCode::Overloaded,
            "the gateway holds its maximum number of calls waiting for input; retry later",
        ));
    }
    let mut raw = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let mut request = json!({"method": question.method()});
    if let Some(p) = question.params() {
        request["params"] = p.clone();
    }
    map.insert(
        token.clone(),
        Parked {
            credential_id: ex.principal.credential_id.clone(),
            request_key: ex.request_key.clone(),
            expires: now + lot.ttl,
            running,
            cancel: ex.cancel.clone(),
            question,
        },
    );
    Ok(json!({
        "resultType": "input_required",
        "inputRequests": { INPUT_KEY: request },
        "requestState": token,
    }))
}

/// A retry's `requestState`, if it carries one.
pub fn request_state(params: Option<&Map<String, Value>>) -> Option<&str> {
    params?.get("requestState")?.as_str()
}

/// Resume the call parked under the retry's `requestState`: the client's answer goes to the
/// upstream, and the call (with its cancellation token) is handed back to be driven again.
pub fn resume(
    ex: &Exchange,
    params: Option<&Map<String, Value>>,
) -> Result<(Running, CancellationToken), Failure> {
    let invalid = |why: &str| Failure::new(ErrorCode::RequestStateInvalid, why);
    let token = request_state(params).ok_or_else(|| invalid("no requestState"))?;
    let mut map = lock(&ex.st.parked.parked);
    ParkingLot::sweep(&mut map, ex.st.clock.instant());
    let Some(p) = map.get(token) else {
        return Err(invalid("this requestState is unknown or expired"));
    };
    if p.credential_id != ex.principal.credential_id || p.request_key != ex.request_key {
        return Err(invalid(
            "this requestState belongs to another caller or another request",
        ));
    }
    let Some(p) = map.remove(token) else {
        return Err(invalid("this requestState is unknown or expired"));
    };
    drop(map);
    let answer = params
        .and_then(|m| m.get("inputResponses"))
        .and_then(|r| r.get(INPUT_KEY))
        .cloned();
    match answer {
        Some(a) => p.question.respond(Ok(a)),
        None => p.question.respond(Err(RpcError::new(
            -32602,
            "the client sent no response to the input request",
        ))),
    }
    Ok((p.running, p.cancel))
}
