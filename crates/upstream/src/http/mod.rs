//! MCP over streamable HTTP (revisions 2025-03-26 to 2025-11-25): one pooled client; a shared
//! session for the gateway's own requests and for callers without a session of their own; and,
//! for a caller that asks for affinity (a client session), that client's own upstream session,
//! opened on its first call, so that what the upstream sends on the session's GET stream (log
//! messages, its requests) can only belong to that client. What a call's SSE stream carries
//! before the answer goes to that call. A session the upstream forgot (404) is re-initialized
//! once and the call retried.

mod session;
mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::backoff::Backoff;
use crate::call::{self, AnswerPath, CallOptions, InFlight};
use crate::route::Router;
use crate::rpc::{self, Incoming};
use crate::{Conn, Inner, TransportSpec, UpstreamError, UpstreamState};
pub(crate) use session::UpSession;

/// Most client sessions that get an upstream session of their own; beyond this, callers
/// share the shared session (and messages that name no call reach them only when
/// unambiguous).
const MAX_OWNED_SESSIONS: usize = 4096;

pub(crate) struct HttpConn {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    cap: usize,
    inflight: InFlight,
    shared: Arc<UpSession>,
    owned: Mutex<HashMap<Arc<str>, Arc<UpSession>>>,
}

enum Posted {
    /// 202: a notification or response was accepted.
    Accepted,
    /// The answer arrives in this response (JSON or SSE).
    Stream(reqwest::Response),
    Failed(UpstreamError),
    /// 404 while a session was set: the upstream forgot it.
    SessionGone,
}

impl HttpConn {
    fn new(url: String, configured: &[(String, String)], cap: usize) -> Result<HttpConn, String> {
        let mut headers = HeaderMap::new();
        for (k, v) in configured {
            let name =
                HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header {k}: {e}"))?;
            let mut value = HeaderValue::from_str(v)
                .map_err(|_| format!("header {k}: value is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpConn {
            client,
            url,
            headers,
            cap,
            inflight: InFlight::default(),
            shared: Arc::new(UpSession::new(None)),
            owned: Mutex::new(HashMap::new()),
        })
    }

    async fn post(&self, sess: &UpSession, msg: &Value) -> Posted {
        let had_session = sess.id().is_some();
        let rb = sess
            .headers(self.client.post(&self.url), &self.headers)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(serde_json::to_vec(msg).unwrap_or_default());
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                return Posted::Failed(UpstreamError::Unavailable(format!("request failed: {e}")));
            }
        };
        let status = resp.status();
        if status.as_u16() == 404 && had_session {
            return Posted::SessionGone;
        }
        if status.is_server_error() {
            return Posted::Failed(UpstreamError::Unavailable(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Posted::Failed(UpstreamError::InvalidResponse(format!("HTTP {status}")));
        }
        if let Some(s) = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            sess.set_id(Some(s.to_string()));
        }
        if status.as_u16() == 202 {
            return Posted::Accepted;
        }
        Posted::Stream(resp)
    }

    /// POST the answer to one of the upstream's own requests, on the session it came from.
    pub(crate) async fn post_answer(&self, sess: &UpSession, msg: &Value) {
        match tokio::time::timeout(Duration::from_secs(10), self.post(sess, msg)).await {
            Ok(Posted::Accepted) => {}
            Ok(Posted::Stream(r)) if r.status().is_success() => {}
            _ => tracing::warn!("the upstream did not accept the answer to its request"),
        }
    }

    fn router<'a>(self: &'a Arc<Self>, inner: &'a Inner, sess: &Arc<UpSession>) -> Router<'a> {
        Router {
            name: &inner.spec.name,
            inflight: &self.inflight,
            broadcast: &inner.notifications,
            answers: AnswerPath::Http(self.clone(), sess.clone()),
            late_ok: sess.owner.is_none(),
            owner: sess.owner.clone(),
            token_only: false,
        }
    }

