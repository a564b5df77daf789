//! Event ids of a legacy session's SSE streams, as a client sends them back in `Last-Event-ID`.

use portcullis_gateway::session::outbox::parse_event_id;
use portcullis_gateway::session::{GET_STREAM, Outbox, OutboxLimits, ResumeError};
use serde_json::json;

/// The id line of an SSE frame the outbox wrote.
fn frame_id(frame: &[u8]) -> (u64, u64) {
    let text = std::str::from_utf8(frame).expect("frames are UTF-8");
    let id = text
        .strip_prefix("id: ")
        .and_then(|t| t.split('\n').next())
        .expect("resumable frames carry an id");
    parse_event_id(id).expect("the outbox's own ids parse")
}

/// An outbox with a GET stream, an open stream whose oldest events were dropped from the
/// log, and a finished stream.
fn outbox() -> (Outbox, [u64; 2]) {
    let o = Outbox::new(OutboxLimits {
        max_events: 6,
        max_bytes: 1 << 16,
    });
    let (open, _) = o.open();
    let (done, _) = o.open();
    for n in 0..3 {
        o.emit(GET_STREAM, &json!({ "get": n }));
        o.emit(open, &json!({ "open": n }));
    }
    o.emit(done, &json!({ "done": 0 }));
    o.finish(done);
    for n in 3..5 {
        o.emit(open, &json!({ "open": n }));
    }
    (o, [open, done])
}

/// `parse_event_id` and `Outbox::resume` on the input as a `Last-Event-ID`: a parsed id
/// prints back to one that parses the same; resuming replays exactly the events after the
/// id, in order and without a gap, or refuses; a finished stream gets no live connection.
pub fn sse_event_id(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = parse_event_id(&text);
    if let Some((stream, seq)) = parsed {
        assert_eq!(
            parse_event_id(&format!("{stream}-{seq}")),
            Some((stream, seq))
        );
    }
    let (o, [open, done]) = outbox();
    match o.resume(&text) {
        Ok((replay, live)) => {
            let (stream, seq) = parsed.expect("a resumed id parses");
            let ids: Vec<(u64, u64)> = replay.iter().map(|f| frame_id(f)).collect();
            let expected: Vec<(u64, u64)> =
                (seq + 1..).take(ids.len()).map(|n| (stream, n)).collect();
            assert_eq!(ids, expected, "replay after {stream}-{seq}");
            let last = match stream {
                GET_STREAM => 2,
                s if s == open => 4,
                s if s == done => 0,
                other => panic!("resumed stream {other} that does not exist"),
            };
            assert_eq!(
                seq + ids.len() as u64,
                last,
                "the replay ends with the last event"
            );
            assert_eq!(live.is_none(), stream == done);
        }
        Err(ResumeError::Malformed) => {}
        Err(ResumeError::Gone) => assert!(parsed.is_some()),
    }
}
