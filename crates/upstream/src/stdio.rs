//! MCP over a child process's stdin/stdout (newline-delimited JSON-RPC). The child starts with
//! only the configured environment, in its own process group; its stderr goes to the logs. A
//! supervisor restarts it with backoff when it dies or corrupts its stdout, and stops the
//! whole process group on shutdown.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::call::{self, AnswerPath, CallOptions, InFlight};
use crate::route::Router;
use crate::rpc::{self, Incoming};
use crate::{Conn, Inner, TransportSpec, UpstreamError, UpstreamState};

/// Longest stderr line forwarded to the logs.
const STDERR_LINE_MAX: usize = 8 * 1024;
/// How long a child gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

pub(crate) struct StdioConn {
    writer: mpsc::Sender<Vec<u8>>,
    inflight: Arc<InFlight>,
}

pub(crate) fn line(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// Tells the upstream a call was given up (timeout, or the caller went away) unless disarmed.
struct CancelOnDrop<'a> {
    conn: &'a StdioConn,
    id: u64,
    reason: &'static str,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed && self.conn.inflight.remove(self.id) {
            let cancel = rpc::notification(
                "notifications/cancelled",
                Some(json!({"requestId": self.id, "reason": self.reason})),
            );
            let _ = self.conn.writer.try_send(line(&cancel));
        }
    }
}

impl StdioConn {
    pub(crate) async fn call(
        &self,
        inner: &Inner,
        method: &str,
        params: Option<Value>,
        opts: CallOptions,
    ) -> Result<Value, UpstreamError> {
        let id = inner.next_id();
        let (params, progress) = call::rewrite_progress(params, id);
        let rx = self.inflight.insert(id, &opts, progress);
        let mut guard = CancelOnDrop {
            conn: self,
            id,
            reason: "the client went away",
            armed: true,
        };
        if self
            .writer
            .send(line(&rpc::request(id, method, params)))
            .await
            .is_err()
        {
            guard.armed = false;
            self.inflight.remove(id);
            return Err(UpstreamError::Unavailable(
                "the connection to the child is closed".into(),
            ));
        }
        let timeout = opts.timeout.unwrap_or(inner.spec.call_timeout);
        let outcome = tokio::time::timeout(timeout, rx).await;
        match outcome {
            Ok(Ok(reply)) => {
                guard.armed = false;
                reply
            }
            Ok(Err(_)) => {
                guard.armed = false;
                Err(UpstreamError::Unavailable(
                    "the connection to the child is closed".into(),
                ))
            }
            Err(_) => {
                guard.reason = "timeout";
                Err(UpstreamError::Timeout)
            }
        }
    }