    /// Open (or reopen) session `sess`: `initialize`, `notifications/initialized`, GET stream.
    async fn handshake(
        self: &Arc<Self>,
        inner: &Arc<Inner>,
        sess: &Arc<UpSession>,
    ) -> Result<Value, UpstreamError> {
        sess.set_id(None);
        sess.set_protocol(None);
        let work = async {
            let id = inner.next_id();
            let msg = rpc::request(id, "initialize", Some(inner.initialize_params()));
            let init = match self.post(sess, &msg).await {
                Posted::Stream(resp) => {
                    self.read_answer(sess, resp, id, &self.router(inner, sess))
                        .await?
                }
                Posted::Failed(e) => return Err(e),
                _ => {
                    return Err(UpstreamError::InvalidResponse(
                        "initialize got no answer".into(),
                    ));
                }
            };
            let version = init
                .get("protocolVersion")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    UpstreamError::InvalidResponse(
                        "initialize result has no protocolVersion".into(),
                    )
                })?;
            sess.set_protocol(Some(version.to_string()));
            match self
                .post(sess, &rpc::notification("notifications/initialized", None))
                .await
            {
                Posted::Accepted => Ok(init),
                Posted::Failed(e) => Err(e),
                _ => Err(UpstreamError::InvalidResponse(
                    "notifications/initialized was refused".into(),
                )),
            }
        };
        let init = tokio::time::timeout(inner.spec.call_timeout, work)
            .await
            .map_err(|_| UpstreamError::Timeout)??;
        self.start_listener(inner, sess);
        Ok(init)
    }

    /// The session a call goes on: the caller's own (opened on first use) when it asks for
    /// affinity, the shared one otherwise.
    async fn session_for(
        self: &Arc<Self>,
        inner: &Arc<Inner>,
        opts: &CallOptions,
    ) -> Result<Arc<UpSession>, UpstreamError> {
        let Some(owner) = opts.owner.as_ref().filter(|_| opts.affinity) else {
            return Ok(self.shared.clone());
        };
        let sess = {
            let mut owned = self.owned.lock().unwrap_or_else(|p| p.into_inner());
            match owned.get(owner) {
                Some(s) => s.clone(),
                None if owned.len() >= MAX_OWNED_SESSIONS => return Ok(self.shared.clone()),
                None => {
                    let s = Arc::new(UpSession::new(Some(owner.clone())));
                    owned.insert(owner.clone(), s.clone());
                    s
                }
            }
        };
        let mut ready = sess.ready.lock().await;
        if !*ready {
            self.handshake(inner, &sess).await?;
            *ready = true;
        }
        drop(ready);
        Ok(sess)
    }

    /// Close the upstream session of `owner`, if it has one.
    pub(crate) fn release(self: &Arc<Self>, owner: &str) {
        let sess = self
            .owned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(owner);
        if let Some(sess) = sess {
            let conn = self.clone();
            tokio::spawn(async move { conn.close_session(&sess).await });
        }
    }

    pub(crate) async fn call(
        self: &Arc<Self>,
        inner: &Arc<Inner>,
        method: &str,
        params: Option<Value>,
        opts: CallOptions,
    ) -> Result<Value, UpstreamError> {
        let timeout = opts.timeout.unwrap_or(inner.spec.call_timeout);
        let work = async {
            let sess = self.session_for(inner, &opts).await?;
            for attempt in 0..2 {
                let id = inner.next_id();
                let (params, progress) = call::rewrite_progress(params.clone(), id);
                let _slot = self.inflight.insert(id, &opts, progress);
                let mut guard = CancelOnDrop {
                    conn: self.clone(),
                    sess: sess.clone(),
                    id,
                    armed: true,
                };
                let posted = self.post(&sess, &rpc::request(id, method, params)).await;
                let result = match posted {
                    Posted::Stream(resp) => Some(
                        self.read_answer(&sess, resp, id, &self.router(inner, &sess))
                            .await,
                    ),
                    Posted::Failed(e) => Some(Err(e)),
                    Posted::Accepted => Some(Err(UpstreamError::InvalidResponse(
                        "a request was answered with 202 and no response".into(),
                    ))),
                    Posted::SessionGone => None,
                };
                guard.armed = false;
                self.inflight.remove(id);
                if let Some(r) = result {
                    return r;
                }
                if attempt == 0 {
                    tracing::info!(upstream = %inner.spec.name, "upstream session expired; re-initializing");
                    let init = self.handshake(inner, &sess).await?;
                    if sess.owner.is_none() {
                        inner.set_init_result(init);
                    }
                }
            }
            Err(UpstreamError::Unavailable(
                "the upstream keeps refusing the session".into(),
            ))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout),
        }
    }

    pub(crate) async fn notify(
        &self,
        method: &str,
        params: Option<Value>,
        timeout: Duration,
    ) -> Result<(), UpstreamError> {
        let msg = rpc::notification(method, params);
        match tokio::time::timeout(timeout, self.post(&self.shared, &msg)).await {
            Ok(Posted::Accepted) => Ok(()),
            Ok(Posted::Failed(e)) => Err(e),
            Ok(_) => Err(UpstreamError::InvalidResponse(
                "notification refused".into(),
            )),
            Err(_) => Err(UpstreamError::Timeout),
        }
    }

    /// Open the session's GET stream, replacing any earlier one.
    fn start_listener(self: &Arc<Self>, inner: &Arc<Inner>, sess: &Arc<UpSession>) {
        let stop = inner.shutdown.child_token();
        sess.replace_listener(stop.clone());
        let conn = self.clone();
        let inner = inner.clone();
        let sess = sess.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = conn.listen(&inner, &sess) => {}
            }
        });
    }

    /// Read a session's GET stream, reconnecting with `Last-Event-ID`, until the upstream says
    /// it has none (405), forgets the session, or the connector stops.
    async fn listen(self: &Arc<Self>, inner: &Arc<Inner>, sess: &Arc<UpSession>) {
        let mut last_event: Option<String> = None;
        let mut backoff = Backoff::default();
        loop {
            let started = std::time::Instant::now();
            let mut rb = sess
                .headers(self.client.get(&self.url), &self.headers)
                .header("accept", "text/event-stream");
            if let Some(id) = &last_event {
                rb = rb.header("last-event-id", id);
            }
            match rb.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let router = self.router(inner, sess);
                    let mut events = std::pin::pin!(stream::capped_events(resp, self.cap));
                    while let Some(Ok(event)) = events.next().await {
                        if let Some(id) = event.id {
                            last_event = Some(id);
                        }
                        let Some(v) = event.data.and_then(|d| serde_json::from_str(&d).ok()) else {
                            continue;
                        };
                        match rpc::classify(v) {
                            Incoming::Notification(n) => router.notification(n, None),
                            Incoming::ServerRequest(r) => router.request(r, None),
                            _ => {}
                        }
                    }
                }
                Ok(resp) if matches!(resp.status().as_u16(), 404 | 405) => return,
                Ok(resp) => {
                    tracing::debug!(upstream = %inner.spec.name, status = %resp.status(), "GET stream refused");
                }
                Err(e) => {
                    tracing::debug!(upstream = %inner.spec.name, error = %e, "GET stream failed");
                }
            }
            tokio::time::sleep(backoff.delay(started.elapsed())).await;
        }
    }

    async fn close_session(&self, sess: &UpSession) {
        sess.stop_listener();
        if sess.id().is_some() {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                sess.headers(self.client.delete(&self.url), &self.headers)
                    .send(),
            )
            .await;
        }
    }

    async fn close(&self) {
        let owned: Vec<Arc<UpSession>> = self
            .owned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        futures::future::join_all(owned.iter().map(|s| self.close_session(s))).await;
        self.close_session(&self.shared).await;
    }
}

