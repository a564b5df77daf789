//! From upstream config to a running connector's spec: resolves the command (`@portcullis`
//! is this binary; bare names are looked up in PATH), and secret references, once, at start.

use std::path::{Path, PathBuf};

use portcullis_control::config::EnvValue;
use portcullis_control::{Transport, UpstreamConfig};
use portcullis_upstream::{TransportSpec, UpstreamSpec};

/// The environment, as a lookup; passed in so nothing below reads the process env directly.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub const SELF_COMMAND: &str = "@portcullis";

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
        let p = PathBuf::from(command);
        let p = if p.is_absolute() { p } else { base_dir.join(p) };
        return candidate(p.clone())
            .ok_or_else(|| format!("command {} does not exist", p.display()));
    }
    let path = env("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find_map(|dir| candidate(dir.join(command)))
        .ok_or_else(|| format!("command '{command}' is not in PATH"))
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
        } => {
            let command =
                resolve_command(command, base_dir, self_exe, env).map_err(|m| at("command", m))?;
            let mut resolved = Vec::new();
            for (k, v) in vars {
                let value = match v {
                    EnvValue::Literal(s) => s.clone(),
                    EnvValue::Secret(r) => {
                        r.resolve(env).map_err(|m| at(&format!("env.{k}"), m))?
                    }
                };
                resolved.push((k.clone(), value));
            }
            TransportSpec::Stdio {
                command,
                args: args.clone(),
                env: resolved,
                cwd: cwd.clone(),
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
