//! Metrics in the OpenMetrics text format at `/metrics` (unless `server.metrics = false`).
//! Labels come from the config and the catalog, never from what a client sends: a tool label
//! is a catalog name, or `-` for a request that named nothing the catalog has.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub decision: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub upstream: String,
}

/// Where a governed request went: its method, the upstream and the catalog tool (`-` when
/// there is none).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub method: String,
    pub upstream: String,
    pub tool: String,
}

/// A governed request's decision (or outcome) and code, by target.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetResultLabels {
    pub method: String,
    pub upstream: String,
    pub tool: String,
    pub result: String,
    pub code: String,
}

/// One circuit breaker: `tool:<name>` or `upstream:<name>`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BreakerLabels {
    pub scope: String,
}

/// The content type of the OpenMetrics text `encode` writes.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<MethodLabels, Counter>,
    pub http_errors: Family<DecisionLabels, Counter>,
    pub tool_calls: Family<DecisionLabels, Counter>,
    pub call_seconds: Histogram,
    pub decisions: Family<TargetResultLabels, Counter>,
    pub outcomes: Family<TargetResultLabels, Counter>,
    pub target_seconds: Family<TargetLabels, Histogram, fn() -> Histogram>,
    pub upstream_up: Family<UpstreamLabels, Gauge>,
    pub upstream_restarts: Family<UpstreamLabels, Gauge>,
    pub ledger_size: Gauge,
    pub sessions: Gauge,
    pub audit_failures: Counter,
    pub refusals_unrecorded: Counter,
    pub log_lines_dropped: Counter,
    pub connections_refused: Counter,
    pub requests_shed: Counter,
    pub checkpoint_size: Gauge,
    pub checkpoint_failures: Counter,
    pub breaker_state: Family<BreakerLabels, Gauge>,
    pub reloads: Counter,
    pub reload_failures: Counter,
    /// 1 while the config file on disk is one the gateway refused to load.
    pub config_invalid: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("portcullis");
        let m = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            http_errors: Family::default(),
            tool_calls: Family::default(),
            call_seconds: duration_histogram(),
            decisions: Family::default(),
            outcomes: Family::default(),
            target_seconds: Family::new_with_constructor(duration_histogram),
            upstream_up: Family::default(),
            upstream_restarts: Family::default(),
            ledger_size: Gauge::default(),
            sessions: Gauge::default(),
            audit_failures: Counter::default(),
            refusals_unrecorded: Counter::default(),
            log_lines_dropped: Counter::default(),
            connections_refused: Counter::default(),
            requests_shed: Counter::default(),
            checkpoint_size: Gauge::default(),
            checkpoint_failures: Counter::default(),
            reloads: Counter::default(),
            reload_failures: Counter::default(),
            config_invalid: Gauge::default(),
            breaker_state: Family::default(),
        };
        registry.register(
            "breaker_state",
            "Circuit breakers that have left the closed state: 0 closed, 1 half-open, 2 open",
            m.breaker_state.clone(),
        );
        registry.register(
            "jsonrpc_requests",
            "JSON-RPC requests by method",
            m.requests.clone(),
        );
        registry.register(
            "http_errors",
            "Requests refused before JSON-RPC dispatch, by code",
            m.http_errors.clone(),
        );
        registry.register(
            "tool_calls",
            "tools/call decisions and outcomes",
            m.tool_calls.clone(),
        );
        registry.register(
            "tool_call_duration_seconds",
            "tools/call wall time, receipt to response",
            m.call_seconds.clone(),
        );
        registry.register(
            "governed_decisions",
            "Decisions on governed requests (result = allow, deny, dry_run, pending_approval), by method, upstream and tool",
            m.decisions.clone(),
        );
        registry.register(
            "governed_outcomes",
            "Outcomes of allowed governed requests (result = outcome; code ok, tool_error or an error code), by method, upstream and tool",
            m.outcomes.clone(),
        );
        registry.register(
            "governed_duration_seconds",
            "Wall time of allowed governed requests, receipt to outcome, by method, upstream and tool",
            m.target_seconds.clone(),
        );
        registry.register(
            "upstream_up",
            "1 when the upstream is ready",
            m.upstream_up.clone(),
        );
        registry.register(
            "upstream_restarts",
            "Restarts of the upstream since start",
            m.upstream_restarts.clone(),
        );
        registry.register(
            "ledger_records",
            "Records in the ledger",
            m.ledger_size.clone(),
        );
        registry.register("sessions", "Open MCP sessions", m.sessions.clone());
        registry.register(
            "audit_failures",
            "Ledger appends that failed (calls refused)",
            m.audit_failures.clone(),
        );
        registry.register(
            "refusals_unrecorded",
            "Identity refusals not recorded in the ledger because they came faster than the refusal rate limit",
            m.refusals_unrecorded.clone(),
        );
        registry.register(
            "requests_shed",
            "MCP requests refused with 503 overloaded because server.max_in_flight were being handled",
            m.requests_shed.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed at once: over server.max_connections, or over server.max_connections_per_client from one address",
            m.connections_refused.clone(),
        );
        registry.register(
            "log_lines_dropped",
            "Log lines dropped because stderr did not keep up (the gateway never waits for it)",
            m.log_lines_dropped.clone(),
        );
        registry.register(
            "ledger_checkpoint_records",
            "Records covered by the latest signed checkpoint",
            m.checkpoint_size.clone(),
        );
        registry.register(
            "ledger_checkpoint_failures",
            "Checkpoints not signed (store error, or a ledger that does not extend the last checkpoint)",
            m.checkpoint_failures.clone(),
        );
        registry.register(
            "config_reloads",
            "Config reloads applied",
            m.reloads.clone(),
        );
        registry.register(
            "config_reload_failures",
            "Config reloads refused (the last good config kept serving)",
            m.reload_failures.clone(),
        );
        registry.register(
            "config_invalid",
            "1 if the last reload found the config file invalid, else 0",
            m.config_invalid.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
