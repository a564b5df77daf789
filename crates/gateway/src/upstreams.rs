//! From upstream config to a running connector's spec: resolves the command (`@portcullis`
//! is this binary; bare names are looked up in PATH), the child's environment, and secret
//! references, once, at start.
//!
//! A stdio child never inherits the gateway's environment (it would see the gateway's secrets).
//! It gets a minimal one that lets ordinary programs and `#!/usr/bin/env` scripts (`npx`,
//! `uvx`, Python entry points) run: `PATH` = the command's own directory and the standard
//! system directories, `HOME` and `LANG` (from the gateway's environment when set; `LANG`
//! defaults to `C.UTF-8`). The upstream's `env` table adds to it and wins over it.

use std::path::{Path, PathBuf};

use portcullis_control::config::EnvValue;
use portcullis_control::{Transport, UpstreamConfig};
use portcullis_upstream::{TransportSpec, UpstreamSpec};

/// The environment, as a lookup; passed in so nothing below reads the process env directly.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub const SELF_COMMAND: &str = "@portcullis";

/// The directories on every stdio child's `PATH`, after its command's own directory.
pub const SYSTEM_PATH: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The environment a stdio child starts from (its `env` table is added over it).
pub fn base_env(command: &Path, env: EnvLookup<'_>) -> Vec<(String, String)> {
    let mut dirs: Vec<String> = Vec::new();
    let own = command
        .parent()
        .and_then(Path::to_str)
        .filter(|d| !d.is_empty());
    for d in own.into_iter().chain(SYSTEM_PATH) {
        if !dirs.iter().any(|x| x == d) {
            dirs.push(d.to_string());
        }
    }
    let mut out = vec![("PATH".to_string(), dirs.join(":"))];
    if let Some(home) = env("HOME") {
        out.push(("HOME".into(), home));
    }
    out.push((
        "LANG".into(),
        env("LANG").unwrap_or_else(|| "C.UTF-8".into()),
    ));
    out
}

fn resolve_command(
    command: &str,
    base_dir: &Path,
    self_exe: &Path,
    env: EnvLookup<'_>,
) -> Result<PathBuf, String> {
    if command == SELF_COMMAND {
        return Ok(self_exe.to_path_buf());
    }
    let candidate = |p: PathBuf| p.is_file().then_some(p);
    if command.contains('/') {
        let p = portcullis_control::config::resolve_path(base_dir, command);
        return candidate(p.clone())
            .ok_or_else(|| format!("command {} does not exist", p.display()));
    }
    let path = env("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find_map(|dir| candidate(dir.join(command)))
        .ok_or_else(|| format!("command '{command}' is not in PATH"))
}

/// Every problem starting upstream number `index` would hit — a command that cannot be found, a
/// working directory that is not one, a secret reference that does not resolve — as (field,
/// message) pairs, without starting anything. `check-config` reports them all at once.
pub fn problems(
    cfg: &UpstreamConfig,
    index: usize,
    base_dir: &Path,
    self_exe: &Path,
    env: EnvLookup<'_>,
) -> Vec<(String, String)> {
    let f = |k: &str| format!("upstreams[{index}].{k}");
    let mut out = Vec::new();
    match &cfg.transport {
        Transport::Stdio {
            command,
            env: vars,
            cwd,
            ..
        } => {
            if let Err(m) = resolve_command(command, base_dir, self_exe, env) {
                out.push((f("command"), m));
            }
            if let Some(dir) = cwd
                && !dir.is_dir()
            {
                out.push((f("cwd"), format!("{} is not a directory", dir.display())));
            }
            for (k, v) in vars {
                if let EnvValue::Secret(r) = v
                    && let Err(m) = r.resolve(env)
                {
                    out.push((f(&format!("env.{k}")), m));
                }
            }
        }
        Transport::Http { headers, .. } => {
            for (k, r) in headers {
                if let Err(m) = r.resolve(env) {
                    out.push((f(&format!("headers.{k}")), m));
                }
            }
        }
    }
    out
}

/// Build the connector spec for one upstream. Errors name the upstream and the field.
pub fn spec(
    cfg: &UpstreamConfig,
    base_dir: &Path,
    self_exe: &Path,
    env: EnvLookup<'_>,
) -> Result<UpstreamSpec, String> {
    let at = |field: &str, msg: String| format!("upstream '{}' {field}: {msg}", cfg.name);
    let transport = match &cfg.transport {
        Transport::Stdio {
            command,
            args,
            env: vars,
            cwd,
            strict_attribution,
        } => {
            let command =
                resolve_command(command, base_dir, self_exe, env).map_err(|m| at("command", m))?;
            let mut resolved = base_env(&command, env);
            for (k, v) in vars {
                let value = match v {
                    EnvValue::Literal(s) => s.clone(),
                    EnvValue::Secret(r) => {
                        r.resolve(env).map_err(|m| at(&format!("env.{k}"), m))?
                    }
                };
                resolved.retain(|(name, _)| name != k);
                resolved.push((k.clone(), value));
            }
            TransportSpec::Stdio {
                command,
                args: args.clone(),
                env: resolved,
                cwd: cwd.clone(),
                strict_attribution: *strict_attribution,
            }
        }
        Transport::Http { url, headers } => {
            let mut resolved = Vec::new();
            for (k, r) in headers {
                let value = r.resolve(env).map_err(|m| at(&format!("headers.{k}"), m))?;
                resolved.push((k.clone(), value));
            }
            TransportSpec::Http {
                url: url.clone(),
                headers: resolved,
            }
        }
    };
    Ok(UpstreamSpec {
        name: cfg.name.clone(),
        transport,
        call_timeout: cfg.timeout,
        max_response_bytes: cfg.max_response_bytes,
        protocol_version: cfg.protocol_version.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_gets_a_minimal_path_home_and_lang() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/op".to_string()),
            "PATH" => Some("/secret/bin".to_string()),
            "API_TOKEN" => Some("s3cret".to_string()),
            _ => None,
        };
        let base = base_env(Path::new("/opt/node/bin/npx"), &env);
        assert_eq!(
            base,
            vec![
                (
                    "PATH".to_string(),
                    "/opt/node/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                        .to_string()
                ),
                ("HOME".to_string(), "/home/op".to_string()),
                ("LANG".to_string(), "C.UTF-8".to_string()),
            ]
        );
        let base = base_env(Path::new("/usr/bin/python3"), &|_| None);
        assert_eq!(
            base[0].1, "/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/bin",
            "the command's directory first, and no directory twice"
        );
        assert_eq!(base.len(), 2, "no HOME when the gateway has none");
    }
}
