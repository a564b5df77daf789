//! One MCP session with an HTTP upstream: its `Mcp-Session-Id`, negotiated revision and GET
//! stream. The connector keeps a shared session (for the gateway's own requests and for
//! clients without a session of their own) and, per client session that asks for it, a
//! session of that client's own, so everything the upstream sends on it belongs to that client.

use std::sync::{Arc, Mutex};

use reqwest::header::HeaderMap;
use tokio_util::sync::CancellationToken;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) struct UpSession {
    /// Whose session this is; `None` for the shared one.
    pub(crate) owner: Option<Arc<str>>,
    id: Mutex<Option<String>>,
    protocol: Mutex<Option<String>>,
    listener: Mutex<Option<CancellationToken>>,
    /// Held while the session is (re)initialized; true once it has been.
    pub(super) ready: tokio::sync::Mutex<bool>,
}

impl UpSession {
    pub(crate) fn new(owner: Option<Arc<str>>) -> UpSession {
        UpSession {
            owner,
            id: Mutex::new(None),
            protocol: Mutex::new(None),
            listener: Mutex::new(None),
            ready: tokio::sync::Mutex::new(false),
        }
    }

    pub(super) fn id(&self) -> Option<String> {
        lock(&self.id).clone()
    }

    pub(super) fn set_id(&self, id: Option<String>) {
        *lock(&self.id) = id;
    }

    pub(super) fn set_protocol(&self, v: Option<String>) {
        *lock(&self.protocol) = v;
    }

    /// The configured headers plus this session's id and revision.
    pub(super) fn headers(
        &self,
        mut rb: reqwest::RequestBuilder,
        configured: &HeaderMap,
    ) -> reqwest::RequestBuilder {
        rb = rb.headers(configured.clone());
        if let Some(s) = self.id() {
            rb = rb.header("mcp-session-id", s);
        }
        if let Some(p) = lock(&self.protocol).clone() {
            rb = rb.header("mcp-protocol-version", p);
        }
        rb
    }

    /// Replace the GET stream's stop token; the earlier stream stops.
    pub(super) fn replace_listener(&self, stop: CancellationToken) {
        if let Some(old) = lock(&self.listener).replace(stop) {
            old.cancel();
        }
    }

    pub(super) fn stop_listener(&self) {
        if let Some(stop) = lock(&self.listener).take() {
            stop.cancel();
        }
    }
}
