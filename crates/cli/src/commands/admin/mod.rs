//! `admin`: admin keys (local, on the data directory: how the first admin gets in), the admin
//! API's OpenAPI document, and every admin API action against a running gateway
//! (`--admin-url`, the key from `PORTCULLIS_ADMIN_KEY` or `--admin-key-file`).

mod keys;
mod remote;

use std::process::ExitCode;

use clap::Subcommand;

pub use remote::{Remote, reload};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create, list and revoke admin keys on the data directory (break-glass and bootstrap).
    #[command(subcommand)]
    Keys(keys::AdminKeysCommand),
    /// Print the admin API's OpenAPI document.
    Openapi,
    /// Who the admin key is.
    Whoami(Remote),
    /// Tenants: list, show, create, disable, enable.
    #[command(subcommand)]
    Tenants(remote::TenantsCommand),
    /// Agent keys: list, show, create, revoke, rotate.
    #[command(subcommand)]
    AgentKeys(remote::AgentKeysCommand),
    /// Kill switches and read-only modes: list, set.
    #[command(subcommand)]
    Controls(remote::ControlsCommand),
    /// The ledger: query records, one record with its proof, the checkpoint, an export.
    #[command(subcommand)]
    Ledger(remote::LedgerCommand),
    /// The roles in force: the file's allow patterns and the grants.
    Roles(Remote),
    /// Grants: allow patterns added to a role without editing the config file.
    #[command(subcommand)]
    Grants(remote::GrantsCommand),
    /// Each upstream's state.
    Upstreams(Remote),
    /// The tool catalog with classes and pins.
    Catalog(Remote),
    /// What is in force and where it comes from.
    EffectiveConfig(Remote),
}

pub fn run(cmd: AdminCommand) -> ExitCode {
    match cmd {
        AdminCommand::Keys(k) => keys::run(k),
        AdminCommand::Openapi => {
            print!("{}", portcullis_gateway::admin::openapi::text());
            ExitCode::SUCCESS
        }
        AdminCommand::Whoami(r) => r.get("/admin/v1/whoami"),
        AdminCommand::Tenants(c) => remote::tenants(c),
        AdminCommand::AgentKeys(c) => remote::agent_keys(c),
        AdminCommand::Controls(c) => remote::controls(c),
        AdminCommand::Ledger(c) => remote::ledger(c),
        AdminCommand::Roles(r) => r.get("/admin/v1/roles"),
        AdminCommand::Grants(c) => remote::grants(c),
        AdminCommand::Upstreams(r) => r.get("/admin/v1/upstreams"),
        AdminCommand::Catalog(r) => r.get("/admin/v1/catalog"),
        AdminCommand::EffectiveConfig(r) => r.get("/admin/v1/effective-config"),
    }
}
