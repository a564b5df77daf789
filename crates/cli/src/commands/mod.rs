//! Subcommands. Each file is one command family; all share config and store loading here.

mod actors;
mod admin;
mod audit;
mod check_config;
mod controls;
mod demo;
mod keys;
mod serve;
mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use portcullis_control::Config;
use portcullis_store::{SqliteOptions, SqliteStore};

use crate::EXIT_CONFIG;

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(serve::ServeArgs),
    /// Run the quickstart: the demo server behind the gateway, with a fresh agent key.
    Quickstart(serve::QuickstartArgs),
    /// Validate a config file: exit 0, or 64 with every error naming its field.
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
    },
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Make keys for signing actor requests.
    #[command(subcommand)]
    Actors(actors::ActorsCommand),
    /// Engage, lift and list kill switches.
    #[command(subcommand)]
    Controls(controls::ControlsCommand),
    /// Show the federated tool catalog.
    #[command(subcommand)]
    Tools(tools::ToolsCommand),
    /// Inspect and verify the audit ledger.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run the demo MCP server (stdio by default).
    DemoServer(demo::DemoArgs),
    /// Admin keys, and the admin API of a running gateway (--admin-url).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Make a running gateway read its config file again (through its admin API).
    Reload(admin::Remote),
}

pub fn run(cmd: Command) -> ExitCode {
    match cmd {
        Command::Serve(a) => serve::serve(a),
        Command::Quickstart(a) => serve::quickstart(a),
        Command::CheckConfig { config } => check_config::run(&config),
        Command::Keys(k) => keys::run(k),
        Command::Controls(c) => controls::run(c),
        Command::Actors(a) => actors::run(a),
        Command::Tools(t) => tools::run(t),
        Command::Audit(a) => audit::run(a),
        Command::DemoServer(a) => demo::run(a),
        Command::Admin(a) => admin::run(a),
        Command::Reload(r) => admin::reload(r),
    }
}

/// The data directory the quickstart and the default config use.
pub const DEFAULT_DATA_DIR: &str = ".portcullis";

/// Where the store is: `--data-dir`, else the config's `store.data_dir`, else `./.portcullis`
/// if it exists.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Config file (its store settings locate the data directory).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config's store.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Load and validate a config, printing every error and returning exit 64 on failure.
pub fn load_config(path: &Path) -> Result<Config, ExitCode> {
    load_config_with(path, &portcullis_control::Overrides::default())
}

/// [`load_config`] with command-line overrides, validated together with the file.
pub fn load_config_with(
    path: &Path,
    overrides: &portcullis_control::Overrides,
) -> Result<Config, ExitCode> {
    Config::load_with(path, overrides).map_err(|e| {
        eprintln!("config {} is invalid:", path.display());
        for err in e.errors() {
            eprintln!("  {}: {}", err.field, err.message);
        }
        ExitCode::from(EXIT_CONFIG)
    })
}

impl StoreArgs {
    /// The config (if given) and the SQLite path.
    pub fn resolve(&self) -> Result<(Option<Config>, PathBuf), ExitCode> {
        let config = self.config.as_deref().map(load_config).transpose()?;
        let (dir, file) = match (&self.data_dir, &config) {
            (Some(d), c) => (d.clone(), c.as_ref().map(|c| c.store.sqlite_file.clone())),
            (None, Some(c)) => (c.store.data_dir.clone(), Some(c.store.sqlite_file.clone())),
            (None, None) if Path::new(DEFAULT_DATA_DIR).is_dir() => {
                (PathBuf::from(DEFAULT_DATA_DIR), None)
            }
            (None, None) => {
                eprintln!(
                    "error: give --config or --data-dir to find the store (./{DEFAULT_DATA_DIR} does not exist here)"
                );
                return Err(ExitCode::from(EXIT_CONFIG));
            }
        };
        Ok((
            config,
            dir.join(file.unwrap_or_else(|| "portcullis.db".into())),
        ))
    }

    pub fn open(&self) -> Result<(Option<Config>, Arc<SqliteStore>), ExitCode> {
        let (config, path) = self.resolve()?;
        let busy = config
            .as_ref()
            .map(|c| c.store.busy_timeout)
            .unwrap_or(std::time::Duration::from_secs(2));
        let store = open_store(&path, busy)?;
        Ok((config, store))
    }
}

pub fn open_store(
    path: &Path,
    busy_timeout: std::time::Duration,
) -> Result<Arc<SqliteStore>, ExitCode> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir);
    }
    SqliteStore::open(SqliteOptions {
        path: path.to_path_buf(),
        busy_timeout,
    })
    .map(Arc::new)
    .map_err(|e| {
        eprintln!("error: cannot open the store at {}: {e}", path.display());
        ExitCode::from(crate::EXIT_UNAVAILABLE)
    })
}

/// Create the data directory readable by its owner only.
/// Where an export is written: standard output, or `path` created (or truncated) with mode 0600,
/// buffered.
pub fn private_sink(path: Option<&Path>) -> std::io::Result<Box<dyn std::io::Write>> {
    let Some(path) = path else {
        return Ok(Box::new(std::io::stdout().lock()));
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    Ok(Box::new(std::io::BufWriter::new(opts.open(path)?)))
}

/// Flush what [`private_sink`] wrote and, for a file, make it durable.
pub fn finish_sink(mut sink: Box<dyn std::io::Write>, path: Option<&Path>) -> std::io::Result<()> {
    sink.flush()?;
    drop(sink);
    match path {
        Some(p) => std::fs::File::open(p)?.sync_all(),
        None => Ok(()),
    }
}

fn create_private_dir(dir: &Path) {
    if dir.as_os_str().is_empty() || dir.exists() {
        return;
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    let _ = b.create(dir);
}

/// A current-thread-free multi-threaded runtime for commands.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The process environment as a lookup, read here at the binary's edge only.
#[allow(clippy::disallowed_methods)]
pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
