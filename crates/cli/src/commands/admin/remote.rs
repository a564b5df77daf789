//! The admin API from the command line: each subcommand is one request to `--admin-url`
//! (or `PORTCULLIS_ADMIN_URL`), with the admin key from `PORTCULLIS_ADMIN_KEY` or
//! `--admin-key-file` (never a flag value, which would show in `ps`). The answer is printed as
//! JSON (pretty, or one line with `--json`); an error prints its code and reason and exits 1
//! (a refusal) or 69 (the gateway unreachable or failing).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::commands::{env_lookup, runtime};
use crate::{EXIT_CONFIG, EXIT_UNAVAILABLE};

/// Longest an admin request may take.
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Args, Clone)]
pub struct Remote {
    /// The admin API, e.g. http://127.0.0.1:9090 (default: PORTCULLIS_ADMIN_URL).
    #[arg(long)]
    admin_url: Option<String>,
    /// A file holding the admin key (default: the PORTCULLIS_ADMIN_KEY variable).
    #[arg(long)]
    admin_key_file: Option<PathBuf>,
    /// Print the answer as one line of JSON.
    #[arg(long)]
    json: bool,
}

/// What went wrong, as an exit code (the message is printed already).
type Exit = ExitCode;

fn usage(message: impl std::fmt::Display) -> Exit {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_CONFIG)
}

fn segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Remote {
    fn base(&self) -> Result<String, Exit> {
        let url = self
            .admin_url
            .clone()
            .or_else(|| env_lookup("PORTCULLIS_ADMIN_URL"))
            .ok_or_else(|| usage("give --admin-url or set PORTCULLIS_ADMIN_URL"))?;
        let url = url.trim().trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(usage("the admin URL must start with http:// or https://"));
        }
        Ok(url.trim_end_matches("/admin/v1").to_string())
    }

    fn key(&self) -> Result<String, Exit> {
        let key = match &self.admin_key_file {
            Some(p) => {
                std::fs::read_to_string(p).map_err(|e| usage(format!("{}: {e}", p.display())))?
            }
            None => env_lookup("PORTCULLIS_ADMIN_KEY").ok_or_else(|| {
                usage("set PORTCULLIS_ADMIN_KEY to an admin key, or give --admin-key-file")
            })?,
        };
        let key = key.trim().to_string();
        if key.is_empty() || key.len() > 256 || !key.is_ascii() {
            return Err(usage("the admin key is empty or not an admin key"));
        }
        Ok(key)
    }

    /// Send one request; the status, the ETag and the body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<(StatusCode, Option<String>, Value), Exit> {
        let url = format!("{}{path}", self.base()?);
        let key = self.key()?;
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| usage(format!("cannot make an HTTP client: {e}")))?;
        let mut req = client.request(method, &url).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        let resp = req.send().await.map_err(|e| {
            eprintln!("error: {url}: {e}");
            ExitCode::from(EXIT_UNAVAILABLE)
        })?;
        let status = resp.status();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.map_err(|e| {
            eprintln!("error: {url}: {e}");
            ExitCode::from(EXIT_UNAVAILABLE)
        })?;
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, etag, v))
    }

    /// Print an answer and exit as it says.
    fn report(&self, status: StatusCode, v: &Value) -> ExitCode {
        if status.is_success() {
            if self.json {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
            }
            return ExitCode::SUCCESS;
        }
        if self.json {
            println!("{v}");
        }
        eprintln!(
            "error: {} {}: {}",
            status.as_u16(),
            v["code"].as_str().unwrap_or("-"),
            v["reason"].as_str().unwrap_or(&v.to_string())
        );
        if let Some(errors) = v["errors"].as_array() {
            for e in errors {
                eprintln!(
                    "  {}: {}",
                    e["field"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or("?")
                );
            }
        }
        if status.is_server_error() {
            ExitCode::from(EXIT_UNAVAILABLE)
        } else {
            ExitCode::FAILURE
        }
    }

    fn call(&self, method: Method, path: &str, body: Option<Value>) -> ExitCode {
        runtime().block_on(async {
            match self.send(method, path, body, None).await {
                Ok((status, _, v)) => self.report(status, &v),
                Err(code) => code,
            }
        })
    }

    pub fn get(&self, path: &str) -> ExitCode {
        self.call(Method::GET, path, None)
    }

    /// Read an object, then change it with its ETag in If-Match.
    fn edit(&self, path: &str, change: Value) -> ExitCode {
        runtime().block_on(async {
            let tag = match self.send(Method::GET, path, None, None).await {
                Ok((status, Some(tag), _)) if status.is_success() => tag,
                Ok((status, _, v)) => return self.report(status, &v),
                Err(code) => return code,
            };
            match self
                .send(Method::PATCH, path, Some(change), Some(&tag))
                .await
            {
                Ok((status, _, v)) => self.report(status, &v),
                Err(code) => code,
            }
        })
    }
}

