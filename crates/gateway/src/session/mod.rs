//! Legacy MCP sessions (`Mcp-Session-Id`, revisions up to 2025-11-25), each bound to the
//! credential that created it: another principal presenting the id is refused. A session holds
//! what the client declared at `initialize`, its outbox of SSE events, the upstream requests
//! waiting for its answer, its calls in flight (for `notifications/cancelled`), its resource
//! subscriptions and its log level. In memory: a session dies with the process, and the client
//! re-initializes, as the protocol expects.

pub mod outbox;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_identity::Principal;
use portcullis_protocol::{ErrorCode, Id};
use portcullis_upstream::{RpcError, ServerRequest};
use rand::RngCore;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use outbox::{GET_STREAM, Outbox, OutboxLimits, ResumeError};

use crate::respond::Failure;

pub const SESSION_HEADER: &str = "mcp-session-id";

/// Prefix of the ids the gateway gives the requests it relays to a client.
const SERVER_REQUEST_PREFIX: &str = "portcullis-s";
/// Most relayed requests a client may leave unanswered; more are refused.
const MAX_UNANSWERED: usize = 64;

pub struct Session {
    pub id: String,
    pub principal: Principal,
    pub protocol_version: &'static str,
    /// `capabilities` the client declared in `initialize`.
    pub client_capabilities: Value,
    pub outbox: Outbox,
    last_seen: Mutex<Instant>,
    /// Rank of the lowest log level the client wants (`logging/setLevel`); all when unset.
    log_level: Mutex<Option<usize>>,
    next_server_request: AtomicU64,
    /// Upstream requests relayed to the client, by the id the client sees.
    server_requests: Mutex<HashMap<String, ServerRequest>>,
    /// The client's requests in flight, by their id, so `notifications/cancelled` can stop them.
    inflight: Mutex<HashMap<Id, CancellationToken>>,
    /// Resource URIs the client subscribed to.
    subscriptions: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Session {
    /// Whether the client declared capability `name` (`sampling`, `elicitation`, `roots`).
    pub fn client_offers(&self, name: &str) -> bool {
        self.client_capabilities
            .get(name)
            .is_some_and(Value::is_object)
    }

    pub fn set_log_level(&self, rank: usize) {
        *lock(&self.log_level) = Some(rank);
    }

    /// Whether a log message at `rank` goes to this client.
    pub fn wants_log(&self, rank: usize) -> bool {
        lock(&self.log_level).is_none_or(|min| rank >= min)
    }

    /// Relay an upstream's request to the client: returns the JSON-RPC request the client sees.
    /// A client that did not declare the capability the request needs gets nothing, and the
    /// upstream gets an error.
    pub fn relay_request(&self, req: ServerRequest) -> Option<Value> {
        let needs = match req.method() {
            "sampling/createMessage" => Some("sampling"),
            "elicitation/create" => Some("elicitation"),
            "roots/list" => Some("roots"),
            _ => None,
        };
        if let Some(cap) = needs
            && !self.client_offers(cap)
        {
            req.respond(Err(RpcError::new(
                -32601,
                format!("the client did not declare the '{cap}' capability"),
            )));
            return None;
        }
        let mut pending = lock(&self.server_requests);
        if pending.len() >= MAX_UNANSWERED {
            drop(pending);
            req.respond(Err(RpcError::new(
                -32603,
                "the client leaves too many requests unanswered",
            )));
            return None;
        }
        let n = self.next_server_request.fetch_add(1, Ordering::Relaxed);
        let id = format!("{SERVER_REQUEST_PREFIX}{n}");
        let mut msg = json!({"jsonrpc": "2.0", "id": id, "method": req.method()});
        if let Some(p) = req.params() {
            msg["params"] = p.clone();
        }
        pending.insert(id, req);
        Some(msg)
    }

    /// The client's answer to a relayed request; false if no relayed request has that id.
    pub fn answer(&self, id: &Id, outcome: Result<Value, Value>) -> bool {
        let Id::Str(key) = id else { return false };
        let Some(req) = lock(&self.server_requests).remove(key) else {
            return false;
        };
        req.respond(outcome.map_err(|e| {
            RpcError {
                code: e.get("code").and_then(Value::as_i64).unwrap_or(-32603),
                message: e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_string(),
                data: e.get("data").cloned(),
            }
        }));
        true
    }

    /// Register a request in flight; the token is cancelled by `notifications/cancelled`.
    pub fn track(&self, id: &Id) -> CancellationToken {
        let token = CancellationToken::new();
        lock(&self.inflight).insert(id.clone(), token.clone());
        token
    }

    pub fn untrack(&self, id: &Id) {
        lock(&self.inflight).remove(id);
    }

    /// Cancel the client's request `id`; false if it is not in flight.
    pub fn cancel(&self, id: &Id) -> bool {
        match lock(&self.inflight).remove(id) {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    /// Record a subscription; true if it is new.
    pub fn subscribe(&self, uri: &str) -> bool {
        lock(&self.subscriptions).insert(uri.to_string())
    }

    /// Drop a subscription; true if it existed.
    pub fn unsubscribe(&self, uri: &str) -> bool {
        lock(&self.subscriptions).remove(uri)
    }

    pub fn subscribed(&self, uri: &str) -> bool {
        lock(&self.subscriptions).contains(uri)
    }

    pub fn subscriptions(&self) -> Vec<String> {
        lock(&self.subscriptions).iter().cloned().collect()
    }
}

pub struct Sessions {
    inner: Mutex<HashMap<String, Arc<Session>>>,
    idle_timeout: Duration,
    max: usize,
    /// Most sessions one principal (one credential) may hold: with the outbox's byte cap, what
    /// bounds the memory one principal can take.
    per_principal: usize,
    limits: OutboxLimits,
    /// Ids of sessions that ended (expired or deleted) whose upstream sessions are still to be
    /// closed.
    gone: Mutex<Vec<String>>,
}

/// What the client declared in `initialize`.
pub struct NewSession<'a> {
    pub principal: &'a Principal,
    pub protocol_version: &'static str,
    pub client_capabilities: Value,
}

impl Sessions {
    pub fn new(
        idle_timeout: Duration,
        max: usize,
        per_principal: usize,
        limits: OutboxLimits,
    ) -> Sessions {
        Sessions {
            inner: Mutex::new(HashMap::new()),
            idle_timeout,
            max,
            per_principal,
            limits,
            gone: Mutex::new(Vec::new()),
        }
    }

    /// Forget sessions idle past the timeout.
    pub fn sweep(&self, now: Instant) {
        let idle = self.idle_timeout;
        let mut ended = Vec::new();
        lock(&self.inner).retain(|id, s| {
            let live = now.duration_since(*lock(&s.last_seen)) < idle;
            if !live {
                ended.push(id.clone());
            }
            live
        });
        lock(&self.gone).extend(ended);
    }

    /// Sessions that ended since the last call.
    pub fn take_gone(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.gone))
    }

