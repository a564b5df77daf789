//! Test harness: the real `portcullis` binary on 127.0.0.1:0 with the demo server as a real
//! stdio child, driven over loopback by a real HTTP client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_portcullis")
}

/// A config with the demo server (fault tools on) as upstream `demo`, the given policy mode,
/// and the roles tests use. `extra` is appended verbatim.
pub fn demo_config(mode: &str, extra: &str) -> String {
    format!(
        r#"
[server]
shutdown_grace = "10s"

[policy]
mode = "{mode}"

[roles.reader]
allow = ["demo.notes_read", "demo.echo"]

[roles.agent]
allow = ["demo.*"]
allow_write = true

[roles.viewer]
allow = ["demo.*"]

[roles.admin]
allow = ["*"]
allow_write = true
allow_destructive = true

[[upstreams]]
name = "demo"
transport = "stdio"
command = "{bin}"
args = ["demo-server", "--test-tools"]
timeout = "3s"

{extra}
"#,
        bin = bin()
    )
}

pub struct Gateway {
    pub child: Child,
    pub base: String,
    pub url: String,
    /// The admin API's base (`http://127.0.0.1:PORT`).
    pub admin: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub stdout: mpsc::Receiver<String>,
}

impl Gateway {
    pub fn start(config_text: &str) -> Gateway {
        Self::try_start(config_text).expect("gateway did not start")
    }

    pub fn try_start(config_text: &str) -> Result<Gateway, String> {
        Self::try_start_with_env(config_text, &[])
    }

    /// Start with these variables added to the gateway's own environment.
    pub fn start_with_env(config_text: &str, env: &[(&str, &str)]) -> Gateway {
        Self::try_start_with_env(config_text, env).expect("gateway did not start")
    }

