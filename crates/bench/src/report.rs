//! Results: per-level comparison, memory, targets met or missed; as text and as JSON.

use std::fmt::Write as _;

use anyhow::bail;
use serde::Serialize;
use serde_json::json;

use crate::Args;
use crate::load::{Summary, Tally};
use crate::procs::Memory;

/// One concurrency level: direct vs gateway.
#[derive(Debug, Serialize)]
pub struct Level {
    pub clients: usize,
    pub direct: Summary,
    pub gateway: Summary,
    /// Gateway throughput divided by direct throughput.
    pub throughput_ratio: f64,
    /// Gateway minus direct latency, per percentile, ms.
    pub added_p50_ms: f64,
    pub added_p90_ms: f64,
    pub added_p99_ms: f64,
    pub added_max_ms: f64,
    /// Ledger records appended (durably) during the gateway rounds, and per second of them.
    pub ledger_appends: u64,
    pub ledger_appends_per_s: f64,
    /// CPU time per call (user + system, all threads, µs): the gateway in the gateway rounds,
    /// the upstream in the direct rounds and in the gateway rounds.
    pub gateway_cpu_us_per_call: f64,
    pub upstream_cpu_us_per_call_direct: f64,
    pub upstream_cpu_us_per_call_via_gateway: f64,
    /// Failed calls during warm-up (not otherwise measured).
    pub warmup_errors: u64,
    #[serde(skip)]
    first_error: Option<String>,
}

impl Level {
    pub fn new(
        clients: usize,
        warm: &Tally,
        direct: &Tally,
        gateway: &Tally,
        counters: &Counters,
    ) -> Level {
        let (d, g) = (direct.summary(), gateway.summary());
        let per_call = |secs: f64, calls: u64| {
            if calls > 0 {
                secs * 1e6 / calls as f64
            } else {
                0.0
            }
        };
        let ledger_appends = counters.ledger_appends;
        Level {
            clients,
            throughput_ratio: if d.calls_per_s > 0.0 {
                g.calls_per_s / d.calls_per_s
            } else {
                0.0
            },
            added_p50_ms: g.p50_ms - d.p50_ms,
            added_p90_ms: g.p90_ms - d.p90_ms,
            added_p99_ms: g.p99_ms - d.p99_ms,
            added_max_ms: g.max_ms - d.max_ms,
            ledger_appends,
            ledger_appends_per_s: if g.seconds > 0.0 {
                ledger_appends as f64 / g.seconds
            } else {
                0.0
            },
            gateway_cpu_us_per_call: per_call(counters.gateway_cpu_s, g.calls),
            upstream_cpu_us_per_call_direct: per_call(counters.upstream_cpu_direct_s, d.calls),
            upstream_cpu_us_per_call_via_gateway: per_call(
                counters.upstream_cpu_gateway_s,
                g.calls,
            ),
            warmup_errors: warm.errors,
            first_error: [warm, direct, gateway]
                .iter()
                .find_map(|t| t.first_error.clone()),
            direct: d,
            gateway: g,
        }
    }

    pub fn errors(&self) -> u64 {
        self.warmup_errors + self.direct.errors + self.gateway.errors
    }

    /// A one-line progress note.
    pub fn line(&self) -> String {
        format!(
            "clients {:>3}: direct {:>8.0}/s p50 {:.3} ms | gateway {:>8.0}/s p50 {:.3} ms | ratio {:.2} | added p50 {:.3} p99 {:.3} ms | ledger {:.0}/s | errors {}",
            self.clients,
            self.direct.calls_per_s,
            self.direct.p50_ms,
            self.gateway.calls_per_s,
            self.gateway.p50_ms,
            self.throughput_ratio,
            self.added_p50_ms,
            self.added_p99_ms,
            self.ledger_appends_per_s,
            self.errors()
        )
    }
}

/// What the harness read from the processes around the measured rounds of one level.
#[derive(Debug, Default)]
pub struct Counters {
    /// Ledger records appended during the gateway rounds.
    pub ledger_appends: u64,
    /// CPU seconds of the gateway in the gateway rounds.
    pub gateway_cpu_s: f64,
    /// CPU seconds of the upstream in the direct rounds, and in the gateway rounds.
    pub upstream_cpu_direct_s: f64,
    pub upstream_cpu_gateway_s: f64,
}

#[derive(Debug, Serialize)]
pub struct MemoryReport {
    /// After start and `/ready`, before any session.
    pub idle: Memory,
    /// After every load level (`hwm_kib` is the peak so far).
    pub after_load: Memory,
    /// Sessions the gateway reported open for the last reading.
    pub sessions_open: u64,
    /// With `sessions_open` sessions initialised and kept.
    pub with_sessions: Memory,
}

/// What the run's numbers sat on.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpus: usize,
    /// `/proc/loadavg` at the end of the run (other work on a shared machine shows here).
    pub loadavg: String,
    /// Whether this harness was built with debug assertions (a debug build).
    pub debug_build: bool,
}

impl Machine {
    pub fn read() -> Machine {
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            loadavg: std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
                .to_string(),
            debug_build: cfg!(debug_assertions),
        }
    }
}

/// One target of the feature request, with what this run measured.
#[derive(Debug, Serialize)]
pub struct Target {
    pub target: &'static str,
    pub measured: Option<String>,
    pub met: Option<bool>,
}

pub struct Report {
    pub args: Args,
    pub machine: Machine,
    pub levels: Vec<Level>,
    pub memory: MemoryReport,
    pub elapsed_s: f64,
}

