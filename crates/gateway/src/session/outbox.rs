//! A legacy session's outgoing SSE events: every stream's events (the GET stream is stream 0,
//! each streamed POST response gets its own) are kept in a bounded log so a client that lost
//! its connection can resume with `Last-Event-ID`. A live connection gets events through a
//! bounded channel; a client too slow to keep up is detached, never waited for, and can resume
//! from the log.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

/// The session's GET stream.
pub const GET_STREAM: u64 = 0;

/// Frames a live connection may lag behind before it is detached.
pub const LIVE_BUFFER: usize = 64;

#[derive(Debug, Clone, Copy)]
pub struct OutboxLimits {
    /// Most events kept for resumption.
    pub max_events: usize,
    /// Most bytes of events kept for resumption.
    pub max_bytes: usize,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        OutboxLimits {
            max_events: 1024,
            max_bytes: 4 << 20,
        }
    }
}

struct Event {
    stream: u64,
    seq: u64,
    frame: Bytes,
}

#[derive(Default)]
struct StreamState {
    next_seq: u64,
    live: Option<mpsc::Sender<Bytes>>,
    finished: bool,
}

#[derive(Default)]
struct Inner {
    log: VecDeque<Event>,
    bytes: usize,
    next_stream: u64,
    streams: HashMap<u64, StreamState>,
}

/// Why a `Last-Event-ID` cannot be resumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("the Last-Event-ID is not one this gateway issued")]
    Malformed,
    #[error("the stream of that Last-Event-ID is unknown or its events were dropped")]
    Gone,
}

pub struct Outbox {
    limits: OutboxLimits,
    inner: Mutex<Inner>,
}

/// An SSE frame carrying one JSON-RPC message, with an id when it is resumable.
pub fn frame(id: Option<&str>, msg: &Value) -> Bytes {
    let data = msg.to_string();
    let text = match id {
        Some(id) => format!("id: {id}\nevent: message\ndata: {data}\n\n"),
        None => format!("event: message\ndata: {data}\n\n"),
    };
    Bytes::from(text)
}

fn event_id(stream: u64, seq: u64) -> String {
    format!("{stream}-{seq}")
}

/// The (stream, seq) an event id (`{stream}-{seq}`, as sent back in `Last-Event-ID`) names.
pub fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (s, q) = id.split_once('-')?;
    Some((s.parse().ok()?, q.parse().ok()?))
}