    fn try_start_with_env(config_text: &str, env: &[(&str, &str)]) -> Result<Gateway, String> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("portcullis.toml");
        std::fs::write(&config, config_text).unwrap();
        Self::spawn(dir, config, env)
    }

    /// Kill the process (SIGKILL, no shutdown) and start it again on the same data.
    pub fn kill_and_restart(mut self) -> Gateway {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Self::spawn(dir, self.config.clone(), &[]).expect("gateway did not restart")
    }

    fn spawn(
        dir: tempfile::TempDir,
        config: PathBuf,
        env: &[(&str, &str)],
    ) -> Result<Gateway, String> {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("stderr.log"))
            .unwrap();
        let mut child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut admin = String::new();
        let url = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(u) = line.strip_prefix("portcullis admin API listening on ") {
                        admin = u.trim().trim_end_matches("/admin/v1").to_string();
                    }
                    if let Some(u) = line.strip_prefix("portcullis listening on ") {
                        break u.trim().to_string();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log =
                        std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
                    return Err(format!("no listening line; stderr:\n{log}"));
                }
            }
        };
        let base = url.trim_end_matches("/mcp").to_string();
        Ok(Gateway {
            child,
            base,
            url,
            admin,
            dir,
            config,
            stdout: rx,
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join("portcullis.db")
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The first log line `wanted` accepts, waiting (up to 10 s) for the gateway's log writer,
    /// which writes behind the requests.
    pub fn log_line(&self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if let Some(l) = logs.lines().find(|l| wanted(l)) {
                return Some(l.to_string());
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the log comes to contain `text` (waiting as [`Gateway::log_line`] does).
    pub fn logged(&self, text: &str) -> bool {
        self.log_line(|l| l.contains(text)).is_some()
    }

    /// The one request log line with this correlation id, parsed.
    pub fn request_log(&self, cid: &str) -> Value {
        let line = self
            .log_line(|l| l.contains(cid) && l.contains("\"message\":\"request\""))
            .unwrap_or_else(|| panic!("no request log line for {cid} in:\n{}", self.logs()));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// `portcullis keys create ... --json`; returns (id, key).
    pub fn key(&self, role: &str, extra: &[&str]) -> (String, String) {
        let out = Command::new(bin())
            .args(["keys", "create", "--config"])
            .arg(&self.config)
            .arg("--data-dir")
            .arg(self.data_dir())
            .args([
                "--tenant",
                "t1",
                "--agent",
                &format!("agent-{role}"),
                "--role",
                role,
                "--json",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keys create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["id"].as_str().unwrap().to_string(),
            v["key"].as_str().unwrap().to_string(),
        )
    }

    pub fn revoke(&self, id: &str) {
        let out = Command::new(bin())
            .args(["keys", "revoke", "--data-dir"])
            .arg(self.data_dir())
            .arg(id)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for exit, up to `secs`.
    pub fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        for _ in 0..secs * 20 {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http() -> reqwest::Client {
    // reqwest is built without a default TLS provider; the binary installs ring, so do the tests.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The error contract, from an HTTP error body or a JSON-RPC error's data.
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["data"]["code"]
            .as_str()
            .or_else(|| self.body["code"].as_str())
    }
    pub fn session(&self) -> Option<String> {
        self.headers
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_string())
    }
}

pub async fn post_raw(
    url: &str,
    key: Option<&str>,
    session: Option<&str>,
    body: impl Into<reqwest::Body>,
    extra: &[(&str, &str)],
) -> Reply {
    let mut rb = http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(k) = key {
        rb = rb.header("authorization", format!("Bearer {k}"));
    }
    if let Some(s) = session {
        rb = rb.header("mcp-session-id", s);
    }
    let mut req = rb.build().unwrap();
    for (k, v) in extra {
        req.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            reqwest::header::HeaderValue::from_str(v).unwrap(),
        );
    }
    let resp = http().execute(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn rpc(
    url: &str,
    key: &str,
    session: Option<&str>,
    method: &str,
    params: Value,
) -> Reply {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    post_raw(url, Some(key), session, body.to_string(), &[]).await
}

/// Initialize a session; returns its id.
pub async fn initialize(url: &str, key: &str) -> String {
    let r = rpc(
        url,
        key,
        None,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let sid = r.session().expect("session id");
    let n = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let ack = post_raw(url, Some(key), Some(&sid), n.to_string(), &[]).await;
    assert_eq!(ack.status, 202);
    sid
}

pub async fn call(
    url: &str,
    key: &str,
    sid: &str,
    tool: &str,
    args: Value,
    meta: Option<Value>,
) -> Reply {
    let mut params = json!({"name": tool, "arguments": args});
    if let Some(m) = meta {
        params["_meta"] = m;
    }
    rpc(url, key, Some(sid), "tools/call", params).await
}

/// The demo server's answer to `notes_read` of `note` (as JSON text), read in session `sid`.
pub async fn read_note(gw: &Gateway, key: &str, sid: &str, note: &str) -> String {
    let read = call(
        &gw.url,
        key,
        sid,
        "demo.notes_read",
        json!({"key": note}),
        None,
    )
    .await;
    assert!(read.body["result"].is_object(), "{:?}", read.body);
    read.body.to_string()
}

pub fn text_of(result: &Value) -> String {
    result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The ledger's records, once settled: a call's outcome record is committed just after its
/// answer is sent, so this waits (up to 5 s) until every allowed decision has its outcome.
pub fn ledger(db: &Path) -> Vec<Value> {
    ledger_until(db, |recs| {
        let outcomes: std::collections::HashSet<&Value> = recs
            .iter()
            .filter(|o| o["kind"] == "outcome")
            .map(|o| &o["correlation_id"])
            .collect();
        recs.iter().all(|d| {
            d["kind"] != "decision"
                || d["decision"] != "allow"
                || outcomes.contains(&d["correlation_id"])
        })
    })
}

/// Poll `check` every 20 ms until it gives a value, for at most `within`; panics naming `what`
/// if it never does. For waiting on a state the test can observe, never a fixed sleep.
pub async fn wait_for_async<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`wait_for_async`] for a check that needs no awaiting.
pub async fn wait_for<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    wait_for_async(what, within, || std::future::ready(check())).await
}

/// Wait (up to 10 s) until the ledger holds a record `matches` accepts; returns it.
pub async fn wait_for_record(db: &Path, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, Duration::from_secs(10), || {
        ledger_now(db).into_iter().find(|r| matches(r))
    })
    .await
}

/// The ledger's records once `settled` holds of them, or as they are after 5 s.
pub fn ledger_until(db: &Path, settled: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let recs = ledger_now(db);
        if settled(&recs) || std::time::Instant::now() >= deadline {
            return recs;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The ledger's records as they are now, parsed, read straight from the SQLite file.
pub fn ledger_now(db: &Path) -> Vec<Value> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT record FROM ledger ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|b| serde_json::from_slice(&b.unwrap()).unwrap())
        .collect()
}

/// Read SSE events from `resp` until `until` matches one (or 15 s pass); returns their JSON and
/// the last event id.
pub async fn read_events(
    resp: &mut reqwest::Response,
    until: impl Fn(&Value) -> bool,
) -> (Vec<Value>, Option<String>) {
    let mut buf = String::new();
    let mut events = Vec::new();
    let mut last_id = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        let chunk = match tokio::time::timeout(Duration::from_secs(15), resp.chunk()).await {
            Ok(Ok(Some(c))) => c,
            _ => break,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(id) = line.strip_prefix("id: ") {
                    last_id = Some(id.to_string());
                }
                if let Some(data) = line.strip_prefix("data: ")
                    && let Ok(v) = serde_json::from_str::<Value>(data)
                {
                    let done = until(&v);
                    events.push(v);
                    if done {
                        return (events, last_id);
                    }
                }
            }
        }
    }
    (events, last_id)
}

/// The revision of the stateless era.
pub const MODERN: &str = "2026-07-28";

/// The `_meta` every 2026-07-28 request carries.
pub fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    })
}

/// A 2026-07-28 request with its mirrored headers (`Mcp-Name` from `params.name` or
/// `params.uri`); `modern_meta` is added to whatever `_meta` `params` has. `overrides`
/// replace or drop (empty value) headers.
pub async fn modern(
    url: &str,
    key: &str,
    method: &str,
    mut params: Value,
    overrides: &[(&str, &str)],
) -> Reply {
    let mut meta = modern_meta();
    if let Some(Value::Object(extra)) = params.get("_meta") {
        for (k, v) in extra {
            meta[k] = v.clone();
        }
    }
    params["_meta"] = meta;
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params});
    let name = params
        .get("name")
        .or_else(|| params.get("uri"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut headers: Vec<(String, String)> = vec![
        ("mcp-protocol-version".into(), MODERN.into()),
        ("mcp-method".into(), method.into()),
    ];
    if let Some(n) = name {
        headers.push(("mcp-name".into(), n));
    }
    for (k, v) in overrides {
        headers.retain(|(h, _)| h != k);
        if !v.is_empty() {
            headers.push((k.to_string(), v.to_string()));
        }
    }
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post_raw(url, Some(key), None, body.to_string(), &pairs).await
}

/// POST `body` to `/mcp` over a plain TCP connection, with exactly the header lines given
/// (repeats included, which HTTP clients merge or refuse) plus `Content-Length` and
/// `Connection: close`.
pub async fn raw_post(base: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    raw_request(base, "POST /mcp", headers, body).await
}

/// One request written by hand (`line` is e.g. `GET /metrics`), for headers no HTTP client
/// library would send.
pub async fn raw_request(base: &str, line: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut req = format!("{line} HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        out
    };
    let out = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .expect("the gateway answered");
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let payload = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in head.lines().skip(1).filter_map(|l| l.split_once(':')) {
        if let (Ok(k), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()),
            reqwest::header::HeaderValue::from_str(v.trim()),
        ) {
            map.append(k, v);
        }
    }
    Reply {
        status,
        headers: map,
        body: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
    }
}

