//! Execution plane: connectors to the MCP servers behind the gateway, over stdio child
//! processes and streamable HTTP. A connector keeps one live session and reuses it for every
//! call, assigns its own JSON-RPC ids and matches answers back by them, validates everything
//! the upstream sends, and restarts (stdio) or re-connects (HTTP) with backoff.
#![forbid(unsafe_code)]

mod backoff;
mod call;
mod error;
mod http;
mod route;
mod rpc;
mod stdio;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

pub use call::{CallEvent, CallOptions, Notice, RpcError, ServerRequest};
pub use error::UpstreamError;
pub use rpc::{Incoming, classify};
pub use stdio::describe_exit;

/// Most `tools/list` pages followed.
const MAX_LIST_PAGES: usize = 100;

#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    pub name: String,
    pub transport: TransportSpec,
    pub call_timeout: Duration,
    pub max_response_bytes: usize,
    /// Protocol revision sent in `initialize`.
    pub protocol_version: String,
}

#[derive(Debug, Clone)]
pub enum TransportSpec {
    Stdio {
        /// Absolute path of the program.
        command: PathBuf,
        args: Vec<String>,
        /// The only environment variables the child gets.
        env: Vec<(String, String)>,
        cwd: Option<PathBuf>,
        /// A request or log message that names no call reaches a caller only with the
        /// progress token issued for its call; never by timing.
        strict_attribution: bool,
    },
    Http {
        url: String,
        /// Configured headers (values already resolved); nothing from callers is added.
        headers: Vec<(String, String)>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamState {
    Starting,
    Ready,
    Restarting,
    Down,
}

impl UpstreamState {
    fn from_u8(v: u8) -> UpstreamState {
        match v {
            0 => UpstreamState::Starting,
            1 => UpstreamState::Ready,
            2 => UpstreamState::Restarting,
            _ => UpstreamState::Down,
        }
    }
}

/// The live connection of the moment.
#[derive(Clone)]
pub(crate) enum Conn {
    Stdio(Arc<stdio::StdioConn>),
    Http(Arc<http::HttpConn>),
}

pub(crate) struct Inner {
    pub(crate) spec: UpstreamSpec,
    state: AtomicU8,
    state_tx: watch::Sender<UpstreamState>,
    pub(crate) restarts: AtomicU64,
    next_id: AtomicU64,
    init_result: Mutex<Option<Value>>,
    conn: Mutex<Option<Conn>>,
    pub(crate) shutdown: CancellationToken,
    stopped: Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
    /// Upstream-wide notifications (list changes, resource updates).
    pub(crate) notifications: broadcast::Sender<Notice>,
}

impl Inner {
    pub(crate) fn set_state(&self, s: UpstreamState) {
        self.state.store(s as u8, Ordering::SeqCst);
        // send_replace: the value must change even when nobody is subscribed yet, or a later
        // wait_ready would wait for a state the upstream already reached.
        self.state_tx.send_replace(s);
    }

    pub(crate) fn set_conn(&self, c: Option<Conn>) {
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = c;
    }

    fn conn(&self) -> Option<Conn> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn set_init_result(&self, v: Value) {
        *self.init_result.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
    }

    /// The `initialize` request this gateway sends upstream. It offers what it can relay to
    /// its own clients; a client that lacks a capability gets the upstream's request refused.
    pub(crate) fn initialize_params(&self) -> Value {
        json!({
            "protocolVersion": self.spec.protocol_version,
            "capabilities": {
                "roots": {"listChanged": true},
                "sampling": {},
                "elicitation": {},
            },
            "clientInfo": {"name": "portcullis", "version": env!("CARGO_PKG_VERSION")},
        })
    }
}

/// A handle on one upstream; cheap to clone.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

impl Upstream {
    /// Start the connector's supervisor; returns at once.
    pub fn start(spec: UpstreamSpec) -> Upstream {
        let (state_tx, _) = watch::channel(UpstreamState::Starting);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let inner = Arc::new(Inner {
            spec,
            state: AtomicU8::new(UpstreamState::Starting as u8),
            state_tx,
            restarts: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            init_result: Mutex::new(None),
            conn: Mutex::new(None),
            shutdown: CancellationToken::new(),
            stopped: Mutex::new(Some(done_rx)),
            notifications: broadcast::channel(256).0,
        });
        let sup = inner.clone();
        tokio::spawn(async move {
            match sup.spec.transport.clone() {
                TransportSpec::Stdio { .. } => stdio::supervise(sup.clone()).await,
                TransportSpec::Http { .. } => http::supervise(sup.clone()).await,
            }
            sup.set_conn(None);
            sup.set_state(UpstreamState::Down);
            let _ = done_tx.send(());
        });
        Upstream { inner }
    }

    pub fn name(&self) -> &str {
        &self.inner.spec.name
    }

    pub fn state(&self) -> UpstreamState {
        UpstreamState::from_u8(self.inner.state.load(Ordering::SeqCst))
    }

    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::Relaxed)
    }

