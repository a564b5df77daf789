//! Load shedding: at most `server.max_in_flight` MCP requests are handled at once. One more is
//! refused at once, before identity or decoding (the work that costs), with HTTP 503
//! `overloaded` and `Retry-After: 1`. A request counts from its arrival until its answer
//! starts: a call answered with JSON counts until the upstream has answered, one answered with
//! an event stream until the stream opens. Streams are not counted while open: a session's GET
//! stream and a `subscriptions/listen` stream last as long as their client, and counting them
//! would let idle listeners shed every call. `/health`, `/ready` and the other operations
//! endpoints are not counted and keep answering.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use portcullis_protocol::ErrorCode;

use crate::respond::{self, Failure};
use crate::state::AppState;

/// One request counted in `AppState::in_flight`, until dropped.
struct Counted(Arc<AppState>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pub async fn in_flight(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let max = st.config.server.max_in_flight;
    let admitted = st
        .in_flight
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok();
    if !admitted {
        st.metrics.requests_shed.inc();
        let f = Failure::new(
            ErrorCode::Overloaded,
            format!("the gateway is handling its {max} requests at once; retry in a second"),
        );
        let mut resp = respond::http_error(&f, &crate::endpoint::new_correlation_id());
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    }
    let _counted = Counted(st);
    next.run(req).await
}
