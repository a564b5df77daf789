//! The accept loop, the first guard of all: it holds at most `server.max_connections`
//! connections, and at most `server.max_connections_per_client` from one client address, so
//! that a flood of idle or slow connections from one place cannot lock everybody else out; a
//! client must send its request head within `server.header_read_timeout`. On shutdown it stops
//! accepting and lets the open connections finish (hyper's graceful shutdown).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use prometheus_client::metrics::counter::Counter;

/// The limits the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub max_per_client: usize,
    pub header_read_timeout: Duration,
}

/// Open connections by client address.
#[derive(Default)]
struct PerClient(Mutex<HashMap<IpAddr, usize>>);

/// A client's place among the open connections; freed when dropped.
struct Slot {
    clients: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            clients: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.clients.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Serve `app` on `listener` (over TLS with `tls`) until `shutdown` is cancelled, then wait
/// for the open connections to finish (the caller bounds that wait). A TLS handshake runs in
/// the connection's own task, bounded by `header_read_timeout`, so a slow one holds nobody else.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    refused: Counter,
    tls: Option<Arc<super::tls::Certificates>>,
    shutdown: CancellationToken,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let total = Arc::new(Semaphore::new(limits.max_connections));
    let clients = Arc::new(PerClient::default());
    loop {
        let (tcp, addr) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was accepted.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = total.clone().try_acquire_owned() else {
            refused.inc();
            continue;
        };
        let Some(slot) = clients.take(addr.ip(), limits.max_per_client) else {
            refused.inc();
            continue;
        };
        // Answers are small and written whole: send them at once rather than wait on Nagle.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY could not be set");
        }
        let svc = app
            .clone()
            .map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(addr));
                req
            });
        let Some(certs) = &tls else {
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(svc))
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(client = %addr, error = %e, "connection ended with an error");
                }
                drop(permit);
                drop(slot);
            });
            continue;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(certs.current());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(client = %addr, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(client = %addr, "TLS handshake timed out");
                    return;
                }
            };
            // The client certificate (verified in the handshake), for identity. One that was
            // verified but cannot be read closes the connection: its names would bind the
            // request's other credentials, so going on without them would fail open.
            let cert = match stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
            {
                None => None,
                Some(der) => match super::tls::ClientCert::parse(der) {
                    Some(c) => Some(Arc::new(c)),
                    None => {
                        tracing::warn!(client = %addr, "a client certificate could not be read; connection closed");
                        return;
                    }
                },
            };
            let svc = svc.map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                if let Some(c) = &cert {
                    req.extensions_mut().insert(c.clone());
                }
                req
            });
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc))
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(client = %addr, error = %e, "connection ended with an error");
            }
            drop(permit);
            drop(slot);
        });
    }
    graceful.shutdown().await;
}