    pub fn initialize_result(&self) -> Option<Value> {
        self.inner
            .init_result
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Wait until the upstream is ready, up to `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), UpstreamError> {
        let mut rx = self.inner.state_tx.subscribe();
        let wait = rx.wait_for(|s| *s == UpstreamState::Ready || *s == UpstreamState::Down);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(s)) if *s == UpstreamState::Ready => Ok(()),
            Ok(_) => Err(UpstreamError::Unavailable("the upstream is stopped".into())),
            Err(_) => Err(UpstreamError::Unavailable(format!(
                "not ready after {timeout:?}"
            ))),
        }
    }

    /// What the upstream offers (`capabilities` of its `initialize` result), if it is up.
    pub fn capabilities(&self) -> Option<Value> {
        self.initialize_result()
            .and_then(|mut r| r.get_mut("capabilities").map(Value::take))
    }

    /// Whether the upstream announced capability `name` (`tools`, `resources`, ...).
    pub fn offers(&self, name: &str) -> bool {
        self.capabilities()
            .is_some_and(|c| c.get(name).is_some_and(Value::is_object))
    }

    /// Upstream-wide notifications from now on (list changes, resource updates), and
    /// notifications that arrived just after their owner's call finished.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.inner.notifications.subscribe()
    }

    /// Send a request with the configured timeout; returns its result.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, UpstreamError> {
        self.call(method, params, CallOptions::default()).await
    }

    /// Send a request; what the upstream sends about it before answering goes to
    /// `opts.events`. Dropping the future tells the upstream the call was cancelled.
    pub async fn call(
        &self,
        method: &str,
        params: Option<Value>,
        opts: CallOptions,
    ) -> Result<Value, UpstreamError> {
        match self.live_conn()? {
            Conn::Stdio(c) => c.call(&self.inner, method, params, opts).await,
            Conn::Http(c) => c.call(&self.inner, method, params, opts).await,
        }
    }

    /// Whether calls can have an upstream session of their owner's own (HTTP upstreams).
    pub fn supports_affinity(&self) -> bool {
        matches!(self.inner.spec.transport, TransportSpec::Http { .. })
    }

    /// Close the upstream session `owner` had, if any (its client session ended).
    pub fn release(&self, owner: &str) {
        if let Some(Conn::Http(c)) = self.inner.conn() {
            c.release(owner);
        }
    }

    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), UpstreamError> {
        match self.live_conn()? {
            Conn::Stdio(c) => c.notify(method, params).await,
            Conn::Http(c) => c.notify(method, params, self.inner.spec.call_timeout).await,
        }
    }

    fn live_conn(&self) -> Result<Conn, UpstreamError> {
        if self.state() != UpstreamState::Ready {
            return Err(UpstreamError::Unavailable(format!(
                "upstream '{}' is {:?}",
                self.name(),
                self.state()
            )));
        }
        self.inner.conn().ok_or_else(|| {
            UpstreamError::Unavailable(format!("upstream '{}' has no connection", self.name()))
        })
    }

    /// `tools/list`, following `nextCursor` (at most 100 pages).
    pub async fn list_tools(&self) -> Result<Vec<Value>, UpstreamError> {
        self.list_all("tools/list", "tools", "name").await
    }

    /// A list method (`tools/list`, `prompts/list`, `resources/list`,
    /// `resources/templates/list`) followed through `nextCursor` (at most 100 pages). Every
    /// item must be an object with a string `id_field` (`name`, `uri`, `uriTemplate`).
    pub async fn list_all(
        &self,
        method: &str,
        key: &str,
        id_field: &str,
    ) -> Result<Vec<Value>, UpstreamError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let params = cursor.as_ref().map(|c| json!({"cursor": c}));
            let page = self.request(method, params).await?;
            let list = page.get(key).and_then(Value::as_array).ok_or_else(|| {
                UpstreamError::InvalidResponse(format!("{method} result has no '{key}' array"))
            })?;
            for item in list {
                if !item.get(id_field).is_some_and(Value::is_string) {
                    return Err(UpstreamError::InvalidResponse(format!(
                        "an item of {method} has no string '{id_field}'"
                    )));
                }
                items.push(item.clone());
            }
            match page.get("nextCursor") {
                Some(Value::String(c)) if !c.is_empty() => cursor = Some(c.clone()),
                None | Some(Value::Null) => return Ok(items),
                Some(_) => {
                    return Err(UpstreamError::InvalidResponse(
                        "'nextCursor' is not a string".into(),
                    ));
                }
            }
        }
        Err(UpstreamError::InvalidResponse(format!(
            "{method} has more than {MAX_LIST_PAGES} pages"
        )))
    }

    /// Stop for good: no restart afterwards. Stdio children get SIGTERM, then SIGKILL.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let rx = self
            .inner
            .stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(rx) = rx {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
    }
}