/// Tells the upstream a call was given up (timeout, or the caller went away) unless disarmed.
struct CancelOnDrop {
    conn: Arc<HttpConn>,
    sess: Arc<UpSession>,
    id: u64,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.conn.inflight.remove(self.id);
        let conn = self.conn.clone();
        let sess = self.sess.clone();
        let msg = rpc::notification(
            "notifications/cancelled",
            Some(
                json!({"requestId": self.id, "reason": "the client went away or the call timed out"}),
            ),
        );
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.post(&sess, &msg)).await;
        });
    }
}

pub(crate) async fn supervise(inner: Arc<Inner>) {
    let TransportSpec::Http { url, headers } = inner.spec.transport.clone() else {
        return;
    };
    let conn = match HttpConn::new(url, &headers, inner.spec.max_response_bytes) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(upstream = %inner.spec.name, error = %e, "cannot build the HTTP client");
            return;
        }
    };
    let mut backoff = Backoff::default();
    loop {
        let shared = conn.shared.clone();
        let mut ready = shared.ready.lock().await;
        match conn.handshake(&inner, &shared).await {
            Ok(init) => {
                *ready = true;
                drop(ready);
                inner.set_init_result(init);
                inner.set_conn(Some(Conn::Http(conn.clone())));
                inner.set_state(UpstreamState::Ready);
                tracing::info!(upstream = %inner.spec.name, "http upstream ready");
                break;
            }
            Err(e) => {
                drop(ready);
                tracing::warn!(upstream = %inner.spec.name, error = %e, "http upstream handshake failed; retrying");
                inner.set_state(UpstreamState::Restarting);
                let delay = backoff.delay(Duration::ZERO);
                tokio::select! {
                    _ = inner.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    inner.shutdown.cancelled().await;
    inner.set_conn(None);
    conn.close().await;
}
