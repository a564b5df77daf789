//! Shared state of a running gateway, built once at start from the validated config.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use portcullis_clock::SharedClock;
use portcullis_control::Config;
use portcullis_policy::{Engines, Policy, PolicyEngine};
use portcullis_store::Stores;
use portcullis_upstream::Upstream;

use crate::audit::Redactor;
use crate::controls::Controls;
use crate::federation::{Catalog, CatalogError, Listing};
use crate::identity::Identity;
use crate::listen::Listeners;
use crate::metrics::Metrics;
use crate::pipeline::{Detached, Pipeline, stages};
use crate::relay::mrtr::ParkingLot;
use crate::session::{OutboxLimits, Sessions};

/// How long a call waits for a modern client's input before it is cancelled.
const PARK_TTL: Duration = Duration::from_secs(300);
/// Most calls waiting for input at once.
const PARK_MAX: usize = 10_000;

/// What a reload replaces (`crate::reload`): the role engine's data and the policy engines
/// built from it. A governed request takes the one in force when it starts and keeps it to
/// its end, so a reload never changes the rules under a call in flight.
pub struct Live {
    /// The role engine's data in force (mode, roles, class rules): the file's, with the grants.
    pub policy: Policy,
    /// The policy as the config file says it.
    pub file_policy: Policy,
    /// The grants made through the admin API, `(role, pattern)`, as last read from the store.
    pub grants: Vec<(String, String)>,
    /// Grants that changed nothing: their role is not in the file, or their glob is bad.
    pub unused_grants: Vec<(String, String)>,
    /// Every policy engine a governed request must satisfy.
    pub engines: Engines,
    /// Lower-case hex SHA-256 of the config file the policy was read from.
    pub config_hash: String,
    /// 0 at start, one more with each reload applied.
    pub generation: u64,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("config_hash", &self.config_hash)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Live {
    /// The config file's policy with `grants` added to its roles.
    pub fn new(
        file_policy: Policy,
        grants: Vec<(String, String)>,
        config_hash: String,
        generation: u64,
    ) -> Live {
        let (policy, unused_grants) = file_policy.with_grants(&grants);
        let roles: Arc<dyn PolicyEngine> = Arc::new(policy.clone());
        Live {
            policy,
            file_policy,
            grants,
            unused_grants,
            engines: Engines::new(vec![roles]),
            config_hash,
            generation,
        }
    }
}

/// A number read when asked (a counter kept elsewhere).
pub type Reading = Arc<dyn Fn() -> u64 + Send + Sync>;

pub struct AppState {
    /// The config the gateway started with; what a reload changes is in [`AppState::live`].
    pub config: Config,
    /// The policy in force.
    live: arc_swap::ArcSwap<Live>,
    /// Held by whoever replaces [`AppState::live`] (a reload, new grants), so that neither
    /// loses the other's change.
    pub live_writer: tokio::sync::Mutex<()>,
    /// Where the config was read from, for reloads (`None`: built in, as the quickstart's).
    pub config_source: Option<crate::reload::Source>,
    /// The last reload's outcome, for `/api/status` and the admin API.
    pub last_reload: Mutex<Option<crate::reload::Outcome>>,
    /// The stages every governed request goes through.
    pub pipeline: Pipeline,
    /// The credential kinds accepted.
    pub identity: Identity,
    /// The token authenticator, when the config trusts token issuers (for `/ready` and the
    /// RFC 9728 metadata).
    pub tokens: Option<Arc<crate::identity::Tokens>>,
    /// The signed-request authenticator, when the config has actor keys (its HMAC secrets
    /// are read at start).
    pub actors: Option<Arc<crate::identity::SignedActors>>,
    /// Which client certificates name which actors, when the config maps any.
    pub cert_actors: Option<crate::identity::CertActors>,
    pub clock: SharedClock,
    pub stores: Stores,
    pub upstreams: Vec<Upstream>,
    pub catalog: RwLock<Arc<Catalog>>,
    /// The kill switches engaged, as last read from the control store.
    pub controls: Controls,
    /// The concurrency slots of capped tools.
    pub tool_slots: crate::pipeline::stages::ToolSlots,
    /// Each tool's circuit breaker.
    pub circuits: crate::pipeline::stages::Circuits,
    /// MCP requests being handled now (`server.max_in_flight` bounds it).
    pub in_flight: std::sync::atomic::AtomicUsize,
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
    /// Log lines the log writer dropped so far, and the part of it already counted in metrics.
    pub log_lines_dropped: Option<Reading>,
    log_lines_counted: AtomicUsize,
    /// The last readiness probe of the store: when, and whether it could be written.
    pub store_probe: Mutex<Option<(std::time::Instant, bool)>>,
    /// Identity refusals not recorded (over the rate) since the last recorded one.
    pub refusals_unrecorded: std::sync::atomic::AtomicU64,
    pub started: std::time::Instant,
    /// Rank of the lowest log level requested from the upstreams so far.
    upstream_log_rank: AtomicUsize,
    /// How many subscribers each resource URI has (sessions and listen streams).
    watched: Mutex<HashMap<String, usize>>,
}

impl AppState {
    pub fn new(
        config: Config,
        stores: Stores,
        upstreams: Vec<Upstream>,
        clock: SharedClock,
    ) -> AppState {
        let redactor = Redactor::new(config.audit.redact.clone(), config.audit.preview_bytes);
        let sessions = Sessions::new(
            config.server.session_idle_timeout,
            config.server.max_sessions,
            config.server.max_sessions_per_principal,
            OutboxLimits::default(),
        );
        let tokens = crate::identity::Tokens::from_config(&config, clock.clone()).map(Arc::new);
        let actors = crate::identity::SignedActors::from_config(&config, stores.replay.clone())
            .map(Arc::new);
        let identity = if config.server.conformance_profile {
            Identity::conformance()
        } else {
            Identity::standard(
                stores.keys.clone(),
                config.identity.api_keys,
                tokens.clone(),
                actors.clone(),
            )
        };
        AppState {
            live: arc_swap::ArcSwap::from_pointee(Live::new(
                config.policy.clone(),
                Vec::new(),
                config.hash.clone(),
                0,
            )),
            live_writer: tokio::sync::Mutex::new(()),
            config_source: None,
            last_reload: Mutex::new(None),
            pipeline: Pipeline::new(stages::standard()),
            identity,
            tokens,
            actors,
            cert_actors: crate::identity::CertActors::from_config(&config),
            started: clock.instant(),
            clock,
            config,
            stores,
            upstreams,
            catalog: RwLock::new(Arc::new(Catalog::default())),
            controls: Controls::new(),
            tool_slots: Default::default(),
            in_flight: AtomicUsize::new(0),
            circuits: Default::default(),
            listings: Mutex::new(BTreeMap::new()),
            catalog_error: Mutex::new(None),
            sessions,
            listeners: Listeners::default(),
            parked: ParkingLot::new(PARK_TTL, PARK_MAX),
            redactor,
            metrics: Metrics::new(),
            shutting_down: AtomicBool::new(false),
            refusals_unrecorded: std::sync::atomic::AtomicU64::new(0),
            store_probe: Mutex::new(None),
            log_lines_dropped: None,
            log_lines_counted: AtomicUsize::new(0),
            upstream_log_rank: AtomicUsize::new(usize::MAX),
            watched: Mutex::new(HashMap::new()),
        }
    }

