//! Where a message from an upstream goes when it is not the answer to one of our requests.
//! A message reaches one call only when it can be attributed to that call: it arrived on the
//! call's own response stream, it carries the unguessable progress token we issued for the
//! call (a progress notification always must; a request may, in `params._meta.progressToken`),
//! or every call it could belong to has the same owner (client session). Nothing is ever sent to
//! several callers or guessed between owners. Upstream-wide notifications (list changes,
//! resource updates), and notifications that arrive just after their owner's call finished,
//! go to the upstream's broadcast channel.

use serde_json::Value;
use tokio::sync::broadcast;

use crate::call::{AnswerPath, Attribution, CallEvent, InFlight, Notice, RpcError, ServerRequest};

/// Methods whose notifications concern the whole upstream, not one call.
fn is_upstream_wide(method: &str) -> bool {
    matches!(
        method,
        "notifications/tools/list_changed"
            | "notifications/prompts/list_changed"
            | "notifications/resources/list_changed"
            | "notifications/resources/updated"
    )
}

pub(crate) struct Router<'a> {
    pub(crate) name: &'a str,
    pub(crate) inflight: &'a InFlight,
    pub(crate) broadcast: &'a broadcast::Sender<Notice>,
    pub(crate) answers: AnswerPath,
    /// Whether a message may arrive after its call's answer (a separate stream, as the GET
    /// stream of HTTP is; a stdio pipe keeps order).
    pub(crate) late_ok: bool,
    /// The owner of the session the messages come on, when the session is one client's own:
    /// everything on it belongs to that client.
    pub(crate) owner: Option<std::sync::Arc<str>>,
    /// A message that names no call (neither by its stream nor by a token we issued) is
    /// never attributed by timing: it is dropped, or refused if it is a request.
    pub(crate) token_only: bool,
}

