//! One forwarded request and what the upstream sends about it before its answer:
//! notifications (progress with the caller's own token restored, log messages) and requests
//! that only the caller's client can answer (sampling, elicitation, roots). Shared by both
//! transports.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::UpstreamError;

pub(crate) type Reply = Result<Value, UpstreamError>;

/// Prefix of the progress tokens the gateway sends upstream in place of the caller's:
/// `portcullis-<call id>-<128 random bits, hex>`. The random part makes a token unguessable, so
/// an upstream can only send progress for a call it was given the token of.
const PROGRESS_PREFIX: &str = "portcullis-";

/// A call's progress token: the caller's, and the one the gateway issued upstream for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Progress {
    pub(crate) caller: Value,
    pub(crate) issued: String,
}

/// How one call is made.
#[derive(Default)]
pub struct CallOptions {
    /// Overrides the upstream's configured timeout.
    pub timeout: Option<Duration>,
    /// Where this call's notifications and server requests go. Bounded: when it is full, the
    /// connector drops notifications and refuses server requests rather than wait, so a slow
    /// client can never stall the upstream's other calls.
    pub events: Option<mpsc::Sender<CallEvent>>,
    /// Who the call is for (a client session). A message that names no call is attributed
    /// only when every call it could belong to has the same owner.
    pub owner: Option<Arc<str>>,
    /// Use the owner's own upstream session where the transport has sessions (HTTP), so that
    /// everything the upstream sends on it belongs to the owner.
    pub affinity: bool,
}

/// A message from an upstream-wide channel.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A notification about the whole upstream (list changes, resource updates).
    Wide(Value),
    /// A notification that arrived after the call it most likely belongs to had finished,
    /// for that call's owner.
    Late { owner: Arc<str>, msg: Value },
}

/// How long a finished call stays a candidate owner of messages that arrive late.
const LATE_WINDOW: Duration = Duration::from_secs(2);

/// Where a message that names no call goes.
#[derive(Debug, PartialEq)]
pub(crate) enum Attribution {
    Call(u64),
    Late(Arc<str>),
    Nobody,
}

/// Something the upstream sent about one call before answering it.
#[derive(Debug)]
pub enum CallEvent {
    /// A JSON-RPC notification about this call (`notifications/progress` carries the caller's
    /// own progress token again).
    Notification(Value),
    /// A request from the upstream that the caller's client must answer.
    Request(ServerRequest),
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn to_value(&self) -> Value {
        let mut e = json!({"code": self.code, "message": self.message});
        if let Some(d) = &self.data {
            e["data"] = d.clone();
        }
        e
    }
}

/// Where the answer to an upstream's request is written.
#[derive(Clone)]
pub(crate) enum AnswerPath {
    Stdio(mpsc::Sender<Vec<u8>>),
    /// The connector and the session the request came on.
    Http(Arc<crate::http::HttpConn>, Arc<crate::http::UpSession>),
}

impl AnswerPath {
    /// Answer the upstream's request `id`.
    pub(crate) fn send(&self, id: Value, outcome: Result<Value, RpcError>) {
        let msg = match outcome {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e.to_value()}),
        };
        match self {
            AnswerPath::Stdio(tx) => {
                let _ = tx.try_send(crate::stdio::line(&msg));
            }
            AnswerPath::Http(conn, sess) => {
                let (conn, sess) = (conn.clone(), sess.clone());
                tokio::spawn(async move { conn.post_answer(&sess, &msg).await });
            }
        }
    }
}

/// A request from an upstream (sampling, elicitation, roots) relayed to the caller. Answer it
/// with [`ServerRequest::respond`]; dropping it unanswered answers the upstream with an error.
pub struct ServerRequest {
    method: String,
    params: Option<Value>,
    answer: Option<(Value, AnswerPath)>,
}

