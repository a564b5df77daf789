//! The HTTP session manager of the conformance catalog: rmcp's in-memory session manager, plus
//! what `test_reconnection` needs to close its own POST SSE stream mid-call and to learn when
//! the client has resumed it (a GET with `Last-Event-ID`).
//!
//! rmcp drops a request's event cache as soon as the response is sent, so the response of a
//! closed stream must not be sent before the client has resumed: the tool waits for that.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use rmcp::{
    RoleServer,
    model::{ClientJsonRpcMessage, ClientRequest, RequestId, ServerJsonRpcMessage},
    service::RequestContext,
    transport::streamable_http_server::session::{
        RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
        local::{LocalSessionHandle, LocalSessionManager, LocalSessionManagerError},
    },
};
use tokio::sync::{Notify, mpsc};

/// The tool whose streams this manager can close.
const RECONNECTION_TOOL: &str = "test_reconnection";

/// Header that carries the session id.
const SESSION_HEADER: &str = "mcp-session-id";

/// Why a stream could not be closed.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error("the request did not arrive over a streamable-HTTP session")]
    NoSession,
    #[error("no open stream is known for request {0}")]
    UnknownStream(RequestId),
    #[error(transparent)]
    Session(#[from] LocalSessionManagerError),
}

/// rmcp's [`LocalSessionManager`] that remembers the HTTP stream of each `test_reconnection`
/// call and reports stream resumptions.
#[derive(Debug, Default)]
pub struct ReconnectingSessionManager {
    inner: LocalSessionManager,
    /// (session, JSON-RPC id of a `test_reconnection` call) → rmcp's HTTP request id.
    calls: Mutex<HashMap<(SessionId, RequestId), u64>>,
    /// (session, HTTP request id) → woken when the client resumes that stream.
    resumes: Mutex<HashMap<(SessionId, u64), Arc<Notify>>>,
}

impl ReconnectingSessionManager {
    /// Close the SSE stream of the call in `ctx` after a priming event announcing `retry`, then
    /// wait up to `wait` for the client to resume it. `Ok(true)` once resumed.
    pub async fn close_and_await_resume(
        &self,
        ctx: &RequestContext<RoleServer>,
        retry: Duration,
        wait: Duration,
    ) -> Result<bool, CloseError> {
        let session = session_of(ctx).ok_or(CloseError::NoSession)?;
        let key = (session.clone(), ctx.id.clone());
        let http_request_id = lock(&self.calls)
            .remove(&key)
            .ok_or_else(|| CloseError::UnknownStream(ctx.id.clone()))?;
        let resumed = Arc::new(Notify::new());
        let resume_key = (session.clone(), http_request_id);
        lock(&self.resumes).insert(resume_key.clone(), resumed.clone());
        let outcome = async {
            let handle = self.handle(&session).await?;
            handle
                .close_sse_stream(http_request_id, Some(retry))
                .await
                .map_err(LocalSessionManagerError::from)?;
            Ok(tokio::time::timeout(wait, resumed.notified()).await.is_ok())
        }
        .await;
        lock(&self.resumes).remove(&resume_key);
        outcome
    }

    async fn handle(&self, id: &SessionId) -> Result<LocalSessionHandle, LocalSessionManagerError> {
        self.inner
            .sessions
            .read()
            .await
            .get(id)
            .cloned()
            .ok_or_else(|| LocalSessionManagerError::SessionNotFound(id.clone()))
    }

    fn forget_session(&self, id: &SessionId) {
        lock(&self.calls).retain(|(session, _), _| session != id);
        lock(&self.resumes).retain(|(session, _), _| session != id);
    }
}

impl SessionManager for ReconnectingSessionManager {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.forget_session(id);
        self.inner.close_session(id).await
    }

    /// As [`LocalSessionManager::create_stream`], remembering the HTTP request id of every
    /// `test_reconnection` call.
    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let handle = self.handle(id).await?;
        let receiver = handle.establish_request_wise_channel().await?;
        if let (Some(http_request_id), Some(call)) =
            (receiver.http_request_id, reconnection_call(&message))
        {
            lock(&self.calls).insert((id.clone(), call), http_request_id);
        }
        handle
            .push_message(message, receiver.http_request_id)
            .await?;
        Ok(ReceiverStream(receiver.inner))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    /// As [`LocalSessionManager::resume`], then wakes a `test_reconnection` call waiting for
    /// this stream.
    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.resume(id, last_event_id.clone()).await?;
        if let Some(http_request_id) = stream_of_event(&last_event_id)
            && let Some(waiter) = lock(&self.resumes).get(&(id.clone(), http_request_id))
        {
            waiter.notify_one();
        }
        Ok(stream)
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.inner.restore_session(id).await
    }
}

/// The JSON-RPC id of a `tools/call` of the reconnection tool.
fn reconnection_call(message: &ClientJsonRpcMessage) -> Option<RequestId> {
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    match &request.request {
        ClientRequest::CallToolRequest(call) if call.params.name == RECONNECTION_TOOL => {
            Some(request.id.clone())
        }
        _ => None,
    }
}

/// The HTTP request id in one of rmcp's request-stream event ids (`<index>/<request id>`);
/// `None` for events of the standalone stream (`<index>`).
fn stream_of_event(event_id: &str) -> Option<u64> {
    event_id.split_once('/')?.1.parse().ok()
}

fn session_of(ctx: &RequestContext<RoleServer>) -> Option<SessionId> {
    let parts = ctx.extensions.get::<http::request::Parts>()?;
    let id = parts.headers.get(SESSION_HEADER)?.to_str().ok()?;
    Some(id.to_owned().into())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An mpsc receiver as a stream of SSE messages.
struct ReceiverStream(mpsc::Receiver<ServerSseMessage>);

impl Stream for ReceiverStream {
    type Item = ServerSseMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::stream_of_event;

    #[test]
    fn event_ids_name_their_stream() {
        assert_eq!(stream_of_event("3/7"), Some(7));
        assert_eq!(stream_of_event("0/0"), Some(0));
        assert_eq!(stream_of_event("12"), None);
        assert_eq!(stream_of_event("1/x"), None);
    }
}