impl Router<'_> {
    /// Route a notification; `on_call` is the call whose response stream carried it, if any.
    pub(crate) fn notification(&self, msg: Value, on_call: Option<u64>) {
        let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
        if method == "notifications/resources/updated"
            && let Some(owner) = &self.owner
        {
            // On a client's own session, an update is for that client's subscription.
            let _ = self.broadcast.send(Notice::Late {
                owner: owner.clone(),
                msg,
            });
            return;
        }
        if is_upstream_wide(method) {
            let _ = self.broadcast.send(Notice::Wide(msg));
            return;
        }
        if method == "notifications/progress" {
            let token = msg.pointer("/params/progressToken").cloned();
            let Some((id, theirs)) = token.and_then(|t| self.inflight.progress_owner(&t)) else {
                tracing::debug!(upstream = %self.name, "progress for no call of ours; dropped");
                return;
            };
            let mut msg = msg;
            msg["params"]["progressToken"] = theirs;
            self.to_call(id, CallEvent::Notification(msg));
            return;
        }
        let target = match (on_call, &self.owner) {
            (Some(id), _) => Attribution::Call(id),
            (None, Some(owner)) => match self.inflight.latest_of(owner) {
                Some(id) => Attribution::Call(id),
                None => Attribution::Late(owner.clone()),
            },
            (None, None) if self.token_only => Attribution::Nobody,
            (None, None) => self.inflight.attribute(self.late_ok),
        };
        match target {
            Attribution::Call(id) => self.to_call(id, CallEvent::Notification(msg)),
            Attribution::Late(owner) => {
                let _ = self.broadcast.send(Notice::Late { owner, msg });
            }
            Attribution::Nobody => tracing::debug!(
                upstream = %self.name,
                method = %method.escape_default(),
                "notification not attributable to one client; dropped"
            ),
        }
    }

    fn to_call(&self, id: u64, event: CallEvent) {
        if let Err(ev) = self.inflight.deliver(id, event) {
            tracing::debug!(upstream = %self.name, id, "call cannot take this message now; dropped");
            drop(ev);
        }
    }

    /// Route a request from the upstream; it is answered on every path.
    pub(crate) fn request(&self, msg: Value, on_call: Option<u64>) {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if method == "ping" {
            self.answers.send(id, Ok(serde_json::json!({})));
            return;
        }
        let mut params = msg.get("params").cloned();
        // A request that carries the progress token the gateway issued for a call belongs to
        // that call, whoever else has calls in flight (the token is unguessable); the client
        // sees its own token again.
        let owner = params
            .as_ref()
            .and_then(|p| p.pointer("/_meta/progressToken"))
            .and_then(|t| self.inflight.progress_owner(t));
        let by_token = owner.map(|(call, theirs)| {
            if let Some(p) = params.as_mut() {
                p["_meta"]["progressToken"] = theirs;
            }
            call
        });
        let req = ServerRequest::new(method.clone(), params, id.clone(), self.answers.clone());
        let call = match (on_call, by_token, &self.owner) {
            (Some(id), _, _) | (None, Some(id), _) => Some(id),
            (None, None, Some(owner)) => self.inflight.latest_of(owner),
            (None, None, None) if self.token_only => None,
            (None, None, None) => match self.inflight.attribute(false) {
                Attribution::Call(id) => Some(id),
                _ => None,
            },
        };
        let Some(call) = call else {
            let outcome = if method == "roots/list" {
                Ok(serde_json::json!({"roots": []}))
            } else {
                Err(RpcError::new(
                    -32603,
                    "the gateway cannot tell which client request this belongs to",
                ))
            };
            req.respond(outcome);
            return;
        };
        if let Err(CallEvent::Request(req)) = self.inflight.deliver(call, CallEvent::Request(req)) {
            req.respond(Err(RpcError::new(
                -32603,
                "the client request this belongs to cannot take it",
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::sync::mpsc;

    use super::*;
    use crate::call::CallOptions;

    /// The next answer written to the upstream; a test fails (never hangs) when none comes.
    async fn answer(rx: &mut mpsc::Receiver<Vec<u8>>) -> Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .expect("an answer to the upstream within 5 s")
            .expect("the answer channel is open");
        serde_json::from_slice(&line).unwrap()
    }

    #[tokio::test]
    async fn messages_reach_only_the_call_they_belong_to() {
        let inflight = InFlight::default();
        let (btx, mut brx) = broadcast::channel(4);
        let (atx, mut arx) = mpsc::channel(8);
        let r = Router {
            name: "u",
            inflight: &inflight,
            broadcast: &btx,
            answers: AnswerPath::Stdio(atx),
            late_ok: false,
            owner: None,
            token_only: false,
        };
        let (e1, mut rx1) = mpsc::channel(8);
        let (e2, mut rx2) = mpsc::channel(8);
        let owned = |events, owner: &str| CallOptions {
            events: Some(events),
            owner: Some(std::sync::Arc::from(owner)),
            ..Default::default()
        };
        let issued = format!("portcullis-1-{}", "ab".repeat(16));
        let progress = crate::call::Progress {
            caller: json!("theirs"),
            issued: issued.clone(),
        };
        let _a = inflight.insert(1, &owned(e1, "a"), Some(progress));
        let _b = inflight.insert(2, &owned(e2, "b"), None);

        r.notification(
            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": issued, "progress": 1}}),
            None,
        );
        match rx1.recv().await.unwrap() {
            CallEvent::Notification(n) => assert_eq!(n["params"]["progressToken"], "theirs"),
            other => panic!("{other:?}"),
        }
        r.notification(
            json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info"}}),
            None,
        );
        r.notification(
            json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info"}}),
            Some(2),
        );
        assert!(matches!(rx2.recv().await, Some(CallEvent::Notification(_))));
        assert!(
            rx1.try_recv().is_err(),
            "two calls in flight: the unattributed log went nowhere"
        );

        r.notification(
            json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
            None,
        );
        match brx.recv().await.unwrap() {
            Notice::Wide(n) => assert_eq!(n["method"], "notifications/tools/list_changed"),
            other => panic!("{other:?}"),
        }

        r.request(
            json!({"jsonrpc": "2.0", "id": 9, "method": "sampling/createMessage", "params": {}}),
            None,
        );
        let a = answer(&mut arx).await;
        assert_eq!(a["id"], 9);
        assert_eq!(
            a["error"]["code"], -32603,
            "ambiguous: refused, not guessed"
        );
        // With the token the gateway issued for a's call, the same request is a's.
        r.request(
            json!({"jsonrpc": "2.0", "id": 13, "method": "sampling/createMessage", "params": {"_meta": {"progressToken": issued}}}),
            None,
        );
        match rx1.recv().await.unwrap() {
            CallEvent::Request(req) => {
                assert_eq!(req.method(), "sampling/createMessage");
                assert_eq!(
                    req.params().unwrap()["_meta"]["progressToken"],
                    "theirs",
                    "the client sees its own token"
                );
                req.respond(Ok(json!({"role": "assistant"})));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(answer(&mut arx).await["id"], 13);
        // A guessed token in the old form names no call.
        r.request(
            json!({"jsonrpc": "2.0", "id": 14, "method": "sampling/createMessage", "params": {"_meta": {"progressToken": "portcullis-1"}}}),
            None,
        );
        assert_eq!(answer(&mut arx).await["error"]["code"], -32603);
        assert!(rx1.try_recv().is_err() && rx2.try_recv().is_err());

        r.request(
            json!({"jsonrpc": "2.0", "id": 10, "method": "elicitation/create", "params": {}}),
            Some(1),
        );
        match rx1.recv().await.unwrap() {
            CallEvent::Request(req) => {
                assert_eq!(req.method(), "elicitation/create");
                req.respond(Ok(json!({"action": "decline"})));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(answer(&mut arx).await["result"]["action"], "decline");

        r.request(json!({"jsonrpc": "2.0", "id": 11, "method": "ping"}), None);
        assert_eq!(answer(&mut arx).await["result"], json!({}));
        inflight.remove(2);
        inflight.remove(1);
        r.request(
            json!({"jsonrpc": "2.0", "id": 12, "method": "roots/list"}),
            None,
        );
        assert_eq!(answer(&mut arx).await["result"], json!({"roots": []}));
    }

    #[tokio::test]
    async fn with_strict_attribution_only_a_token_names_a_call() {
        let inflight = InFlight::default();
        let (btx, _brx) = broadcast::channel(4);
        let (atx, mut arx) = mpsc::channel(8);
        let r = Router {
            name: "u",
            inflight: &inflight,
            broadcast: &btx,
            answers: AnswerPath::Stdio(atx),
            late_ok: false,
            owner: None,
            token_only: true,
        };
        let (e1, mut rx1) = mpsc::channel(8);
        let opts = CallOptions {
            events: Some(e1),
            owner: Some(std::sync::Arc::from("a")),
            ..Default::default()
        };
        let issued = format!("portcullis-1-{}", "cd".repeat(16));
        let progress = crate::call::Progress {
            caller: json!(5),
            issued: issued.clone(),
        };
        let _a = inflight.insert(1, &opts, Some(progress));
        // One caller in flight: timing alone would attribute these; strictness does not.
        r.request(
            json!({"jsonrpc": "2.0", "id": 1, "method": "sampling/createMessage", "params": {}}),
            None,
        );
        assert_eq!(answer(&mut arx).await["error"]["code"], -32603);
        r.notification(
            json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info"}}),
            None,
        );
        assert!(
            rx1.try_recv().is_err(),
            "an untokened log message is dropped"
        );
        r.request(
            json!({"jsonrpc": "2.0", "id": 2, "method": "elicitation/create", "params": {"_meta": {"progressToken": issued}}}),
            None,
        );
        match rx1.recv().await.unwrap() {
            CallEvent::Request(req) => req.respond(Ok(json!({"action": "decline"}))),
            other => panic!("{other:?}"),
        }
        assert_eq!(answer(&mut arx).await["id"], 2);
    }
}