const MIB: f64 = 1024.0;

impl Report {
    pub fn failed_calls(&self) -> u64 {
        self.levels.iter().map(Level::errors).sum()
    }

    pub fn first_error(&self) -> Option<&str> {
        self.levels.iter().find_map(|l| l.first_error.as_deref())
    }

    /// Every allowed call writes its decision record before forwarding: the ledger must have
    /// grown by at least one record per successful gateway call.
    pub fn check_ledger(&self) -> anyhow::Result<()> {
        for l in &self.levels {
            let ok_calls = l.gateway.calls - l.gateway.errors;
            if l.ledger_appends < ok_calls {
                bail!(
                    "at {} clients the ledger grew by {} records for {ok_calls} gateway calls",
                    l.clients,
                    l.ledger_appends
                );
            }
        }
        Ok(())
    }

    fn level(&self, clients: usize) -> Option<&Level> {
        self.levels.iter().find(|l| l.clients == clients)
    }

    pub fn targets(&self) -> Vec<Target> {
        let at8 = self.level(8);
        let at64 = self.level(64);
        let t = |target, measured: Option<f64>, unit: &str, limit: f64, at_most: bool| Target {
            target,
            measured: measured.map(|m| format!("{m:.3}{unit}")),
            met: measured.map(|m| if at_most { m <= limit } else { m >= limit }),
        };
        let mem = &self.memory;
        let with_n = (mem.sessions_open >= 1000).then(|| mem.with_sessions.rss_kib as f64 / MIB);
        vec![
            t(
                "added p50 <= 0.25 ms at 8 clients",
                at8.map(|l| l.added_p50_ms),
                " ms",
                0.25,
                true,
            ),
            t(
                "added p99 <= 1 ms at 8 clients",
                at8.map(|l| l.added_p99_ms),
                " ms",
                1.0,
                true,
            ),
            t(
                "gateway throughput >= 60% of direct at 64 clients",
                at64.map(|l| l.throughput_ratio * 100.0),
                " %",
                60.0,
                false,
            ),
            t(
                "RSS <= 40 MiB idle",
                Some(mem.idle.rss_kib as f64 / MIB),
                " MiB",
                40.0,
                true,
            ),
            t(
                "RSS <= 128 MiB with 1,000 sessions",
                with_n,
                " MiB",
                128.0,
                true,
            ),
        ]
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n{:>7} | {:>9} {:>9} {:>6} | {:>21} | {:>21} | {:>21} | {:>21} | {:>9}",
            "clients",
            "direct/s",
            "gw/s",
            "ratio",
            "p50 d / gw / +",
            "p90 d / gw / +",
            "p99 d / gw / +",
            "max d / gw / +",
            "ledger/s"
        );
        for l in &self.levels {
            let (d, g) = (&l.direct, &l.gateway);
            let pct = |a: f64, b: f64, add: f64| format!("{a:.3} / {b:.3} / {add:+.3}");
            let _ = writeln!(
                s,
                "{:>7} | {:>9.0} {:>9.0} {:>6.2} | {:>21} | {:>21} | {:>21} | {:>21} | {:>9.0}",
                l.clients,
                d.calls_per_s,
                g.calls_per_s,
                l.throughput_ratio,
                pct(d.p50_ms, g.p50_ms, l.added_p50_ms),
                pct(d.p90_ms, g.p90_ms, l.added_p90_ms),
                pct(d.p99_ms, g.p99_ms, l.added_p99_ms),
                pct(d.max_ms, g.max_ms, l.added_max_ms),
                l.ledger_appends_per_s
            );
        }
        let m = &self.memory;
        let _ = writeln!(
            s,
            "\nlatencies in ms (direct / gateway / added)\ngateway memory: idle RSS {:.1} MiB; after load RSS {:.1} MiB, peak (VmHWM) {:.1} MiB; with {} sessions RSS {:.1} MiB, peak {:.1} MiB",
            m.idle.rss_kib as f64 / MIB,
            m.after_load.rss_kib as f64 / MIB,
            m.after_load.hwm_kib as f64 / MIB,
            m.sessions_open,
            m.with_sessions.rss_kib as f64 / MIB,
            m.with_sessions.hwm_kib as f64 / MIB,
        );
        let _ = writeln!(
            s,
            "\nCPU per call (µs): gateway | upstream direct | upstream via gateway"
        );
        for l in &self.levels {
            let _ = writeln!(
                s,
                "{:>7} | {:>7.0} | {:>7.0} | {:>7.0}",
                l.clients,
                l.gateway_cpu_us_per_call,
                l.upstream_cpu_us_per_call_direct,
                l.upstream_cpu_us_per_call_via_gateway
            );
        }
        let _ = writeln!(s, "\ntargets:");
        for t in self.targets() {
            let met = match t.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "not measured",
            };
            let _ = writeln!(
                s,
                "  {:<52} {:>14}  {met}",
                t.target,
                t.measured.as_deref().unwrap_or("-")
            );
        }
        let _ = writeln!(
            s,
            "\n{} failed calls; {} CPUs, load average at end {}; {:.0} s in all",
            self.failed_calls(),
            self.machine.cpus,
            self.machine.loadavg,
            self.elapsed_s
        );
        s
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "args": self.args,
            "machine": self.machine,
            "levels": self.levels,
            "memory": self.memory,
            "targets": self.targets(),
            "failedCalls": self.failed_calls(),
            "elapsedSeconds": self.elapsed_s,
        })
    }
}
