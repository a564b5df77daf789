//! `check-config`: exit 0 when the file is valid, 64 with every error otherwise. Besides the
//! file itself it checks what `serve` would resolve, without starting anything: each stdio
//! upstream's command and working directory, every `env:`/`file:` reference, the data
//! directory and an existing checkpoint signing key. An empty config is valid but warned about.

use std::path::Path;
use std::process::ExitCode;

use portcullis_control::Config;
use portcullis_gateway::upstreams;

use super::env_lookup;
use crate::EXIT_CONFIG;

/// What `serve` would find wrong with a valid config, as (field, message).
fn resolution_problems(c: &Config) -> Vec<(String, String)> {
    let self_exe = std::env::current_exe().unwrap_or_default();
    let mut out: Vec<(String, String)> = c
        .upstreams
        .iter()
        .enumerate()
        .flat_map(|(i, u)| upstreams::problems(u, i, &c.base_dir, &self_exe, &env_lookup))
        .collect();
    let data = &c.store.data_dir;
    if data.exists() && !data.is_dir() {
        out.push((
            "store.data_dir".into(),
            format!("{} exists and is not a directory", data.display()),
        ));
    }
    let key = c.audit.signing_key_path(&c.store);
    if key.exists()
        && let Err(e) = portcullis_store::signing_key::load(&key)
    {
        out.push(("audit.signing_key".into(), e.to_string()));
    }
    out
}

/// What is valid but leaves the gateway of no use to anybody.
fn warnings(c: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    if c.upstreams.is_empty() {
        out.push("no [[upstreams]]: the gateway has no tools, prompts or resources to offer");
    }
    if c.policy.roles.is_empty() {
        out.push("no [roles.NAME]: no key can be given a role, so nobody can use the gateway");
    } else if c.policy.roles.values().all(|r| r.allow_patterns.is_empty()) {
        out.push("no role allows anything (every allow list is empty)");
    }
    out
}

pub fn run(path: &Path) -> ExitCode {
    let c = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let problems = resolution_problems(&c);
    if !problems.is_empty() {
        eprintln!("config {} is invalid:", path.display());
        for (field, message) in problems {
            eprintln!("  {field}: {message}");
        }
        return ExitCode::from(EXIT_CONFIG);
    }
    for w in warnings(&c) {
        eprintln!("warning: {w}");
    }
    println!(
        "config {} is valid: {} upstream(s), {} role(s), mode {}{}",
        path.display(),
        c.upstreams.len(),
        c.policy.roles.len(),
        c.effective_mode().as_str(),
        if c.demo_mode { " (demo_mode)" } else { "" }
    );
    ExitCode::SUCCESS
}
