//! Upstream-wide notifications: a list change makes the gateway list that upstream again,
//! rebuild the catalog and tell its clients; a resource update goes to that resource's
//! subscribers. One task per upstream, until shutdown.

use std::sync::Arc;

use portcullis_protocol::mcp;
use portcullis_upstream::Notice;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::federation::fetch_listing;
use crate::listen::{self, ListKind};
use crate::state::AppState;

/// Start one watcher per upstream.
pub fn spawn(st: &Arc<AppState>, shutdown: &CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
    st.upstreams
        .iter()
        .map(|u| {
            let st = st.clone();
            let shutdown = shutdown.clone();
            let mut rx = u.subscribe();
            let name = u.name().to_string();
            tokio::spawn(async move {
                loop {
                    let msg = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        m = rx.recv() => m,
                    };
                    match msg {
                        Ok(Notice::Wide(m)) => handle(&st, &name, m).await,
                        Ok(Notice::Late { owner, msg }) => late(&st, &owner, &msg),
                        Err(RecvError::Lagged(n)) => {
                            tracing::warn!(upstream = %name, missed = n, "notifications were missed; listing again");
                            refresh(&st, &name).await;
                            for kind in [ListKind::Tools, ListKind::Prompts, ListKind::Resources] {
                                listen::list_changed(&st, kind);
                            }
                        }
                        Err(RecvError::Closed) => return,
                    }
                }
            })
        })
        .collect()
}

async fn handle(st: &AppState, upstream: &str, msg: Value) {
    let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
    if let Some(kind) = ListKind::from_method(method) {
        refresh(st, upstream).await;
        listen::list_changed(st, kind);
        return;
    }
    if method == "notifications/resources/updated"
        && let Some(uri) = msg.pointer("/params/uri").and_then(Value::as_str)
    {
        listen::resource_updated(st, uri, &msg);
    }
}

/// A notification that arrived just after its call finished: it goes to the owning session's
/// GET stream (a sessionless client's request is over, so it is dropped).
fn late(st: &AppState, owner: &str, msg: &Value) {
    let Some(session) = st.sessions.get(owner) else {
        return;
    };
    let wanted = match msg.get("method").and_then(Value::as_str) {
        Some("notifications/message") => msg
            .pointer("/params/level")
            .and_then(Value::as_str)
            .and_then(mcp::log_level_rank)
            .is_some_and(|r| session.wants_log(r)),
        Some("notifications/resources/updated") => {
            let uri = msg.pointer("/params/uri").and_then(Value::as_str);
            let normal = uri.and_then(|u| mcp::uri::normalize(u).ok());
            normal.is_some_and(|u| {
                session.subscribed(&u)
                    && st.catalog().route_resource(&u).is_ok_and(|r| {
                        crate::pipeline::stages::permits(
                            st,
                            &session.principal,
                            portcullis_policy::Action::ReadResource,
                            &r.policy_name,
                            None,
                        )
                    })
            })
        }
        _ => true,
    };
    if wanted {
        session.outbox.emit(crate::session::GET_STREAM, msg);
    }
}

/// List one upstream again and rebuild the catalog.
pub async fn refresh(st: &AppState, upstream: &str) {
    let Some(u) = st.upstream(upstream) else {
        return;
    };
    match fetch_listing(u, st.namespace(upstream)).await {
        Ok(listing) => {
            if let Err(e) = st.update_listings(vec![listing]) {
                tracing::error!(upstream = %upstream, error = %e, "new listing refused; the previous catalog stays");
            } else {
                tracing::info!(upstream = %upstream, catalog_hash = %st.catalog().hash(), "catalog refreshed");
            }
        }
        Err(e) => {
            tracing::warn!(upstream = %upstream, error = %e, "listing failed; the previous catalog stays")
        }
    }
}
