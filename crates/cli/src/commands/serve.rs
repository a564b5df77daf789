//! `serve` and `quickstart`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use portcullis_control::{Config, Overrides};
use portcullis_store::Stores;
use tokio_util::sync::CancellationToken;

use super::{env_lookup, load_config_with, open_store, runtime};
use crate::{EXIT_CONFIG, EXIT_UNAVAILABLE};

#[derive(Args)]
pub struct ServeArgs {
    #[arg(long)]
    config: PathBuf,
    /// Listen address (overrides server.listen), e.g. 127.0.0.1:0 for any free port, or a host
    /// name and port that resolves, e.g. localhost:8080.
    #[arg(long, value_parser = portcullis_control::config::parse_listen)]
    listen: Option<SocketAddr>,
    /// Where the admin API listens (overrides [admin] listen and turns it on).
    #[arg(long, value_parser = portcullis_control::config::parse_listen)]
    admin_listen: Option<SocketAddr>,
    /// Data directory (overrides store.data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct QuickstartArgs {
    /// Listen address (an IP and port, or a host name and port that resolves).
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = portcullis_control::config::parse_listen)]
    listen: SocketAddr,
    /// Data directory for keys and the ledger.
    #[arg(long, default_value = ".portcullis")]
    data_dir: PathBuf,
    /// Where the admin API listens.
    #[arg(long, default_value = portcullis_control::config::DEFAULT_ADMIN_LISTEN, value_parser = portcullis_control::config::parse_listen)]
    admin_listen: SocketAddr,
}

/// The quickstart config, built into the binary so the quickstart runs from anywhere.
const QUICKSTART_TOML: &str = include_str!("../../../../examples/quickstart.toml");

pub fn serve(a: ServeArgs) -> ExitCode {
    let overrides = Overrides {
        listen: a.listen,
        admin_listen: a.admin_listen,
        data_dir: a.data_dir,
    };
    let config = match load_config_with(&a.config, &overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let source = portcullis_gateway::reload::Source {
        path: a.config.clone(),
        overrides,
    };
    start(config, None, Some(source))
}

pub fn quickstart(a: QuickstartArgs) -> ExitCode {
    let overrides = Overrides {
        listen: Some(a.listen),
        admin_listen: Some(a.admin_listen),
        data_dir: Some(a.data_dir.clone()),
    };
    let config =
        match Config::from_bytes_with(QUICKSTART_TOML.as_bytes(), Path::new("."), &overrides) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("the quickstart config with these options is invalid:\n{e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
    start(
        config,
        Some(Quickstart {
            data_dir: a.data_dir,
        }),
        None,
    )
}

struct Quickstart {
    data_dir: PathBuf,
}

/// Raise the soft limit on open files to the hard one: every connection and child pipe is a
/// descriptor, and the usual soft default (1024) runs out long before the connection caps.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!(from = soft, to = hard, "open-file limit raised"),
            Err(e) => tracing::warn!(error = %e, soft, "open-file limit could not be raised"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "open-file limit could not be read"),
    }
}

/// Run a config that was validated with every override applied.
fn start(
    config: Config,
    quick: Option<Quickstart>,
    config_source: Option<portcullis_gateway::reload::Source>,
) -> ExitCode {
    let logs = crate::logging::init("info");
    raise_open_file_limit();
    let self_exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot find this executable's path: {e}");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    let rt = runtime();
    rt.block_on(async move {
        let listener = match portcullis_gateway::bind(config.server.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_UNAVAILABLE);
            }
        };
        let admin_listener = match config.admin.listen {
            None => None,
            Some(addr) => match portcullis_gateway::bind(addr).await {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!("error: the admin API: {e} (set [admin] listen, or --admin-listen)");
                    return ExitCode::from(EXIT_UNAVAILABLE);
                }
            },
        };
        let store = match open_store(&config.store.sqlite_path(), config.store.busy_timeout) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let quick_key = match &quick {
            Some(q) => match super::keys::quickstart_key(store.as_ref()).await {
                Ok(k) => Some((k, q.data_dir.clone())),
                Err(e) => {
                    eprintln!("error: cannot create the quickstart key: {e}");
                    return ExitCode::from(EXIT_UNAVAILABLE);
                }
            },
            None => None,
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(wait_for_signal(shutdown.clone()));
        let base_path = config.server.base_path.clone();
        let scheme = if config.server.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let result = portcullis_gateway::run(
            config,
            portcullis_gateway::Services {
                stores: Stores::of(store),
                clock: portcullis_clock::system(),
                self_exe,
                env: &env_lookup,
                log_lines_dropped: Some(logs.dropped()),
                admin_listener,
                config_source,
            },
            listener,
            shutdown,
            |running| {
                if let Some(a) = running.admin_addr {
                    println!("portcullis admin API listening on {scheme}://{a}/admin/v1");
                }
                let url = format!("{scheme}://{}{}", running.addr, base_path);
                println!("portcullis listening on {url}");
                if let Some((key, data_dir)) = &quick_key {
                    print_quickstart(&url, key, data_dir);
                }
            },
        )
        .await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_UNAVAILABLE)
            }
        }
    })
}

fn print_quickstart(url: &str, key: &Option<String>, data_dir: &Path) {
    match key {
        Some(k) => println!(
            "\nA new agent key was created (tenant demo, agent quickstart, role agent).\n\
             It is shown only this once; only its hash is stored:\n\n    {k}\n\n\
             Connect any MCP client to {url} with the header\n    Authorization: Bearer {k}\n\
             For example:\n    curl -s {url} -H 'Authorization: Bearer {k}' -H 'Content-Type: application/json' \\\n      \
             -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"1\"}}}}}}' -i\n"
        ),
        None => println!(
            "\nThe quickstart key was created on an earlier run and is not shown again.\n\
             Create another with:\n    portcullis keys create --data-dir {} --tenant demo --agent me --role agent\n",
            data_dir.display()
        ),
    }
    std::io::Write::flush(&mut std::io::stdout()).ok();
}

async fn wait_for_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                token.cancel();
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    token.cancel();
}