impl std::fmt::Debug for ServerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerRequest")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl ServerRequest {
    pub(crate) fn new(method: String, params: Option<Value>, id: Value, path: AnswerPath) -> Self {
        ServerRequest {
            method,
            params,
            answer: Some((id, path)),
        }
    }

    /// A request whose answer is written, as one JSON-RPC line, to `tx` (for in-process
    /// peers and tests).
    pub fn over_channel(
        method: &str,
        params: Value,
        id: Value,
        tx: mpsc::Sender<Vec<u8>>,
    ) -> ServerRequest {
        ServerRequest::new(method.to_string(), Some(params), id, AnswerPath::Stdio(tx))
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    pub fn params(&self) -> Option<&Value> {
        self.params.as_ref()
    }

    /// Send the client's answer back to the upstream.
    pub fn respond(mut self, outcome: Result<Value, RpcError>) {
        if let Some((id, path)) = self.answer.take() {
            path.send(id, outcome);
        }
    }
}

impl Drop for ServerRequest {
    fn drop(&mut self) {
        if let Some((id, path)) = self.answer.take() {
            path.send(
                id,
                Err(RpcError::new(
                    -32603,
                    "the client did not answer this request",
                )),
            );
        }
    }
}

struct Slot {
    /// Where the answer goes (stdio); HTTP answers arrive on the call's own response.
    reply: Option<oneshot::Sender<Reply>>,
    events: Option<mpsc::Sender<CallEvent>>,
    /// The caller's progress token, restored on the way back, and the one issued upstream.
    progress: Option<Progress>,
    owner: Option<Arc<str>>,
}

/// Requests sent to one upstream and not yet answered, by the gateway's upstream id, and the
/// owners of calls that finished a moment ago.
#[derive(Default)]
pub(crate) struct InFlight {
    map: Mutex<HashMap<u64, Slot>>,
    recent: Mutex<VecDeque<(Instant, Arc<str>)>>,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Slot>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finished(&self, slot: Slot) {
        if let Some(owner) = slot.owner {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            recent.push_back((now, owner));
            while recent
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > LATE_WINDOW)
                || recent.len() > 1024
            {
                recent.pop_front();
            }
        }
    }

    /// Register call `id`; returns the receiver of its answer (used by stdio).
    pub(crate) fn insert(
        &self,
        id: u64,
        opts: &CallOptions,
        progress: Option<Progress>,
    ) -> oneshot::Receiver<Reply> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(
            id,
            Slot {
                reply: Some(tx),
                events: opts.events.clone(),
                progress,
                owner: opts.owner.clone(),
            },
        );
        rx
    }

    pub(crate) fn remove(&self, id: u64) -> bool {
        let slot = self.lock().remove(&id);
        match slot {
            Some(s) => {
                self.finished(s);
                true
            }
            None => false,
        }
    }

    /// Deliver an answer; false if nobody waits for `id` (unknown, answered or timed out).
    pub(crate) fn complete(&self, id: u64, reply: Reply) -> bool {
        let slot = self.lock().remove(&id);
        match slot {
            Some(mut s) => {
                if let Some(tx) = s.reply.take() {
                    let _ = tx.send(reply);
                }
                self.finished(s);
                true
            }
            None => false,
        }
    }

    /// Fail every waiting call.
    pub(crate) fn fail_all(&self, err: UpstreamError) {
        for (_, slot) in self.lock().drain() {
            if let Some(tx) = slot.reply {
                let _ = tx.send(Err(err.clone()));
            }
        }
    }

    /// Who a message that names no call belongs to: the owner of every call it could belong
    /// to (owned calls in flight, and, if `late_ok`, owned calls that finished a moment ago),
    /// when they all have one owner. Anything ambiguous belongs to nobody.
    pub(crate) fn attribute(&self, late_ok: bool) -> Attribution {
        let map = self.lock();
        let mut owner: Option<&Arc<str>> = None;
        let mut latest: Option<u64> = None;
        for (id, slot) in map.iter() {
            let Some(o) = &slot.owner else { continue };
            match owner {
                Some(prev) if prev != o => return Attribution::Nobody,
                _ => owner = Some(o),
            }
            if slot.events.is_some() && latest.is_none_or(|l| *id > l) {
                latest = Some(*id);
            }
        }
        let mut late_owner: Option<Arc<str>> = owner.cloned();
        if late_ok {
            let now = Instant::now();
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            for (_, o) in recent
                .iter()
                .filter(|(t, _)| now.duration_since(*t) <= LATE_WINDOW)
            {
                match &late_owner {
                    Some(prev) if prev != o => return Attribution::Nobody,
                    _ => late_owner = Some(o.clone()),
                }
            }
            if let (None, Some(o)) = (latest, &late_owner) {
                return Attribution::Late(o.clone());
            }
        }
        match latest {
            Some(id) if owner.is_some() => Attribution::Call(id),
            _ => Attribution::Nobody,
        }
    }

    /// The latest call in flight for `owner` that takes events.
    pub(crate) fn latest_of(&self, owner: &str) -> Option<u64> {
        self.lock()
            .iter()
            .filter(|(_, s)| s.events.is_some() && s.owner.as_deref() == Some(owner))
            .map(|(id, _)| *id)
            .max()
    }

    /// Hand an event to call `id`. Gives it back when the call is gone, has no event channel,
    /// or its channel is full or closed.
    pub(crate) fn deliver(&self, id: u64, event: CallEvent) -> Result<(), CallEvent> {
        let sender = match self.lock().get(&id).and_then(|s| s.events.clone()) {
            Some(s) => s,
            None => return Err(event),
        };
        sender.try_send(event).map_err(|e| match e {
            mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => ev,
        })
    }

    /// The call a progress token we issued belongs to, and the caller's own token.
    /// The call a progress token was issued for, and the caller's own token; `None` for a
    /// token this gateway did not issue to a call still in flight.
    pub(crate) fn progress_owner(&self, token: &Value) -> Option<(u64, Value)> {
        let text = token.as_str()?;
        let (id, _) = text.strip_prefix(PROGRESS_PREFIX)?.split_once('-')?;
        let id: u64 = id.parse().ok()?;
        let progress = self.lock().get(&id)?.progress.clone()?;
        (progress.issued == text).then_some((id, progress.caller))
    }
}

