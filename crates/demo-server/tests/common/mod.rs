//! Shared harness: the conformance catalog on 127.0.0.1:0 over streamable HTTP, and an rmcp
//! client that answers sampling and elicitation and records the notifications it receives.
#![allow(dead_code, deprecated)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_demo_server::{DemoOptions, bind_http};
use rmcp::{
    ClientHandler, ErrorData, RoleClient,
    model::{
        ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
        ElicitRequestParams, ElicitResult, ElicitationAction, Implementation,
        LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
        ResourceUpdatedNotificationParam, SamplingMessage,
    },
    service::{
        ClientLifecycleMode, ClientServiceExt as _, NotificationContext, RequestContext,
        RunningService,
    },
    transport::StreamableHttpClientTransport,
};
use serde_json::{Value, json};

/// Bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// The text the client's "model" answers every sampling request with.
pub const SAMPLED_TEXT: &str = "sampled by the test client";

/// The HTTP clients here speak plain HTTP on loopback, but reqwest wants a TLS provider.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Start the conformance catalog on loopback; returns its MCP URL. The server runs until the
/// test's runtime ends.
pub async fn start_server() -> String {
    let opts = DemoOptions {
        conformance: true,
        ..DemoOptions::default()
    };
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (bound, serve) = bind_http(addr, opts)
        .await
        .expect("bind the conformance catalog");
    tokio::spawn(serve);
    format!("http://{bound}/mcp")
}

/// What the client saw: server-to-client requests and notifications.
#[derive(Debug, Default)]
pub struct Seen {
    pub sampling: Vec<CreateMessageRequestParams>,
    pub elicitations: Vec<Value>,
    pub logs: Vec<LoggingMessageNotificationParam>,
    pub progress: Vec<ProgressNotificationParam>,
    pub resource_updates: Vec<String>,
    pub list_changed: Vec<&'static str>,
}

/// A client that declares sampling and elicitation, answers both, and records what it sees.
#[derive(Clone)]
pub struct TestClient {
    pub seen: Arc<Mutex<Seen>>,
    version: ProtocolVersion,
}

impl TestClient {
    pub fn new(version: ProtocolVersion) -> Self {
        Self {
            seen: Arc::default(),
            version,
        }
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }
}

impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        let capabilities = ClientCapabilities::builder()
            .enable_sampling()
            .enable_elicitation()
            .build();
        ClientConfig::new(
            capabilities,
            Implementation::new("conformance-test", "1.0.0"),
        )
        .with_protocol_version(self.version.clone())
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.seen().sampling.push(params);
        Ok(
            CreateMessageResult::new(SamplingMessage::assistant_text(SAMPLED_TEXT), "test".into())
                .with_stop_reason(CreateMessageResult::STOP_REASON_END_TURN),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let request = serde_json::to_value(&request).unwrap();
        let content = match request["requestedSchema"]["properties"].get("username") {
            Some(_) => json!({ "username": "testuser", "email": "test@example.com" }),
            None => json!({}),
        };
        self.seen().elicitations.push(request);
        Ok(ElicitResult::new(ElicitationAction::Accept).with_content(content))
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.seen().logs.push(params);
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.seen().progress.push(params);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.seen().resource_updates.push(params.uri);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.seen().list_changed.push("tools");
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.seen().list_changed.push("resources");
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.seen().list_changed.push("prompts");
    }
}

/// Connect a [`TestClient`] speaking `version` to `url`: `initialize` for the session-based
/// revisions, `server/discover` for 2026-07-28 and later.
pub async fn connect(
    url: &str,
    version: ProtocolVersion,
) -> (RunningService<RoleClient, TestClient>, TestClient) {
    install_crypto_provider();
    let client = TestClient::new(version.clone());
    let lifecycle = if version.as_str() >= ProtocolVersion::V_2026_07_28.as_str() {
        ClientLifecycleMode::Discover {
            preferred_versions: vec![version],
        }
    } else {
        ClientLifecycleMode::Initialize
    };
    let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
    let running = tokio::time::timeout(
        WAIT,
        client.clone().serve_with_lifecycle(transport, lifecycle),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    (running, client)
}

/// Poll `check` until it holds or [`WAIT`] passes.
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}
