//! The processes under test: the demo MCP server over streamable HTTP and the gateway in front
//! of it, both real `portcullis` child processes on 127.0.0.1:0. Each is killed when its guard
//! drops, so an error, a panic or the overall time cap never leaves one running.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// How long a child may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the gateway gets to shut down cleanly on SIGTERM before it is killed.
const GATEWAY_GRACE: Duration = Duration::from_secs(5);

/// A child process that is killed and reaped when this value drops. With a grace period it
/// first gets SIGTERM and that long to exit by itself (a clean shutdown, or a profiler writing
/// its output).
pub struct KillOnDrop {
    child: Child,
    term_grace: Option<Duration>,
}

impl KillOnDrop {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the child has already exited.
    pub fn check_alive(&mut self, what: &str) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!("{what} exited early ({status})"),
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(grace) = self.term_grace {
            let sent = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            let deadline = std::time::Instant::now() + grace;
            while sent && std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawn `bin args…` with stdout piped, and wait for a stdout line starting with `prefix`;
/// returns the guard and the rest of that line. Stderr goes to `stderr_log`.
fn spawn_until_line(
    wrapper: &[String],
    bin: &Path,
    args: &[&std::ffi::OsStr],
    stderr_log: &Path,
    prefix: &'static str,
    term_grace: Option<Duration>,
) -> anyhow::Result<(KillOnDrop, String)> {
    let stderr = std::fs::File::create(stderr_log)
        .with_context(|| format!("creating {}", stderr_log.display()))?;
    // `setpriv --pdeathsig KILL` (util-linux) makes the kernel kill the child if this process
    // dies without running its destructors (SIGKILL); it execs the program in place.
    let mut argv: Vec<&std::ffi::OsStr> = Vec::new();
    let setpriv = find_on_path("setpriv");
    if let Some(sp) = &setpriv {
        argv.extend([
            sp.as_os_str(),
            "--pdeathsig".as_ref(),
            "KILL".as_ref(),
            "--".as_ref(),
        ]);
    }
    argv.extend(wrapper.iter().map(std::ffi::OsStr::new));
    argv.push(bin.as_os_str());
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let out = child.stdout.take().context("child stdout")?;
    let mut guard = KillOnDrop { child, term_grace };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining stdout for the child's whole life so it never blocks on a full pipe.
        let mut sent = false;
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if !sent && let Some(rest) = line.strip_prefix(prefix) {
                let _ = tx.send(rest.trim().to_string());
                sent = true;
            }
        }
    });
    let timeout = if wrapper.is_empty() {
        START_TIMEOUT
    } else {
        START_TIMEOUT * 10
    };
    match rx.recv_timeout(timeout) {
        Ok(rest) => Ok((guard, rest)),
        Err(_) => {
            guard.check_alive("the child")?;
            let log = std::fs::read_to_string(stderr_log).unwrap_or_default();
            bail!(
                "{} printed no '{prefix}' line; stderr:\n{log}",
                bin.display()
            )
        }
    }
}

/// An executable file named `name` in a directory of `PATH`.
fn find_on_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The demo MCP server over streamable HTTP on 127.0.0.1:0.
pub struct DemoServer {
    pub proc: KillOnDrop,
    pub url: String,
}

impl DemoServer {
    pub fn start(bin: &Path, dir: &Path) -> anyhow::Result<DemoServer> {
        let args = ["demo-server", "--http", "127.0.0.1:0"].map(std::ffi::OsStr::new);
        let (proc, url) = spawn_until_line(
            &[],
            bin,
            &args,
            &dir.join("demo-server.log"),
            "demo server listening on ",
            None,
        )?;
        Ok(DemoServer { proc, url })
    }
}

/// The role the bench key gets, and the tool it calls (a read tool of the demo server).
pub const ROLE: &str = "bench";
pub const GATEWAY_TOOL: &str = "demo.echo";
pub const DIRECT_TOOL: &str = "echo";

