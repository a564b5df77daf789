//! Start, serve and stop: bind first (an occupied port fails fast), start upstreams and load
//! the catalog, serve, and on shutdown drain in-flight calls within `server.shutdown_grace`,
//! then flush the store and stop the children.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get};
use portcullis_clock::SharedClock;
use portcullis_control::Config;
use portcullis_store::Stores;
use portcullis_upstream::{Upstream, UpstreamState};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::federation::{Catalog, Listing, fetch_listing};
use crate::ingress::connections;
use crate::state::AppState;
use crate::upstreams::{self, EnvLookup};
use crate::{checkpointer, controls, endpoint, ledger_api, notify, ops};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Catalog(String),
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Signing(portcullis_store::StoreError),
    #[error("the kill switches could not be read: {0}")]
    Controls(portcullis_store::StoreError),
    #[error("{0}")]
    Identity(String),
}

/// Bind the listener. Fails at once if the address is taken.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Build the router for a state.
pub fn router(st: Arc<AppState>) -> Router {
    let base = st.config.server.base_path.clone();
    let mcp = get(endpoint::get)
        .post(endpoint::post)
        .delete(endpoint::delete)
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            crate::shed::in_flight,
        ));
    Router::new()
        .route(&base, mcp)
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/api/status", get(ops::status))
        .route("/metrics", get(ops::metrics))
        .route(
            "/.well-known/oauth-protected-resource",
            get(ops::resource_metadata),
        )
        .route(
            &format!("/.well-known/oauth-protected-resource{base}"),
            get(ops::resource_metadata),
        )
        .merge(ledger_api::routes())
        .route("/", any(ops::not_found))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::respond::panic_response,
        ))
        .with_state(st)
}

/// List every ready upstream's tools, prompts and resources. Upstreams that are not ready
/// (or fail to list) are left out and reported.
pub async fn fetch_listings(
    upstreams: &[Upstream],
    namespace: impl Fn(&str) -> String,
) -> (Vec<Listing>, Vec<String>) {
    let mut listings = Vec::new();
    let mut missing = Vec::new();
    for u in upstreams {
        if u.state() != UpstreamState::Ready {
            missing.push(u.name().to_string());
            continue;
        }
        match fetch_listing(u, &namespace(u.name())).await {
            Ok(l) => listings.push(l),
            Err(e) => {
                tracing::warn!(upstream = u.name(), error = %e, "listing failed; its tools are not exposed");
                missing.push(u.name().to_string());
            }
        }
    }
    (listings, missing)
}

/// List the upstreams and build the catalog (for `portcullis tools list`).
pub async fn load_catalog(
    upstreams: &[Upstream],
    config: &Config,
) -> Result<(Catalog, Vec<String>), StartError> {
    let (listings, missing) = fetch_listings(upstreams, |name| namespace_of(config, name)).await;
    let reserved: Vec<String> = config
        .upstreams
        .iter()
        .map(|u| u.namespace.clone())
        .filter(|n| !n.is_empty())
        .collect();
    let catalog = Catalog::build_reserving(&listings, &config.policy, &reserved)
        .map_err(|e| StartError::Catalog(e.to_string()))?;
    Ok((catalog, missing))
}

fn namespace_of(config: &Config, upstream: &str) -> String {
    config
        .upstreams
        .iter()
        .find(|u| u.name == upstream)
        .map(|u| u.namespace.clone())
        .unwrap_or_else(|| upstream.to_string())
}

/// Start the upstreams from config.
pub fn start_upstreams(
    config: &Config,
    self_exe: &std::path::Path,
    env: EnvLookup<'_>,
) -> Result<Vec<Upstream>, StartError> {
    let mut out = Vec::new();
    for u in &config.upstreams {
        let spec =
            upstreams::spec(u, &config.base_dir, self_exe, env).map_err(StartError::Upstream)?;
        out.push(Upstream::start(spec));
    }
    Ok(out)
}

pub struct Running {
    pub state: Arc<AppState>,
    pub addr: SocketAddr,
    /// Where the admin API listens, if it does.
    pub admin_addr: Option<SocketAddr>,
}

/// What the gateway runs on besides its config: its stores, its clock, and what it needs to
/// start stdio upstreams (this executable's path, the environment).
pub struct Services<'a> {
    pub stores: Stores,
    pub clock: SharedClock,
    pub self_exe: PathBuf,
    pub env: EnvLookup<'a>,
    /// How many log lines the log writer dropped so far, if it counts them.
    pub log_lines_dropped: Option<crate::state::Reading>,
    /// The admin API's listener, bound (`[admin] listen`), if it is on.
    pub admin_listener: Option<TcpListener>,
    /// Where the config came from, so that it can be reloaded (SIGHUP, the admin API).
    pub config_source: Option<crate::reload::Source>,
}