/// `portcullis reload`: the running gateway reads its config file again.
pub fn reload(r: Remote) -> ExitCode {
    r.call(Method::POST, "/admin/v1/reload", None)
}

#[derive(Subcommand)]
pub enum TenantsCommand {
    List(Remote),
    Show {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Disable a tenant: its keys stop working at once.
    Disable {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    Enable {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn tenants(c: TenantsCommand) -> ExitCode {
    match c {
        TenantsCommand::List(r) => r.get("/admin/v1/tenants"),
        TenantsCommand::Show { name, remote } => {
            remote.get(&format!("/admin/v1/tenants/{}", segment(&name)))
        }
        TenantsCommand::Create {
            name,
            description,
            remote,
        } => remote.call(
            Method::POST,
            "/admin/v1/tenants",
            Some(json!({"name": name, "description": description})),
        ),
        TenantsCommand::Disable { name, remote } => remote.edit(
            &format!("/admin/v1/tenants/{}", segment(&name)),
            json!({"disabled": true}),
        ),
        TenantsCommand::Enable { name, remote } => remote.edit(
            &format!("/admin/v1/tenants/{}", segment(&name)),
            json!({"disabled": false}),
        ),
    }
}

#[derive(Subcommand)]
pub enum AgentKeysCommand {
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    Show {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Create an agent key; its secret is printed once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        agent: String,
        #[arg(long)]
        role: String,
        /// Lifetime, e.g. "30d".
        #[arg(long)]
        expires_in: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    Revoke {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// A new key for the same agent; the old one stays valid for the overlap.
    Rotate {
        id: String,
        #[arg(long)]
        overlap: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn agent_keys(c: AgentKeysCommand) -> ExitCode {
    match c {
        AgentKeysCommand::List { tenant, remote } => match tenant {
            Some(t) => remote.get(&format!("/admin/v1/keys?tenant={}", segment(&t))),
            None => remote.get("/admin/v1/keys"),
        },
        AgentKeysCommand::Show { id, remote } => {
            remote.get(&format!("/admin/v1/keys/{}", segment(&id)))
        }
        AgentKeysCommand::Create {
            tenant,
            agent,
            role,
            expires_in,
            remote,
        } => remote.call(
            Method::POST,
            "/admin/v1/keys",
            Some(json!({"tenant": tenant, "agent": agent, "role": role, "expiresIn": expires_in})),
        ),
        AgentKeysCommand::Revoke { id, remote } => remote.call(
            Method::POST,
            &format!("/admin/v1/keys/{}/revoke", segment(&id)),
            None,
        ),
        AgentKeysCommand::Rotate {
            id,
            overlap,
            remote,
        } => remote.call(
            Method::POST,
            &format!("/admin/v1/keys/{}/rotate", segment(&id)),
            Some(json!({"overlap": overlap})),
        ),
    }
}

#[derive(Subcommand)]
pub enum ControlsCommand {
    List(Remote),
    /// Engage a switch: global, read_only[:TENANT], class:C, tool:T, tenant:T, upstream:U, agent:T/A.
    Engage {
        scope: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Lift a switch.
    Lift {
        scope: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn controls(c: ControlsCommand) -> ExitCode {
    let (scope, engaged, reason, remote) = match c {
        ControlsCommand::List(r) => return r.get("/admin/v1/controls"),
        ControlsCommand::Engage {
            scope,
            reason,
            remote,
        } => (scope, true, reason, remote),
        ControlsCommand::Lift {
            scope,
            reason,
            remote,
        } => (scope, false, reason, remote),
    };
    remote.call(
        Method::PUT,
        &format!("/admin/v1/controls/{}", segment(&scope)),
        Some(json!({"engaged": engaged, "reason": reason})),
    )
}

#[derive(Args)]
pub struct RecordFilter {
    #[arg(long)]
    tenant: Option<String>,
    #[arg(long)]
    agent: Option<String>,
    #[arg(long)]
    tool: Option<String>,
    /// decision, outcome or control
    #[arg(long)]
    kind: Option<String>,
    #[arg(long)]
    decision: Option<String>,
    #[arg(long)]
    code: Option<String>,
    #[arg(long)]
    correlation_id: Option<String>,
    /// Unix ms or RFC 3339.
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    /// First sequence number to look at (a previous answer's next).
    #[arg(long)]
    from: Option<u64>,
    #[arg(long)]
    limit: Option<u64>,
}

#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Records matching every filter given, in ledger order.
    Query {
        #[command(flatten)]
        filter: RecordFilter,
        #[command(flatten)]
        remote: Remote,
    },
    /// One record with its inclusion proof.
    Record {
        seq: u64,
        #[command(flatten)]
        remote: Remote,
    },
    /// The latest signed checkpoint.
    Checkpoint(Remote),
    /// An export bundle (check it with 'portcullis audit verify-export').
    Export {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        /// Write here (mode 0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            s.append_pair(k, v);
        }
    }
    let q = s.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

pub fn ledger(c: LedgerCommand) -> ExitCode {
    match c {
        LedgerCommand::Query { filter: f, remote } => {
            let q = query(&[
                ("tenant", f.tenant),
                ("agent", f.agent),
                ("tool", f.tool),
                ("kind", f.kind),
                ("decision", f.decision),
                ("code", f.code),
                ("correlationId", f.correlation_id),
                ("since", f.since),
                ("until", f.until),
                ("from", f.from.map(|n| n.to_string())),
                ("limit", f.limit.map(|n| n.to_string())),
            ]);
            remote.get(&format!("/admin/v1/ledger/records{q}"))
        }
        LedgerCommand::Record { seq, remote } => {
            remote.get(&format!("/admin/v1/ledger/records/{seq}"))
        }
        LedgerCommand::Checkpoint(r) => r.get("/admin/v1/ledger/checkpoint"),
        LedgerCommand::Export {
            tenant,
            since,
            until,
            out,
            remote,
        } => {
            let q = query(&[("tenant", tenant), ("since", since), ("until", until)]);
            export(&remote, &format!("/admin/v1/ledger/export{q}"), out)
        }
    }
}

/// Stream an export to `out` or standard output.
fn export(r: &Remote, path: &str, out: Option<PathBuf>) -> ExitCode {
    runtime().block_on(async {
        let (base, key) = match (r.base(), r.key()) {
            (Ok(b), Ok(k)) => (b, k),
            (Err(c), _) | (_, Err(c)) => return c,
        };
        let url = format!("{base}{path}");
        let client = match reqwest::Client::builder().build() {
            Ok(c) => c,
            Err(e) => return usage(format!("cannot make an HTTP client: {e}")),
        };
        let mut resp = match client.get(&url).bearer_auth(key).send().await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {url}: {e}");
                return ExitCode::from(EXIT_UNAVAILABLE);
            }
        };
        if !resp.status().is_success() {
            let status = resp.status();
            let v = resp.json::<Value>().await.unwrap_or(Value::Null);
            return r.report(status, &v);
        }
        let out = out.as_deref();
        let mut sink = match crate::commands::private_sink(out) {
            Ok(s) => s,
            Err(e) => {
                return usage(format!(
                    "{}: {e}",
                    out.map(|p| p.display().to_string()).unwrap_or_default()
                ));
            }
        };
        loop {
            match resp.chunk().await {
                Ok(Some(bytes)) => {
                    if let Err(e) = sink.write_all(&bytes) {
                        eprintln!("error: cannot write the export: {e}");
                        return ExitCode::FAILURE;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("error: the export was cut off: {e}");
                    return ExitCode::from(EXIT_UNAVAILABLE);
                }
            }
        }
        if let Err(e) = crate::commands::finish_sink(sink, out) {
            eprintln!("error: cannot write the export: {e}");
            return ExitCode::FAILURE;
        }
        ExitCode::SUCCESS
    })
}

#[derive(Subcommand)]
pub enum GrantsCommand {
    /// Let ROLE use what PATTERN names (no write or destructive rights).
    Add {
        role: String,
        pattern: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a grant made with 'add'.
    Remove {
        role: String,
        pattern: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn grants(c: GrantsCommand) -> ExitCode {
    match c {
        GrantsCommand::Add {
            role,
            pattern,
            remote,
        } => remote.call(
            Method::POST,
            &format!("/admin/v1/roles/{}/grants", segment(&role)),
            Some(json!({"pattern": pattern})),
        ),
        GrantsCommand::Remove {
            role,
            pattern,
            remote,
        } => remote.call(
            Method::DELETE,
            &format!(
                "/admin/v1/roles/{}/grants{}",
                segment(&role),
                query(&[("pattern", Some(pattern))])
            ),
            None,
        ),
    }
}