impl Outbox {
    pub fn new(limits: OutboxLimits) -> Outbox {
        Outbox {
            limits,
            inner: Mutex::new(Inner {
                next_stream: GET_STREAM + 1,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new stream for one POST response, with its live connection.
    pub fn open(&self) -> (u64, mpsc::Receiver<Bytes>) {
        let mut inner = self.lock();
        let id = inner.next_stream;
        inner.next_stream += 1;
        let (tx, rx) = mpsc::channel(LIVE_BUFFER);
        inner.streams.insert(
            id,
            StreamState {
                live: Some(tx),
                ..StreamState::default()
            },
        );
        (id, rx)
    }

    /// (Re)attach the live connection of the GET stream; an earlier one is closed.
    pub fn attach_get(&self) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(LIVE_BUFFER);
        self.lock().streams.entry(GET_STREAM).or_default().live = Some(tx);
        rx
    }

    /// Whether the GET stream has a live connection.
    pub fn get_attached(&self) -> bool {
        self.lock()
            .streams
            .get(&GET_STREAM)
            .and_then(|s| s.live.as_ref())
            .is_some_and(|l| !l.is_closed())
    }

    /// Append a message to `stream`: logged for resumption, and sent to the live connection
    /// if there is one that keeps up. Returns whether a live connection took it.
    pub fn emit(&self, stream: u64, msg: &Value) -> bool {
        let mut inner = self.lock();
        let state = inner.streams.entry(stream).or_default();
        if state.finished {
            return false;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        let frame = frame(Some(&event_id(stream, seq)), msg);
        let delivered = match &state.live {
            Some(tx) => match tx.try_send(frame.clone()) {
                Ok(()) => true,
                Err(_) => {
                    state.live = None;
                    false
                }
            },
            None => false,
        };
        inner.bytes += frame.len();
        inner.log.push_back(Event { stream, seq, frame });
        while inner.log.len() > self.limits.max_events || inner.bytes > self.limits.max_bytes {
            match inner.log.pop_front() {
                Some(old) => inner.bytes -= old.frame.len(),
                None => break,
            }
        }
        delivered
    }

    /// The stream will carry nothing more: its live connection ends after what it has.
    pub fn finish(&self, stream: u64) {
        if let Some(s) = self.lock().streams.get_mut(&stream) {
            s.finished = true;
            s.live = None;
        }
    }

    /// Resume after `last_event_id`: the events of its stream logged after it, and a live
    /// connection for what follows if the stream is not finished.
    pub fn resume(
        &self,
        last_event_id: &str,
    ) -> Result<(Vec<Bytes>, Option<mpsc::Receiver<Bytes>>), ResumeError> {
        let (stream, seq) = parse_event_id(last_event_id).ok_or(ResumeError::Malformed)?;
        let mut inner = self.lock();
        let Some(state) = inner.streams.get(&stream) else {
            return Err(ResumeError::Gone);
        };
        if seq >= state.next_seq {
            return Err(ResumeError::Malformed);
        }
        let finished = state.finished;
        let oldest_kept = inner.log.iter().find(|e| e.stream == stream).map(|e| e.seq);
        if seq + 1 < state.next_seq && oldest_kept.is_none_or(|o| o > seq + 1) {
            return Err(ResumeError::Gone);
        }
        let replay: Vec<Bytes> = inner
            .log
            .iter()
            .filter(|e| e.stream == stream && e.seq > seq)
            .map(|e| e.frame.clone())
            .collect();
        let live = if finished {
            None
        } else {
            let (tx, rx) = mpsc::channel(LIVE_BUFFER);
            if let Some(s) = inner.streams.get_mut(&stream) {
                s.live = Some(tx);
            }
            Some(rx)
        };
        Ok((replay, live))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn text(b: &Bytes) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn events_are_live_and_resumable_after_a_disconnect() {
        let o = Outbox::new(OutboxLimits::default());
        let (s, mut rx) = o.open();
        assert!(o.emit(s, &json!({"n": 0})));
        let first = rx.recv().await.unwrap();
        assert!(text(&first).starts_with(&format!("id: {s}-0\n")));
        drop(rx);
        assert!(!o.emit(s, &json!({"n": 1})), "nobody listens now");
        o.emit(s, &json!({"n": 2}));
        let (replay, live) = o.resume(&format!("{s}-0")).unwrap();
        assert_eq!(replay.len(), 2);
        assert!(text(&replay[0]).contains(r#"{"n":1}"#));
        let mut live = live.expect("the stream is still open");
        o.emit(s, &json!({"n": 3}));
        o.finish(s);
        assert!(text(&live.recv().await.unwrap()).contains(r#"{"n":3}"#));
        assert!(live.recv().await.is_none(), "finished streams end");
        let (replay, live) = o.resume(&format!("{s}-2")).unwrap();
        assert_eq!(replay.len(), 1);
        assert!(live.is_none());
    }

    #[test]
    fn bad_and_forgotten_ids_are_refused() {
        let o = Outbox::new(OutboxLimits {
            max_events: 2,
            max_bytes: 1 << 20,
        });
        let (s, _rx) = o.open();
        for n in 0..5 {
            o.emit(s, &json!({ "n": n }));
        }
        assert_eq!(o.resume("x").unwrap_err(), ResumeError::Malformed);
        assert_eq!(o.resume("1-x").unwrap_err(), ResumeError::Malformed);
        assert_eq!(o.resume("99-0").unwrap_err(), ResumeError::Gone);
        assert_eq!(
            o.resume(&format!("{s}-9")).unwrap_err(),
            ResumeError::Malformed,
            "an id that was never issued"
        );
        assert_eq!(
            o.resume(&format!("{s}-0")).unwrap_err(),
            ResumeError::Gone,
            "events 1 and 2 were dropped from the log"
        );
        assert_eq!(o.resume(&format!("{s}-2")).unwrap().0.len(), 2);
    }

    #[tokio::test]
    async fn a_slow_reader_is_detached_not_waited_for() {
        let o = Outbox::new(OutboxLimits::default());
        let mut rx = o.attach_get();
        for n in 0..LIVE_BUFFER {
            assert!(o.emit(GET_STREAM, &json!({ "n": n })));
        }
        assert!(!o.emit(GET_STREAM, &json!({"n": "overflow"})));
        assert!(!o.get_attached());
        let mut got = 0;
        while rx.recv().await.is_some() {
            got += 1;
        }
        assert_eq!(
            got, LIVE_BUFFER,
            "what was buffered is delivered, then the stream ends"
        );
        let (replay, _) = o
            .resume(&format!("{GET_STREAM}-{}", LIVE_BUFFER - 1))
            .unwrap();
        assert_eq!(replay.len(), 1, "the overflowed event waits in the log");
    }
}
