//! Answering one client request. A request the gateway answers itself gets a JSON body (or a
//! one-event stream for SSE-only clients). A request forwarded upstream is answered with JSON
//! when the upstream answers before sending anything else, and switches to an SSE stream the
//! moment the upstream sends something about the call first (progress, a log message, a
//! request for the client): nothing is buffered until the end.
//!
//! Legacy clients get resumable streams through their session's outbox; a disconnect does not
//! cancel the call (the client may resume), `notifications/cancelled` does. Modern clients get
//! plain streams; closing the stream cancels the call upstream, as revision 2026-07-28 says.

mod exchange;
pub mod mrtr;
mod sse;

use std::time::Duration;

use futures::future::BoxFuture;
use portcullis_upstream::{CallEvent, CallOptions, Upstream, UpstreamError};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use exchange::{Client, Exchange, ModernClient};
pub use sse::sse_response;

use crate::respond::Failure;

/// Events from one upstream call that may wait for the client before they are dropped.
const EVENT_BUFFER: usize = 64;

/// Turns the upstream's answer into the client's result (validation, outcome record).
pub type Finish = Box<
    dyn FnOnce(Result<Value, UpstreamError>) -> BoxFuture<'static, Result<Value, Failure>> + Send,
>;

/// A request to forward to one upstream.
pub struct Relayed {
    pub upstream: Upstream,
    pub method: String,
    pub params: Value,
    /// Overrides the upstream's timeout (a tool's `[[tools]] timeout`).
    pub timeout: Option<std::time::Duration>,
    pub finish: Finish,
}

/// How a request is answered.
pub enum Reply {
    /// The gateway's own answer, ready now.
    Now(Result<Value, Failure>),
    /// Forward upstream and relay what comes back.
    Relay(Relayed),
}

/// A forwarded call running in its own task: its events, and its final result (`None` when
/// the call was cancelled).
pub struct Running {
    pub events: mpsc::Receiver<CallEvent>,
    pub task: JoinHandle<Option<Result<Value, Failure>>>,
}

/// Start a forwarded call for `owner` (the client session, or the request of a sessionless
/// client); with `affinity` it goes on the owner's own upstream session where there can be
/// one. `cancel` stops it (and tells the upstream).
pub fn start(
    r: Relayed,
    owner: std::sync::Arc<str>,
    affinity: bool,
    cancel: tokio_util::sync::CancellationToken,
) -> Running {
    let (tx, events) = mpsc::channel(EVENT_BUFFER);
    let task = tokio::spawn(async move {
        let call = r.upstream.call(
            &r.method,
            Some(r.params),
            CallOptions {
                events: Some(tx),
                timeout: r.timeout,
                owner: Some(owner),
                affinity,
            },
        );
        match tokio::select! {
            a = call => Some(a),
            _ = cancel.cancelled() => None,
        } {
            Some(answer) => Some((r.finish)(answer).await),
            None => {
                // Dropping the call told the upstream; the outcome is still recorded.
                let _ = (r.finish)(Err(UpstreamError::Cancelled)).await;
                None
            }
        }
    });
    Running { events, task }
}

/// Answer one request.
pub async fn respond(ex: Exchange, reply: Reply) -> axum::response::Response {
    match reply {
        Reply::Now(result) => ex.respond_now(result),
        Reply::Relay(r) => {
            let running = start(r, ex.owner(), !ex.is_modern(), ex.cancel.clone());
            drive(ex, running).await
        }
    }
}

/// Wait for the first of: an event (switch to a stream, if the client accepts one), or the
/// final result (answer with JSON).
pub async fn drive(ex: Exchange, mut running: Running) -> axum::response::Response {
    let mut events_open = true;
    loop {
        tokio::select! {
            biased;
            ev = running.events.recv(), if events_open => match ev {
                Some(ev) => {
                    if ex.needs_input(&ev) {
                        let result = mrtr::park(&ex, ev, running);
                        return ex.respond_now(result);
                    }
                    if ex.accepts_sse {
                        return sse::switch(ex, ev, running);
                    }
                    ex.out_of_band(ev);
                }
                None => events_open = false,
            },
            done = &mut running.task => {
                return ex.respond_final(done.unwrap_or_else(|_| {
                    Some(Err(Failure::new(
                        portcullis_protocol::ErrorCode::InternalError,
                        "the call's task failed",
                    )))
                }));
            }
        }
    }
}

/// Interval between keep-alive comments on an open SSE stream.
pub fn keep_alive(ex: &Exchange) -> Duration {
    ex.st.config.server.sse_keep_alive
}