/// Replace the caller's `_meta.progressToken` with an unguessable one for call `id`; returns the
/// new params and both tokens.
pub(crate) fn rewrite_progress(
    params: Option<Value>,
    id: u64,
) -> (Option<Value>, Option<Progress>) {
    let Some(mut params) = params else {
        return (None, None);
    };
    let token = params
        .get_mut("_meta")
        .and_then(Value::as_object_mut)
        .and_then(|m| {
            let caller = m.remove("progressToken")?;
            let mut secret = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            let issued = format!("{PROGRESS_PREFIX}{id}-{}", hex::encode(secret));
            m.insert("progressToken".into(), Value::String(issued.clone()));
            Some(Progress { caller, issued })
        });
    (Some(params), token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_tokens_are_rewritten_and_restored() {
        let (p, token) = rewrite_progress(
            Some(json!({"name": "t", "_meta": {"progressToken": 7, "other": 1}})),
            42,
        );
        let p = p.unwrap();
        let token = token.unwrap();
        assert_eq!(token.caller, json!(7));
        let issued = p["_meta"]["progressToken"].as_str().unwrap().to_string();
        assert_eq!(issued, token.issued);
        assert!(
            issued.starts_with("portcullis-42-") && issued.len() == "portcullis-42-".len() + 32
        );
        assert_eq!(p["_meta"]["other"], 1);
        let f = InFlight::default();
        let _rx = f.insert(42, &CallOptions::default(), Some(token));
        assert_eq!(f.progress_owner(&json!(issued)), Some((42, json!(7))));
        // Guessing the call id is not enough: the random part must match.
        assert_eq!(f.progress_owner(&json!("portcullis-42")), None);
        let guessed = format!("portcullis-42-{}", "0".repeat(32));
        assert_eq!(f.progress_owner(&json!(guessed)), None);
        assert_eq!(f.progress_owner(&json!("portcullis-43-00")), None);
        assert_eq!(f.progress_owner(&json!("someone-else")), None);
        assert_eq!(f.progress_owner(&json!(42)), None);
        let (p, token) = rewrite_progress(Some(json!({"name": "t"})), 1);
        assert_eq!(token, None);
        assert_eq!(p.unwrap(), json!({"name": "t"}));
    }

    fn owned(events: Option<mpsc::Sender<CallEvent>>, owner: &str) -> CallOptions {
        CallOptions {
            events,
            owner: Some(Arc::from(owner)),
            ..Default::default()
        }
    }

    #[test]
    fn messages_are_attributed_only_without_ambiguity() {
        let f = InFlight::default();
        let (tx, _rx) = mpsc::channel(1);
        assert_eq!(f.attribute(true), Attribution::Nobody);
        let _internal = f.insert(1, &CallOptions::default(), None);
        assert_eq!(f.attribute(true), Attribution::Nobody, "no owner, nobody");
        let _a1 = f.insert(2, &owned(Some(tx.clone()), "a"), None);
        let _a2 = f.insert(3, &owned(Some(tx.clone()), "a"), None);
        assert_eq!(
            f.attribute(false),
            Attribution::Call(3),
            "same owner: its latest call"
        );
        let _b = f.insert(4, &owned(Some(tx.clone()), "b"), None);
        assert_eq!(f.attribute(false), Attribution::Nobody, "two owners");
        f.remove(4);
        assert_eq!(
            f.attribute(true),
            Attribution::Nobody,
            "b finished a moment ago: a late message may be b's"
        );
        assert_eq!(f.attribute(false), Attribution::Call(3));
        f.remove(2);
        f.remove(3);
        f.remove(1);
        let g = InFlight::default();
        let _c = g.insert(9, &owned(Some(tx), "c"), None);
        g.remove(9);
        assert_eq!(g.attribute(true), Attribution::Late(Arc::from("c")));
        assert_eq!(g.attribute(false), Attribution::Nobody);
    }

    #[tokio::test]
    async fn answers_reach_only_their_waiter_and_events_only_their_call() {
        let f = InFlight::default();
        let (tx, mut rx) = mpsc::channel(1);
        let a = f.insert(1, &owned(Some(tx), "a"), None);
        let b = f.insert(2, &CallOptions::default(), None);
        assert!(!f.complete(99, Ok(json!(0))), "unknown ids are dropped");
        assert!(f.complete(2, Ok(json!("two"))));
        assert!(!f.complete(2, Ok(json!("again"))), "an id is answered once");
        assert_eq!(b.await.unwrap(), Ok(json!("two")));

        assert!(
            f.deliver(1, CallEvent::Notification(json!({"n": 1})))
                .is_ok()
        );
        assert!(
            f.deliver(1, CallEvent::Notification(json!({"n": 2})))
                .is_err(),
            "a full channel drops instead of waiting"
        );
        assert!(f.deliver(2, CallEvent::Notification(json!({}))).is_err());
        assert!(matches!(rx.recv().await, Some(CallEvent::Notification(v)) if v["n"] == 1));

        f.fail_all(UpstreamError::Unavailable("gone".into()));
        assert!(matches!(
            a.await.unwrap(),
            Err(UpstreamError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn an_unanswered_server_request_is_answered_with_an_error() {
        let (tx, mut rx) = mpsc::channel(4);
        let req = ServerRequest::new(
            "sampling/createMessage".into(),
            None,
            json!("s1"),
            AnswerPath::Stdio(tx.clone()),
        );
        drop(req);
        let line: Value = serde_json::from_slice(&rx.recv().await.unwrap()).unwrap();
        assert_eq!(line["id"], "s1");
        assert_eq!(line["error"]["code"], -32603);

        let req = ServerRequest::new("roots/list".into(), None, json!(5), AnswerPath::Stdio(tx));
        req.respond(Ok(json!({"roots": []})));
        let line: Value = serde_json::from_slice(&rx.recv().await.unwrap()).unwrap();
        assert_eq!(
            line,
            json!({"jsonrpc": "2.0", "id": 5, "result": {"roots": []}})
        );
    }
}
