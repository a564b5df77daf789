//! SSE responses: the HTTP side of a stream, and the task that pumps a forwarded call's events
//! into it until the final answer.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use portcullis_upstream::CallEvent;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Exchange, Running, keep_alive, mrtr};
use crate::respond::CORRELATION_HEADER;
use crate::session::Session;
use crate::session::outbox::{self, LIVE_BUFFER};

const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";

/// An SSE response: `replay` first, then whatever `live` carries, with keep-alive comments
/// while it is quiet. It ends when `live` ends.
pub fn sse_response(
    replay: Vec<Bytes>,
    live: Option<mpsc::Receiver<Bytes>>,
    keep_alive: Duration,
    cid: &str,
) -> Response {
    let first = futures::stream::iter(replay.into_iter().map(Ok::<_, Infallible>));
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    let rest = futures::stream::unfold((live, tick), |(live, mut tick)| async move {
        let mut rx = live?;
        tokio::select! {
            m = rx.recv() => m.map(|b| (Ok(b), (Some(rx), tick))),
            _ = tick.tick() => Some((Ok(Bytes::from_static(KEEP_ALIVE_FRAME)), (Some(rx), tick))),
        }
    });
    let mut resp = Response::new(Body::from_stream(futures::StreamExt::chain(first, rest)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Ok(v) = HeaderValue::from_str(cid) {
        h.insert(CORRELATION_HEADER, v);
    }
    resp
}

/// Where a streamed response's messages go.
enum Sink {
    /// A legacy session's resumable stream.
    Session(Arc<Session>, u64),
    /// A modern client's plain stream.
    Direct(mpsc::Sender<Bytes>),
}

impl Sink {
    async fn send(&self, msg: &Value, last: bool) {
        match self {
            Sink::Session(s, stream) => {
                s.outbox.emit(*stream, msg);
            }
            Sink::Direct(tx) => {
                let frame = outbox::frame(None, msg);
                if last {
                    let _ = tokio::time::timeout(Duration::from_secs(10), tx.send(frame)).await;
                } else {
                    let _ = tx.try_send(frame);
                }
            }
        }
    }

    fn finish(&self) {
        if let Sink::Session(s, stream) = self {
            s.outbox.finish(*stream);
        }
    }

    /// Resolves when a modern client closed its stream; never for a legacy one, whose call
    /// goes on (it may resume).
    async fn closed(&self) {
        match self {
            Sink::Direct(tx) => tx.closed().await,
            Sink::Session(..) => std::future::pending().await,
        }
    }
}

/// Answer with a stream from here on: `first` is the event that made the call stream.
pub fn switch(mut ex: Exchange, first: CallEvent, running: Running) -> Response {
    let ka = keep_alive(&ex);
    let cid = ex.cid.clone();
    ex.answered = true;
    let (sink, rx) = match &ex.client {
        super::Client::Legacy(s) => {
            let (stream, rx) = s.outbox.open();
            (Sink::Session(s.clone(), stream), rx)
        }
        super::Client::Modern(_) => {
            let (tx, rx) = mpsc::channel(LIVE_BUFFER);
            (Sink::Direct(tx), rx)
        }
    };
    tokio::spawn(pump(ex, sink, first, running));
    sse_response(Vec::new(), Some(rx), ka, &cid)
}

async fn pump(ex: Exchange, sink: Sink, first: CallEvent, mut running: Running) {
    let mut pending = Some(first);
    let mut events_open = true;
    loop {
        let ev = match pending.take() {
            Some(ev) => Some(ev),
            None => tokio::select! {
                biased;
                ev = running.events.recv(), if events_open => match ev {
                    Some(ev) => Some(ev),
                    None => {
                        events_open = false;
                        None
                    }
                },
                done = &mut running.task => {
                    if let Ok(Some(result)) = done {
                        sink.send(&ex.message(result), true).await;
                    }
                    sink.finish();
                    return;
                }
                _ = sink.closed() => {
                    ex.cancel.cancel();
                    return;
                }
            },
        };
        let Some(ev) = ev else { continue };
        if ex.needs_input(&ev) {
            let result = mrtr::park(&ex, ev, running);
            sink.send(&ex.message(result), true).await;
            sink.finish();
            return;
        }
        if let Some(msg) = ex.event_message(ev) {
            sink.send(&msg, false).await;
        }
    }
}
