//! Reading an upstream's answer: a JSON body, or an SSE stream whose other messages belong to
//! the call, each event capped in size, resumed with `Last-Event-ID` when the upstream closes
//! the stream before answering.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use sse_stream::SseStream;

use super::{HttpConn, UpSession};
use crate::UpstreamError;
use crate::route::Router;
use crate::rpc::{self, Incoming};

/// How often one call's stream may be resumed after the upstream closed it.
const MAX_RESUMES: usize = 16;
/// Wait before resuming when the upstream named none (its `retry` field), and the most it may
/// name.
const DEFAULT_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Why the capped byte stream under the SSE parser stopped.
#[derive(Debug, thiserror::Error)]
enum CapError {
    #[error("an event exceeds the response size cap")]
    TooLarge,
    #[error("{0}")]
    Body(String),
}

/// Events of an SSE response, each at most `cap` bytes (counted before the parser buffers
/// them, so an endless event cannot grow memory).
pub(super) fn capped_events(
    resp: reqwest::Response,
    cap: usize,
) -> impl futures::Stream<Item = Result<sse_stream::Sse, UpstreamError>> {
    let pending = Arc::new(AtomicUsize::new(0));
    let counter = pending.clone();
    let bytes = resp.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| CapError::Body(e.to_string()))?;
        if counter.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len() > cap {
            return Err(CapError::TooLarge);
        }
        Ok(chunk)
    });
    SseStream::from_bytes_stream(bytes).map(move |event| {
        pending.store(0, Ordering::Relaxed);
        event.map_err(|e| match e {
            sse_stream::Error::Body(b)
                if matches!(b.downcast_ref::<CapError>(), Some(CapError::TooLarge)) =>
            {
                UpstreamError::InvalidResponse(format!("a message exceeds {cap} bytes"))
            }
            sse_stream::Error::Body(b) => {
                UpstreamError::Unavailable(format!("reading the stream: {b}"))
            }
            other => UpstreamError::InvalidResponse(format!("malformed event stream: {other}")),
        })
    })
}

impl HttpConn {
    /// Read the answer to request `id` from a JSON body or an SSE stream, handing everything
    /// else the stream carries to the router as belonging to this call.
    pub(super) async fn read_answer(
        &self,
        sess: &UpSession,
        resp: reqwest::Response,
        id: u64,
        router: &Router<'_>,
    ) -> Result<Value, UpstreamError> {
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !ct.starts_with("text/event-stream") {
            return self.read_json(resp, id).await;
        }
        let mut resp = resp;
        let mut last_event: Option<String> = None;
        let mut retry = DEFAULT_RETRY;
        for _ in 0..=MAX_RESUMES {
            let mut events = std::pin::pin!(capped_events(resp, self.cap));
            while let Some(event) = events.next().await {
                let event = event?;
                if let Some(eid) = event.id {
                    last_event = Some(eid);
                }
                if let Some(ms) = event.retry {
                    retry = Duration::from_millis(ms).min(MAX_RETRY);
                }
                // Events without data (priming events, comments) carry no message.
                let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
                    continue;
                };
                let Ok(v) = serde_json::from_str::<Value>(&data) else {
                    return Err(UpstreamError::InvalidResponse(
                        "an event in the stream is not JSON".into(),
                    ));
                };
                match rpc::classify(v) {
                    Incoming::Response(rid, reply) if rid == id => return reply,
                    Incoming::Response(rid, _) => {
                        return Err(UpstreamError::InvalidResponse(format!(
                            "the stream answered id {rid}, not {id}"
                        )));
                    }
                    Incoming::Notification(n) => router.notification(n, Some(id)),
                    Incoming::ServerRequest(r) => router.request(r, Some(id)),
                    Incoming::Unmatchable(why) => {
                        return Err(UpstreamError::InvalidResponse(why));
                    }
                }
            }
            // The upstream closed the stream before answering: resume it where it stopped.
            let Some(eid) = last_event.clone() else { break };
            tokio::time::sleep(retry).await;
            let get = sess
                .headers(self.client.get(&self.url), &self.headers)
                .header("accept", "text/event-stream")
                .header("last-event-id", eid)
                .send()
                .await
                .map_err(|e| UpstreamError::Unavailable(format!("resuming the stream: {e}")))?;
            if !get.status().is_success() {
                return Err(UpstreamError::Unavailable(format!(
                    "resuming the stream: HTTP {}",
                    get.status()
                )));
            }
            resp = get;
        }
        Err(UpstreamError::InvalidResponse(
            "the stream ended without an answer".into(),
        ))
    }

    async fn read_json(&self, resp: reqwest::Response, id: u64) -> Result<Value, UpstreamError> {
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| UpstreamError::Unavailable(format!("reading the answer: {e}")))?;
            if body.len() + chunk.len() > self.cap {
                return Err(UpstreamError::InvalidResponse(format!(
                    "the answer exceeds {} bytes",
                    self.cap
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| UpstreamError::InvalidResponse("the answer is not JSON".into()))?;
        match rpc::classify(v) {
            Incoming::Response(rid, reply) if rid == id => reply,
            Incoming::Response(rid, _) => Err(UpstreamError::InvalidResponse(format!(
                "the answer is for id {rid}, not {id}"
            ))),
            _ => Err(UpstreamError::InvalidResponse(
                "the answer is not a JSON-RPC response".into(),
            )),
        }
    }
}
