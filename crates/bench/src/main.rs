//! `portcullis-bench`: the cost of governance, measured against a direct call in the same run.
//!
//! Starts the demo MCP server over streamable HTTP and `portcullis serve` in front of it (API
//! key, policy, durable SQLite ledger), all on 127.0.0.1, and drives both with the same
//! closed-loop client load in alternating rounds (direct, gateway, direct, gateway, …) so that
//! machine drift hits both. Reports throughput, latency percentiles and the added latency at
//! each concurrency, the gateway's resident memory (idle, peak, with many open sessions) and the
//! ledger's durable append rate. Bounded in calls and time; children die with the harness.
#![forbid(unsafe_code)]

mod load;
mod mcp;
mod procs;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;

use load::{Tally, open_sessions, round};
use mcp::Endpoint;
use report::{Level, Report};

#[derive(Parser, Debug, Clone, serde::Serialize)]
#[command(
    name = "portcullis-bench",
    about = "Load benchmark: gateway vs direct calls to the same MCP upstream, on loopback"
)]
pub struct Args {
    /// Concurrent clients per level (each with its own session and connection).
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    clients: Vec<usize>,
    /// Seconds per measured round.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Seconds of warm-up per endpoint before each level (not measured).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Measured rounds per endpoint and level, alternating direct and gateway.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Most calls in one round, whatever its duration.
    #[arg(long, default_value_t = 1_000_000)]
    max_calls: u64,
    /// MCP sessions to open and keep on the gateway for the memory measurement.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// Gateway policy mode (`read-only` or `enforce`); the load calls a read tool either way.
    #[arg(long, default_value = "read-only")]
    mode: String,
    /// A TOML file appended to the gateway's config (e.g. `[[limits.rate]]` tables), to
    /// measure what a feature costs against a run without it.
    #[arg(long)]
    extra_config: Option<std::path::PathBuf>,
    /// Hard cap on the whole run, in seconds; past it the run fails and stops its children.
    #[arg(long, default_value_t = 900)]
    max_total: u64,
    /// Worker threads of the client runtime (1: a single-threaded client).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Run the gateway under this command, e.g. "valgrind --tool=callgrind" to profile it
    /// (split on spaces; memory figures then include the wrapper).
    #[arg(long)]
    gateway_wrapper: Option<String>,
    /// The `portcullis` binary (default: next to this one).
    #[arg(long)]
    portcullis: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A few hundred calls and a handful of sessions in a few seconds: checks that the harness
    /// works and that every call succeeded. Not a speed test.
    #[arg(long)]
    smoke: bool,
}