    pub(crate) async fn notify(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<(), UpstreamError> {
        self.writer
            .send(line(&rpc::notification(method, params)))
            .await
            .map_err(|_| UpstreamError::Unavailable("the connection to the child is closed".into()))
    }
}

enum Exit {
    Shutdown,
    Failed(String),
}

pub(crate) async fn supervise(inner: Arc<Inner>) {
    let TransportSpec::Stdio {
        command,
        args,
        env,
        cwd,
        ..
    } = inner.spec.transport.clone()
    else {
        return;
    };
    let mut backoff = Backoff::default();
    let mut attempt: u64 = 0;
    loop {
        if inner.shutdown.is_cancelled() {
            return;
        }
        if attempt > 0 {
            inner
                .restarts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        attempt += 1;
        let started = Instant::now();
        match run_once(&inner, &command, &args, &env, cwd.as_deref()).await {
            Exit::Shutdown => return,
            Exit::Failed(reason) => {
                tracing::warn!(upstream = %inner.spec.name, reason = %reason, "stdio upstream stopped; restarting");
            }
        }
        inner.set_state(UpstreamState::Restarting);
        let delay = backoff.delay(started.elapsed());
        tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn run_once(
    inner: &Arc<Inner>,
    command: &PathBuf,
    args: &[String],
    env: &[(String, String)],
    cwd: Option<&Path>,
) -> Exit {
    let name = inner.spec.name.clone();
    let mut cmd = Command::new(command);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Exit::Failed(format!("cannot start {}: {e}", command.display())),
    };
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        stop_child(&mut child).await;
        return Exit::Failed("child pipes missing".into());
    };
    let pid = child.id();
    let stderr_task = tokio::spawn(forward_stderr(name.clone(), stderr));
    let inflight = Arc::new(InFlight::default());
    let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(1024);
    let writer_task = tokio::spawn(async move {
        while let Some(buf) = wrx.recv().await {
            if stdin.write_all(&buf).await.is_err() || stdin.flush().await.is_err() {
                break;
            }
        }
    });
    let corrupt = CancellationToken::new();
    let reader_task = tokio::spawn(read_loop(
        inner.clone(),
        stdout,
        inflight.clone(),
        wtx.clone(),
        corrupt.clone(),
    ));
    let conn = Arc::new(StdioConn {
        writer: wtx,
        inflight: inflight.clone(),
    });

    let handshake = async {
        let init = conn
            .call(
                inner,
                "initialize",
                Some(inner.initialize_params()),
                CallOptions::default(),
            )
            .await?;
        if !init.get("protocolVersion").is_some_and(Value::is_string) {
            return Err(UpstreamError::InvalidResponse(
                "initialize result has no protocolVersion".into(),
            ));
        }
        conn.notify("notifications/initialized", None).await?;
        Ok(init)
    };
    let started = tokio::select! {
        r = handshake => match r {
            Ok(init) => {
                inner.set_init_result(init);
                inner.set_conn(Some(Conn::Stdio(conn.clone())));
                inner.set_state(UpstreamState::Ready);
                tracing::info!(upstream = %name, pid, "stdio upstream ready");
                None
            }
            Err(e) => Some(Exit::Failed(format!("initialize failed: {e}"))),
        },
        status = child.wait() => Some(Exit::Failed(format!("exited while starting: {}", describe_exit(&status)))),
        _ = inner.shutdown.cancelled() => Some(Exit::Shutdown),
    };
    let exit = match started {
        Some(e) => e,
        None => tokio::select! {
            status = child.wait() => Exit::Failed(format!("exited: {}", describe_exit(&status))),
            _ = corrupt.cancelled() => Exit::Failed("it wrote something that is not JSON-RPC to stdout".into()),
            _ = inner.shutdown.cancelled() => Exit::Shutdown,
        },
    };
    if !matches!(exit, Exit::Shutdown) {
        inner.set_state(UpstreamState::Restarting);
    }
    inner.set_conn(None);
    inflight.fail_all(UpstreamError::Unavailable(
        "the upstream process stopped".into(),
    ));
    stop_child(&mut child).await;
    reader_task.abort();
    writer_task.abort();
    stderr_task.abort();
    exit
}

/// How a child ended, as a person reads it: its exit code (with what 126 and 127 mean) or the
/// signal that killed it.
pub fn describe_exit(status: &std::io::Result<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    let status = match status {
        Ok(s) => s,
        Err(e) => return format!("its status could not be read: {e}"),
    };
    match (status.code(), status.signal()) {
        (Some(127), _) => "exit code 127: command not found (the program, or the interpreter of its #! line, is not in the child's PATH)".into(),
        (Some(126), _) => "exit code 126: the command is not executable".into(),
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => match signal_name(sig) {
            Some(name) => format!("killed by signal {sig} ({name})"),
            None => format!("killed by signal {sig}"),
        },
        (None, None) => format!("{status}"),
    }
}

fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// SIGTERM to the child's process group, SIGKILL after a grace period.
async fn stop_child(child: &mut Child) {
    let Some(pid) = child.id() else {
        return;
    };
    let group = Pid::from_raw(pid as i32);
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(TERM_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait().await;
    }
}

async fn read_loop(
    inner: Arc<Inner>,
    stdout: ChildStdout,
    inflight: Arc<InFlight>,
    writer: mpsc::Sender<Vec<u8>>,
    corrupt: CancellationToken,
) {
    let name = inner.spec.name.as_str();
    let cap = inner.spec.max_response_bytes;
    let strict = matches!(
        inner.spec.transport,
        TransportSpec::Stdio {
            strict_attribution: true,
            ..
        }
    );
    let router = Router {
        name,
        inflight: &inflight,
        broadcast: &inner.notifications,
        answers: AnswerPath::Stdio(writer),
        late_ok: false,
        owner: None,
        token_only: strict,
    };
    let mut lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(cap));
    while let Some(item) = lines.next().await {
        let text = match item {
            Ok(t) => t,
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                // The reader cannot go on after this (the framing stops at its first error),
                // so the calls are refused and the child restarted, as for garbage.
                tracing::warn!(upstream = %name, cap, "upstream message exceeds max_response_bytes; restarting it");
                inflight.fail_all(UpstreamError::InvalidResponse(format!(
                    "a message from the upstream exceeds {cap} bytes"
                )));
                corrupt.cancel();
                return;
            }
            Err(LinesCodecError::Io(e)) => {
                tracing::warn!(upstream = %name, error = %e, "unreadable upstream stdout");
                inflight.fail_all(UpstreamError::InvalidResponse(
                    "the upstream wrote unreadable bytes to stdout".into(),
                ));
                corrupt.cancel();
                return;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            let shown: String = text.chars().take(200).collect();
            tracing::warn!(upstream = %name, line = %shown, "upstream wrote non-JSON to stdout; restarting it");
            inflight.fail_all(UpstreamError::InvalidResponse(
                "the upstream wrote something that is not JSON-RPC".into(),
            ));
            corrupt.cancel();
            return;
        };
        match rpc::classify(value) {
            Incoming::Response(id, reply) => {
                if !inflight.complete(id, reply) {
                    tracing::warn!(upstream = %name, id, "response to an id with no waiting request; dropped");
                }
            }
            Incoming::ServerRequest(req) => router.request(req, None),
            Incoming::Notification(n) => router.notification(n, None),
            Incoming::Unmatchable(why) => {
                tracing::warn!(upstream = %name, reason = %why, "unmatchable message from upstream; dropped");
            }
        }
    }
}

async fn forward_stderr(name: String, stderr: ChildStderr) {
    let mut lines = FramedRead::new(stderr, LinesCodec::new_with_max_length(STDERR_LINE_MAX));
    while let Some(item) = lines.next().await {
        match item {
            Ok(l) => {
                tracing::info!(target: "upstream", upstream = %name, stderr = %l, "upstream stderr")
            }
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                tracing::info!(target: "upstream", upstream = %name, "upstream stderr line too long; dropped")
            }
            Err(LinesCodecError::Io(_)) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::describe_exit;

    #[test]
    fn exits_are_described_as_a_person_reads_them() {
        let d = |raw: i32| describe_exit(&Ok(ExitStatus::from_raw(raw)));
        assert!(d(127 << 8).starts_with("exit code 127: command not found"));
        assert!(d(126 << 8).contains("not executable"));
        assert_eq!(d(3 << 8), "exit code 3");
        assert_eq!(d(9), "killed by signal 9 (SIGKILL)");
        assert_eq!(d(64), "killed by signal 64");
        let e = std::io::Error::other("gone");
        assert!(describe_exit(&Err(e)).contains("gone"));
    }
}