/// Run the gateway until `shutdown` is cancelled and the drain completes (or its deadline
/// passes). `on_ready` is called with the bound address once the catalog is loaded.
pub async fn run(
    config: Config,
    services: Services<'_>,
    listener: TcpListener,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(&Running),
) -> Result<(), StartError> {
    let Services {
        stores,
        clock,
        self_exe,
        env,
        log_lines_dropped,
        admin_listener,
        config_source,
    } = services;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    let tls = match config
        .server
        .tls
        .clone()
        .map(crate::ingress::tls::Certificates::new)
    {
        None => None,
        Some(Ok(c)) => Some(Arc::new(c)),
        Some(Err(e)) => {
            stores.lifecycle.close().await;
            return Err(StartError::Identity(format!("server.tls: {e}")));
        }
    };
    let ups = match start_upstreams(&config, &self_exe, env) {
        Ok(u) => u,
        Err(e) => {
            stores.lifecycle.close().await;
            return Err(e);
        }
    };
    let grace = config.server.shutdown_grace;
    let mut state = AppState::new(config, stores, ups, clock);
    state.log_lines_dropped = log_lines_dropped;
    state.config_source = config_source;
    if let Some(actors) = &state.actors
        && let Err(e) = actors.resolve_secrets(env)
    {
        stop(&state).await;
        return Err(StartError::Identity(e));
    }
    let st = Arc::new(state);
    // The kill switches are known before anything is served.
    let kill_from_env = env("PORTCULLIS_KILL_SWITCH").is_some_and(|v| v == "1");
    let known = async {
        if kill_from_env {
            controls::engage_from_env(&st).await?;
        }
        st.controls.refresh(&st).await
    };
    if let Err(e) = known.await {
        stop(&st).await;
        return Err(StartError::Controls(e));
    }
    if let Some(tokens) = st.tokens.clone() {
        // Fetched in the background: a slow issuer does not hold the start.
        tokio::spawn(async move { tokens.load_all().await });
    }
    let mut watchers = notify::spawn(&st, &shutdown);
    if let Some(certs) = &tls {
        watchers.push(tokio::spawn(certs.clone().watch(shutdown.clone())));
    }
    watchers.push(tokio::spawn(controls::watch(st.clone(), shutdown.clone())));
    let drained = CancellationToken::new();
    let signer = match checkpointer::start(st.clone(), drained.clone()) {
        Ok(h) => h,
        Err(e) => {
            watchers.iter().for_each(|w| w.abort());
            stop(&st).await;
            return Err(StartError::Signing(e));
        }
    };
    watchers.push(tokio::spawn(sweep(st.clone(), shutdown.clone())));

    // Serve at once: /health and /ready answer while the upstreams start, and each upstream's
    // tools are callable as soon as it is listed.
    let app = router(st.clone());
    let s = &st.config.server;
    let limits = connections::Limits {
        max_connections: s.max_connections,
        max_per_client: s.max_connections_per_client,
        header_read_timeout: s.header_read_timeout,
    };
    let st_flag = st.clone();
    let flag = shutdown.clone();
    tokio::spawn(async move {
        flag.cancelled().await;
        st_flag.shutting_down.store(true, Ordering::Relaxed);
        tracing::info!("shutdown requested; draining in-flight calls");
    });
    let server = tokio::spawn(connections::serve(
        listener,
        app,
        limits,
        st.metrics.connections_refused.clone(),
        tls.clone(),
        shutdown.clone(),
    ));

    let admin_addr = match admin_listener {
        Some(l) => {
            let addr = l.local_addr().map_err(StartError::Serve)?;
            let admin_limits = connections::Limits {
                max_connections: ADMIN_MAX_CONNECTIONS,
                max_per_client: ADMIN_MAX_CONNECTIONS,
                header_read_timeout: s.header_read_timeout,
            };
            watchers.push(tokio::spawn(connections::serve(
                l,
                crate::admin::router(st.clone()),
                admin_limits,
                st.metrics.connections_refused.clone(),
                tls.clone(),
                shutdown.clone(),
            )));
            Some(addr)
        }
        None => None,
    };
    if st.config_source.is_some() {
        watchers.push(tokio::spawn(reload_on_hangup(st.clone(), shutdown.clone())));
    }

    let missing = match list_upstreams_at_start(&st, &shutdown).await {
        Ok(missing) => missing,
        Err(e) => {
            shutdown.cancel();
            server.abort();
            signer.abort();
            watchers.iter().for_each(|w| w.abort());
            stop(&st).await;
            return Err(e);
        }
    };
    let catalog = st.catalog();
    tracing::info!(
        tools = catalog.len(),
        catalog_hash = catalog.hash(),
        missing = ?missing,
        "catalog loaded"
    );
    let refresher = (!missing.is_empty())
        .then(|| tokio::spawn(refresh_until_complete(st.clone(), shutdown.clone())));

    on_ready(&Running {
        state: st.clone(),
        addr,
        admin_addr,
    });
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    let result = tokio::select! {
        r = server => r.map_err(|e| StartError::Serve(std::io::Error::other(e))),
        _ = deadline => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "drain deadline passed; in-flight calls are cut off");
            Ok(())
        }
    };
    if let Some(r) = refresher {
        r.abort();
    }
    for w in watchers {
        w.abort();
    }
    // The last checkpoint covers everything recorded, so even a short run can be exported.
    drained.cancel();
    if tokio::time::timeout(FINAL_CHECKPOINT_WAIT, signer)
        .await
        .is_err()
    {
        tracing::warn!("the last checkpoint was not signed in time");
    }
    stop(&st).await;
    result
}