impl Args {
    fn apply_smoke(&mut self) {
        if self.smoke {
            self.clients = vec![1, 4];
            self.duration = 0.5;
            self.warmup = 0.2;
            self.rounds = 1;
            self.max_calls = 100;
            self.sessions = 20;
            self.max_total = 120;
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.clients.is_empty() || self.clients.iter().any(|&c| c == 0 || c > 1024) {
            bail!("--clients must be 1..=1024 each");
        }
        let seconds_ok =
            |v: f64, min_exclusive: bool| (v > 0.0 || (!min_exclusive && v == 0.0)) && v <= 600.0;
        if !seconds_ok(self.duration, true) || !seconds_ok(self.warmup, false) {
            bail!("--duration must be in (0, 600] and --warmup in [0, 600] seconds");
        }
        if self.rounds == 0 || self.sessions > 100_000 || self.client_threads == 0 {
            bail!("--rounds and --client-threads must be at least 1, --sessions at most 100000");
        }
        if !matches!(self.mode.as_str(), "read-only" | "enforce") {
            bail!("--mode must be read-only or enforce");
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    args.apply_smoke();
    if let Err(e) = args.validate() {
        eprintln!("error: {e}");
        return ExitCode::from(64);
    }
    // reqwest is built without a default TLS provider; only plain HTTP is used, but the client
    // builder wants one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = if args.client_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let cap = Duration::from_secs(args.max_total);
    let outcome = rt.block_on(async {
        tokio::select! {
            r = tokio::time::timeout(cap, run(&args)) => {
                r.unwrap_or_else(|_| Err(anyhow::anyhow!("the run exceeded --max-total {} s", args.max_total)))
            }
            sig = termination() => Err(anyhow::anyhow!("stopped by {sig}")),
        }
    });
    // The run's future (and with it every child guard) is dropped by now: children are gone.
    match outcome {
        Ok(report) if report.failed_calls() == 0 => ExitCode::SUCCESS,
        Ok(report) => {
            eprintln!(
                "error: {} call(s) failed; first: {}",
                report.failed_calls(),
                report.first_error().unwrap_or("?")
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The first of SIGINT, SIGTERM, SIGHUP: the run stops and its children with it.
async fn termination() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
    }
}

fn portcullis_bin(args: &Args) -> anyhow::Result<PathBuf> {
    let bin = match &args.portcullis {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this executable has no directory")?
            .join("portcullis"),
    };
    if !bin.is_file() {
        bail!(
            "no portcullis binary at {} (build it: cargo build --release -p portcullis, or pass --portcullis)",
            bin.display()
        );
    }
    Ok(bin)
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    let started = Instant::now();
    let bin = portcullis_bin(args)?;
    let dir = tempfile::Builder::new()
        .prefix("portcullis-bench")
        .tempdir()?;
    let demo = procs::DemoServer::start(&bin, dir.path())?;
    let wrapper: Vec<String> = args
        .gateway_wrapper
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let extra = match &args.extra_config {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading --extra-config {}", p.display()))?,
        None => String::new(),
    };
    let mut gw = procs::Gateway::start(&bin, dir.path(), &args.mode, &extra, &demo.url, &wrapper)?;
    let ops = mcp::http_client()?;
    mcp::wait_ready(&ops, &gw.base).await?;
    let idle = procs::memory(gw.proc.pid())?;
    eprintln!(
        "demo server {} (pid {}), gateway {} (pid {}), idle RSS {} KiB",
        demo.url,
        demo.proc.pid(),
        gw.url,
        gw.proc.pid(),
        idle.rss_kib
    );

    let direct = Endpoint {
        url: demo.url.clone(),
        key: None,
        tool: procs::DIRECT_TOOL,
    };
    let gateway = Endpoint {
        url: gw.url.clone(),
        key: Some(gw.key.clone()),
        tool: procs::GATEWAY_TOOL,
    };
    let most = *args.clients.iter().max().expect("validated non-empty");
    let mut direct_pool = open_sessions(&direct, most, 16).await?;
    let mut gateway_pool = open_sessions(&gateway, most, 16).await?;

    let duration = Duration::from_secs_f64(args.duration);
    let warmup = Duration::from_secs_f64(args.warmup);
    let mut levels = Vec::new();
    for &clients in &args.clients {
        let mut d_sessions: Vec<_> = direct_pool.drain(..clients).collect();
        let mut g_sessions: Vec<_> = gateway_pool.drain(..clients).collect();
        let mut warm = Tally::new();
        if !warmup.is_zero() {
            let (s, t) = round(d_sessions, warmup, args.max_calls).await?;
            d_sessions = s;
            warm.absorb(t);
            let (s, t) = round(g_sessions, warmup, args.max_calls).await?;
            g_sessions = s;
            warm.absorb(t);
        }
        let (mut d_total, mut g_total) = (Tally::new(), Tally::new());
        let mut counters = report::Counters::default();
        let (gw_pid, demo_pid) = (gw.proc.pid(), demo.proc.pid());
        for _ in 0..args.rounds {
            let demo_cpu = procs::cpu_seconds(demo_pid)?;
            let (s, t) = round(d_sessions, duration, args.max_calls).await?;
            counters.upstream_cpu_direct_s += procs::cpu_seconds(demo_pid)? - demo_cpu;
            d_sessions = s;
            d_total.absorb(t);
            let (before, _) = mcp::gateway_status(&ops, &gw.base, &gw.key).await?;
            let (gw_cpu, demo_cpu) = (procs::cpu_seconds(gw_pid)?, procs::cpu_seconds(demo_pid)?);
            let (s, t) = round(g_sessions, duration, args.max_calls).await?;
            counters.gateway_cpu_s += procs::cpu_seconds(gw_pid)? - gw_cpu;
            counters.upstream_cpu_gateway_s += procs::cpu_seconds(demo_pid)? - demo_cpu;
            let (after, _) = mcp::gateway_status(&ops, &gw.base, &gw.key).await?;
            g_sessions = s;
            g_total.absorb(t);
            counters.ledger_appends += after.saturating_sub(before);
        }
        let level = Level::new(clients, &warm, &d_total, &g_total, &counters);
        eprintln!("{}", level.line());
        levels.push(level);
        direct_pool.extend(d_sessions);
        gateway_pool.extend(g_sessions);
    }
    gw.proc.check_alive("the gateway")?;
    let after_load = procs::memory(gw.proc.pid())?;

    // Open sessions on the gateway and keep them (the pools already hold `most` of them).
    let extra = args.sessions.saturating_sub(gateway_pool.len());
    let kept = open_sessions(&gateway, extra, 16).await?;
    let (_, open) = mcp::gateway_status(&ops, &gw.base, &gw.key).await?;
    let with_sessions = procs::memory(gw.proc.pid())?;
    if (open as usize) < args.sessions {
        bail!(
            "the gateway reports {open} open sessions, expected at least {}",
            args.sessions
        );
    }
    gw.proc.check_alive("the gateway")?;
    drop(kept);

    let report = Report {
        args: args.clone(),
        machine: report::Machine::read(),
        levels,
        memory: report::MemoryReport {
            idle,
            after_load,
            sessions_open: open,
            with_sessions,
        },
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    report.check_ledger()?;
    print!("{}", report.render());
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&report.to_json())?)
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("results written to {}", out.display());
    }
    Ok(report)
}