/// The payload of a chunked HTTP/1.1 body.
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `GET base + path` without credentials, parsed as JSON.
pub async fn get_json(gw: &Gateway, path: &str) -> Value {
    http()
        .get(format!("{}{path}", gw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The gateway's `/metrics` text.
pub async fn metrics_text(gw: &Gateway) -> String {
    http()
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Open a session and make `n` `demo.echo` calls, each answered with its text.
pub async fn echo_calls(url: &str, key: &str, n: usize) {
    let sid = initialize(url, key).await;
    for i in 0..n {
        let text = format!("m{i}");
        let r = call(url, key, &sid, "demo.echo", json!({ "text": text }), None).await;
        assert_eq!(text_of(&r.body), text, "{:?}", r.body);
    }
}

/// Poll `/api/ledger/checkpoint` until a checkpoint covers at least `size` records.
pub async fn wait_for_checkpoint(gw: &Gateway, key: &str, size: u64) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let r = http()
            .get(format!("{}/api/ledger/checkpoint", gw.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        last = r.json().await.unwrap();
        if last["size"].as_u64().is_some_and(|s| s >= size) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no checkpoint of size {size}; last answer {last:?}");
}

/// The demo server over streamable HTTP, as a real child process on 127.0.0.1:0.
pub struct DemoHttp {
    pub child: Child,
    pub url: String,
}

impl DemoHttp {
    pub fn start(extra: &[&str]) -> DemoHttp {
        let mut child = Command::new(bin())
            .args(["demo-server", "--http", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(u) = line.strip_prefix("demo server listening on ") {
                        break u.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the demo server did not start");
                }
            }
        };
        DemoHttp { child, url }
    }
}

impl Drop for DemoHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `demo_config`'s roles, with the demo server reached over HTTP at `url` as upstream `demo`.
pub fn demo_http_config(mode: &str, url: &str) -> String {
    let stdio = demo_config(mode, "");
    let start = stdio.find("[[upstreams]]").unwrap();
    format!(
        "{}[[upstreams]]\nname = \"demo\"\ntransport = \"http\"\nurl = \"{url}\"\ntimeout = \"3s\"\n",
        &stdio[..start]
    )
}

/// `GET /api/status` with `key`, parsed.
pub async fn api_status(gw: &Gateway, key: &str) -> Value {
    http()
        .get(format!("{}/api/status", gw.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