/// Most connections the admin listener holds at once.
const ADMIN_MAX_CONNECTIONS: usize = 64;

/// Read the config file again on every SIGHUP, until `shutdown`.
async fn reload_on_hangup(st: Arc<AppState>, shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "SIGHUP cannot be caught; reload through the admin API");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = hup.recv() => if got.is_none() { return },
            }
            // The outcome is logged, counted and kept for /api/status either way.
            let _ = crate::reload::reload(&st, "signal:SIGHUP").await;
        }
    }
    #[cfg(not(unix))]
    {
        shutdown.cancelled().await;
        let _ = st;
    }
}

/// How long stopping waits for the last checkpoint to be signed.
const FINAL_CHECKPOINT_WAIT: Duration = Duration::from_secs(10);

/// List each upstream as soon as it is ready, for up to `server.startup_wait`. Returns the upstreams
/// still missing then (they join the catalog when they come up). Two upstreams offering the
/// same name at start is a configuration error: start-up fails.
async fn list_upstreams_at_start(
    st: &Arc<AppState>,
    shutdown: &CancellationToken,
) -> Result<Vec<String>, StartError> {
    let wait = st.config.server.startup_wait;
    let mut pending = tokio::task::JoinSet::new();
    for u in st.upstreams.clone() {
        let namespace = st.namespace(u.name()).to_string();
        pending.spawn(async move {
            if let Err(e) = u.wait_ready(wait).await {
                tracing::warn!(upstream = u.name(), error = %e, "upstream not ready at start");
                return None;
            }
            match fetch_listing(&u, &namespace).await {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!(upstream = u.name(), error = %e, "listing failed; its tools are not exposed");
                    None
                }
            }
        });
    }
    loop {
        let next = tokio::select! {
            n = pending.join_next() => n,
            _ = shutdown.cancelled() => break,
        };
        match next {
            None => break,
            Some(Ok(Some(listing))) => st
                .update_listings(vec![listing])
                .map_err(|e| StartError::Catalog(e.to_string()))?,
            Some(_) => {}
        }
    }
    Ok(st.unlisted_upstreams())
}

async fn stop(st: &AppState) {
    st.stores.lifecycle.close().await;
    futures::future::join_all(st.upstreams.iter().map(|u| u.shutdown())).await;
    tracing::info!("stopped");
}

/// Every half minute: forget idle sessions, and close the upstream sessions of the ones that
/// ended.
/// Every 30 s: drop idle sessions, and forget expired replay reservations (idempotency keys,
/// duplicate-call windows, nonces).
async fn sweep(st: Arc<AppState>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        st.sessions.sweep(st.clock.instant());
        for id in st.sessions.take_gone() {
            st.release_session(&id);
        }
        st.metrics.sessions.set(st.sessions.len() as i64);
        if let Err(e) = st.stores.replay.purge_expired(st.clock.now_ms()).await {
            tracing::warn!(error = %e, "expired replay reservations could not be purged");
        }
    }
}

/// List again every few seconds until every upstream's items are in the catalog.
async fn refresh_until_complete(st: Arc<AppState>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let (listings, missing) =
            fetch_listings(&st.upstreams, |name| st.namespace(name).to_string()).await;
        match st.update_listings(listings) {
            Ok(()) if missing.is_empty() => {
                tracing::info!("every upstream is in the catalog");
                return;
            }
            Ok(()) => {}
            Err(e) => tracing::error!(error = %e, "catalog reload refused"),
        }
    }
}
