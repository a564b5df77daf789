//! Shared state of a running gateway, built once at start from the validated config.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_control::Config;
use portcullis_policy::Policy;
use portcullis_protocol::mcp;
use portcullis_store::Stores;
use portcullis_upstream::Upstream;
use serde_json::json;

use crate::audit::Redactor;
use crate::federation::{Catalog, CatalogError, Listing};
use crate::listen::Listeners;
use crate::metrics::Metrics;
use crate::relay::mrtr::ParkingLot;
use crate::session::{OutboxLimits, Sessions};

/// How long a call waits for a modern client's input before it is cancelled.
const PARK_TTL: Duration = Duration::from_secs(300);
/// Most calls waiting for input at once.
const PARK_MAX: usize = 10_000;

pub struct AppState {
    pub config: Config,
    pub policy: Policy,
    pub stores: Stores,
    pub upstreams: Vec<Upstream>,
    pub catalog: RwLock<Arc<Catalog>>,
    /// Each upstream's last listing, from which the catalog is rebuilt.
    listings: Mutex<BTreeMap<String, Listing>>,
    /// Why the last catalog rebuild was refused, if it was (the previous catalog stays).
    pub catalog_error: Mutex<Option<String>>,
    pub sessions: Sessions,
    pub listeners: Listeners,
    pub parked: ParkingLot,
    pub redactor: Redactor,
    pub metrics: Metrics,
    pub shutting_down: AtomicBool,
    pub started: std::time::Instant,
    /// Rank of the lowest log level requested from the upstreams so far.
    upstream_log_rank: AtomicUsize,
    /// How many subscribers each resource URI has (sessions and listen streams).
    watched: Mutex<HashMap<String, usize>>,
}

impl AppState {
    pub fn new(config: Config, stores: Stores, upstreams: Vec<Upstream>) -> AppState {
        let redactor = Redactor::new(config.audit.redact.clone(), config.audit.preview_bytes);
        let sessions = Sessions::new(
            config.server.session_idle_timeout,
            config.server.max_sessions,
            OutboxLimits::default(),
        );
        AppState {
            policy: config.policy.clone(),
            config,
            stores,
            upstreams,
            catalog: RwLock::new(Arc::new(Catalog::default())),
            listings: Mutex::new(BTreeMap::new()),
            catalog_error: Mutex::new(None),
            sessions,
            listeners: Listeners::default(),
            parked: ParkingLot::new(PARK_TTL, PARK_MAX),
            redactor,
            metrics: Metrics::new(),
            shutting_down: AtomicBool::new(false),
            started: std::time::Instant::now(),
            upstream_log_rank: AtomicUsize::new(usize::MAX),
            watched: Mutex::new(HashMap::new()),
        }
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_catalog(&self, c: Catalog) {
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(c);
    }

    /// Replace some upstreams' listings and rebuild the catalog. A rebuild that would shadow
    /// or collide is refused: the previous catalog stays, and the error is reported.
    pub fn update_listings(&self, fresh: Vec<Listing>) -> Result<(), CatalogError> {
        let mut listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = listings.clone();
        for l in fresh {
            next.insert(l.upstream.clone(), l);
        }
        let all: Vec<Listing> = next.values().cloned().collect();
        let built = Catalog::build(&all, &self.policy);
        let mut err = self.catalog_error.lock().unwrap_or_else(|p| p.into_inner());
        match built {
            Ok(catalog) => {
                *listings = next;
                self.set_catalog(catalog);
                *err = None;
                Ok(())
            }
            Err(e) => {
                *err = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// The namespace of upstream `name` (its tools and prompts are `namespace.name`).
    pub fn namespace<'a>(&'a self, upstream: &'a str) -> &'a str {
        self.config
            .upstreams
            .iter()
            .find(|u| u.name == upstream)
            .map(|u| u.namespace.as_str())
            .unwrap_or(upstream)
    }

    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.name() == name)
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// A client wants log messages from `rank` up on the upstreams' shared sessions: if no
    /// client wanted that low a level before, ask every upstream that logs for it (the gateway
    /// filters per client).
    pub fn lower_upstream_log_level(&self, rank: usize) {
        let previous = self.upstream_log_rank.fetch_min(rank, Ordering::SeqCst);
        if rank >= previous {
            return;
        }
        let level = mcp::LOG_LEVELS[rank];
        for u in self.upstreams.iter().filter(|u| u.offers("logging")) {
            let u = u.clone();
            tokio::spawn(async move {
                if let Err(e) = u
                    .request("logging/setLevel", Some(json!({"level": level})))
                    .await
                {
                    tracing::warn!(upstream = u.name(), error = %e, "logging/setLevel failed");
                }
            });
        }
    }

    /// A legacy session chose a log level: upstreams that give it its own session hear it
    /// there; the shared sessions of the others are lowered if need be.
    pub fn set_session_log_level(&self, session: &crate::session::Session, rank: usize) {
        let level = mcp::LOG_LEVELS[rank];
        let owner: Arc<str> = Arc::from(session.id.as_str());
        let mut shared = false;
        for u in self.upstreams.iter().filter(|u| u.offers("logging")) {
            if !u.supports_affinity() {
                shared = true;
                continue;
            }
            let (u, owner) = (u.clone(), owner.clone());
            tokio::spawn(async move {
                let opts = portcullis_upstream::CallOptions {
                    owner: Some(owner),
                    affinity: true,
                    ..Default::default()
                };
                if let Err(e) = u
                    .call("logging/setLevel", Some(json!({"level": level})), opts)
                    .await
                {
                    tracing::warn!(upstream = u.name(), error = %e, "logging/setLevel failed");
                }
            });
        }
        if shared {
            self.lower_upstream_log_level(rank);
        }
    }

    /// A legacy session ended: close the upstream sessions it had.
    pub fn release_session(&self, id: &str) {
        for u in &self.upstreams {
            u.release(id);
        }
    }

    /// Count a subscriber of `uri` in or out. True when the upstream must be told: the first
    /// subscriber came, or the last one left.
    pub fn resource_watch(&self, uri: &str, add: bool) -> bool {
        let mut w = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        if add {
            let n = w.entry(uri.to_string()).or_insert(0);
            *n += 1;
            *n == 1
        } else {
            match w.get_mut(uri) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    w.remove(uri);
                    true
                }
                None => false,
            }
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