    /// Create a session; its id is 128 random bits, hex.
    pub fn create(&self, new: NewSession<'_>, now: Instant) -> Result<Arc<Session>, Failure> {
        let credential = &new.principal.credential_id;
        let held = |map: &HashMap<String, Arc<Session>>| {
            map.values()
                .filter(|s| &s.principal.credential_id == credential)
                .count()
        };
        {
            let map = lock(&self.inner);
            let full = map.len() >= self.max || held(&map) >= self.per_principal;
            drop(map);
            if full {
                self.sweep(now);
            }
        }
        let mut map = lock(&self.inner);
        if map.len() >= self.max {
            return Err(Failure::new(
                ErrorCode::Overloaded,
                "the gateway holds its maximum number of sessions; retry later",
            ));
        }
        if held(&map) >= self.per_principal {
            return Err(Failure::new(
                ErrorCode::Overloaded,
                format!(
                    "this credential holds its maximum of {} sessions; end one (DELETE) or let one expire",
                    self.per_principal
                ),
            ));
        }
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let id = hex::encode(id);
        let session = Arc::new(Session {
            id: id.clone(),
            principal: new.principal.clone(),
            protocol_version: new.protocol_version,
            client_capabilities: new.client_capabilities,
            outbox: Outbox::new(self.limits),
            last_seen: Mutex::new(now),
            log_level: Mutex::new(None),
            next_server_request: AtomicU64::new(0),
            server_requests: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashSet::new()),
        });
        map.insert(id, session.clone());
        Ok(session)
    }

    /// The live session `id`, if it belongs to `principal`; touches it.
    pub fn check(
        &self,
        id: &str,
        principal: &Principal,
        now: Instant,
    ) -> Result<Arc<Session>, Failure> {
        let mut map = lock(&self.inner);
        let gone = || Failure::new(ErrorCode::SessionNotFound, "unknown or expired session");
        let Some(s) = map.get(id).cloned() else {
            return Err(gone());
        };
        let mut seen = lock(&s.last_seen);
        if now.duration_since(*seen) >= self.idle_timeout {
            drop(seen);
            map.remove(id);
            lock(&self.gone).push(id.to_string());
            return Err(gone());
        }
        if s.principal.credential_id != principal.credential_id {
            // Answered as an unknown session: another principal's session id is not confirmed.
            return Err(gone());
        }
        *seen = now;
        drop(seen);
        Ok(s)
    }

    /// End a session (DELETE); only its owner may.
    pub fn remove(&self, id: &str, principal: &Principal, now: Instant) -> Result<(), Failure> {
        self.check(id, principal, now)?;
        lock(&self.inner).remove(id);
        lock(&self.gone).push(id.to_string());
        Ok(())
    }

    /// Session `id`, whoever owns it (for the gateway's own deliveries, never for a caller).
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.inner).get(id).cloned()
    }

    /// Every live session (for notifications that concern all of them).
    pub fn all(&self) -> Vec<Arc<Session>> {
        lock(&self.inner).values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