    /// The policy in force now.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Put `live` in force for every request that starts from now on.
    pub fn set_live(&self, live: Live) {
        self.live.store(Arc::new(live));
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
        let built = Catalog::build_reserving(&all, &self.live().policy, &self.namespaces());
        let mut err = self.catalog_error.lock().unwrap_or_else(|p| p.into_inner());
        match built {
            Ok(mut catalog) => {
                for tool in catalog.keep_stricter_classes(&self.catalog()) {
                    tracing::warn!(tool = %tool, "an upstream announced a looser class for a tool; its stricter class is kept");
                }
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

    /// The configured upstreams whose items are not in the catalog (not listed yet, or their
    /// listing failed).
    pub fn unlisted_upstreams(&self) -> Vec<String> {
        let listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        self.upstreams
            .iter()
            .map(|u| u.name().to_string())
            .filter(|n| !listings.contains_key(n))
            .collect()
    }

    /// The unlisted upstream whose namespace `name` falls in, if any: what a call naming one of
    /// its tools is refused for.
    pub fn unlisted_upstream_for(&self, name: &str) -> Option<String> {
        let unlisted = self.unlisted_upstreams();
        self.config
            .upstreams
            .iter()
            .filter(|u| unlisted.contains(&u.name) && !u.namespace.is_empty())
            .find(|u| {
                name.strip_prefix(u.namespace.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
            })
            .map(|u| u.name.clone())
    }

    /// Every configured namespace (an upstream's, listed yet or not).
    pub fn namespaces(&self) -> Vec<String> {
        self.config
            .upstreams
            .iter()
            .map(|u| u.namespace.clone())
            .filter(|n| !n.is_empty())
            .collect()
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

    /// Lines the log writer dropped since the last call (for the metrics counter).
    pub fn newly_dropped_log_lines(&self) -> u64 {
        let Some(read) = &self.log_lines_dropped else {
            return 0;
        };
        let now = read() as usize;
        let before = self.log_lines_counted.swap(now, Ordering::SeqCst);
        now.saturating_sub(before) as u64
    }

    /// Whether `rank` is lower than any log level asked of the upstreams so far.
    pub fn would_lower_log_level(&self, rank: usize) -> bool {
        rank < self.upstream_log_rank.load(Ordering::SeqCst)
    }

    /// A client wants log messages from `rank` up on the upstreams' shared sessions: if no
    /// client wanted that low a level before, every upstream that logs must be asked for it
    /// (the gateway filters per client). Returns those sends.
    pub fn lower_upstream_log_level(&self, rank: usize) -> Vec<Detached> {
        let previous = self.upstream_log_rank.fetch_min(rank, Ordering::SeqCst);
        if rank >= previous {
            return Vec::new();
        }
        self.upstreams
            .iter()
            .filter(|u| u.offers("logging"))
            .map(|u| Detached {
                upstream: u.clone(),
                owner: None,
            })
            .collect()
    }

    /// A legacy session chose a log level: upstreams that give it its own session hear it
    /// there; the shared sessions of the others are lowered if need be. Returns those sends.
    pub fn session_log_level_sends(
        &self,
        session: &crate::session::Session,
        rank: usize,
    ) -> Vec<Detached> {
        let owner: Arc<str> = Arc::from(session.id.as_str());
        let logging = || self.upstreams.iter().filter(|u| u.offers("logging"));
        let mut sends: Vec<Detached> = logging()
            .filter(|u| u.supports_affinity())
            .map(|u| Detached {
                upstream: u.clone(),
                owner: Some(owner.clone()),
            })
            .collect();
        if logging().any(|u| !u.supports_affinity()) {
            sends.extend(self.lower_upstream_log_level(rank));
        }
        sends
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