/// The gateway's config: API keys, policy in `mode` allowing the read tool `demo.echo`, the
/// SQLite ledger (durable decision record before forwarding) in the data dir. Every client and
/// every kept session of the harness is a connection from 127.0.0.1, so the per-client
/// connection cap is lifted to the harness's own maximum.
fn gateway_config(mode: &str, extra: &str, upstream_url: &str) -> String {
    format!(
        r#"[server]
shutdown_grace = "2s"
max_connections = 200000
max_connections_per_client = 200000
max_sessions_per_principal = 200000

[policy]
mode = "{mode}"

[roles.{ROLE}]
allow = ["{GATEWAY_TOOL}"]

[[upstreams]]
name = "demo"
transport = "http"
url = "{upstream_url}"
timeout = "10s"

{extra}
"#
    )
}

/// `portcullis serve` on 127.0.0.1:0 in front of `upstream_url`, with a fresh data dir and key.
pub struct Gateway {
    pub proc: KillOnDrop,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `http://127.0.0.1:PORT/mcp`
    pub url: String,
    pub key: String,
}

impl Gateway {
    /// `wrapper` (e.g. a profiler command) runs the gateway when not empty; `extra` is
    /// appended to its config.
    pub fn start(
        bin: &Path,
        dir: &Path,
        mode: &str,
        extra: &str,
        upstream_url: &str,
        wrapper: &[String],
    ) -> anyhow::Result<Self> {
        let config = dir.join("portcullis.toml");
        std::fs::write(&config, gateway_config(mode, extra, upstream_url))?;
        let data = dir.join("data");
        let key = create_key(bin, &config, &data)?;
        let log = dir.join("gateway.log");
        let args: Vec<&std::ffi::OsStr> = vec![
            "serve".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
        ];
        let grace = if wrapper.is_empty() {
            GATEWAY_GRACE
        } else {
            GATEWAY_GRACE * 12
        };
        let (proc, url) = spawn_until_line(
            wrapper,
            bin,
            &args,
            &log,
            "portcullis listening on ",
            Some(grace),
        )?;
        let base = url.trim_end_matches("/mcp").to_string();
        Ok(Gateway {
            proc,
            base,
            url,
            key,
        })
    }
}

/// `portcullis keys create … --json`; returns the key (shown once).
fn create_key(bin: &Path, config: &Path, data: &Path) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(["keys", "create", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args([
            "--tenant", "bench", "--agent", "bench", "--role", ROLE, "--json",
        ])
        .stdin(Stdio::null())
        .output()
        .context("running portcullis keys create")?;
    if !out.status.success() {
        bail!(
            "keys create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    v["key"]
        .as_str()
        .map(str::to_string)
        .context("keys create printed no key")
}

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Memory {
    /// Resident set size now (VmRSS), KiB.
    pub rss_kib: u64,
    /// Peak resident set size so far (VmHWM), KiB.
    pub hwm_kib: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_memory(&status).with_context(|| format!("no VmRSS/VmHWM in /proc/{pid}/status"))
}

fn parse_memory(status: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// CPU time (user + system, all threads) a process has used, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_cpu_seconds(&stat).with_context(|| format!("malformed /proc/{pid}/stat"))
}

fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    // Fields after the command name, which is in parentheses and may contain spaces; utime and
    // stime are fields 14 and 15 of the line, so 12 and 13 after the name.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_from_proc_status() {
        let status = "Name:\tportcullis\nVmHWM:\t   29100 kB\nVmRSS:\t   28000 kB\n";
        let m = parse_memory(status).unwrap();
        assert_eq!((m.rss_kib, m.hwm_kib), (28000, 29100));
        assert!(parse_memory("Name:\tx\n").is_none());
    }

    #[test]
    fn cpu_time_is_utime_plus_stime_after_a_name_with_spaces() {
        let stat = "4242 (tokio runtime) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 6 0";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
        assert_eq!(parse_cpu_seconds("4242 (x) S 1"), None);
    }
}
