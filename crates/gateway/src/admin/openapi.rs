//! The admin API's OpenAPI 3.1 document, generated from the handlers' annotations and the
//! shapes below (which mirror the JSON the handlers write). Served at `/admin/openapi.json`
//! and checked in as `docs/admin-openapi.json`; a test fails when the two differ
//! (`portcullis admin openapi > docs/admin-openapi.json` writes it anew).

#![allow(dead_code)]

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::Value;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::endpoint::new_correlation_id;
use crate::respond;

/// Grows whenever the document changes shape; clients may check it.
pub const SCHEMA_VERSION: u32 = 1;

/// The error contract (`docs/errors.md`); some codes add members.
#[derive(ToSchema)]
pub struct ErrorView {
    code: String,
    reason: String,
    #[schema(rename = "correlationId")]
    correlation_id: String,
    guidance: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    key_id: String,
    /// admin_key or oidc
    auth_method: String,
    name: String,
    /// auditor, approver or admin
    role: String,
    /// The one tenant an auditor key may read, if it is limited to one.
    tenant: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    name: String,
    description: String,
    disabled: bool,
    disabled_ms: Option<i64>,
    created_ms: i64,
    updated_ms: i64,
    /// The tenant's ETag is this number in double quotes.
    version: u64,
}

#[derive(ToSchema)]
pub struct TenantList {
    tenants: Vec<TenantView>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    id: String,
    tenant: String,
    agent: String,
    role: String,
    created_ms: i64,
    expires_ms: Option<i64>,
    revoked_ms: Option<i64>,
    /// active, rotating, expired or revoked
    state: String,
}

#[derive(ToSchema)]
pub struct KeyList {
    keys: Vec<KeyView>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewKeyView {
    key: KeyView,
    /// The key itself: shown this once, never again.
    secret: String,
    /// After a rotation: when the old key stops working.
    old_key_revoked_ms: Option<i64>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SwitchView {
    scope: String,
    engaged: bool,
    reason: String,
    actor: String,
    updated_ms: i64,
}

#[derive(ToSchema)]
pub struct SwitchList {
    switches: Vec<SwitchView>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleView {
    name: String,
    /// From the config file.
    allow: Vec<String>,
    /// Made through the admin API.
    grants: Vec<String>,
    allow_write: bool,
    allow_destructive: bool,
}

#[derive(ToSchema)]
pub struct UnusedGrant {
    role: String,
    pattern: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleList {
    /// read-only or enforce
    mode: String,
    roles: Vec<RoleView>,
    /// Grants of roles the config file does not define (they change nothing).
    unused_grants: Vec<UnusedGrant>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    role: String,
    pattern: String,
    actor: String,
    created_ms: i64,
}

#[derive(ToSchema)]
pub struct UpstreamList {
    upstreams: Vec<BTreeMap<String, Value>>,
    unlisted: Vec<String>,
    breakers: Vec<BTreeMap<String, Value>>,
}

#[derive(ToSchema)]
pub struct ToolView {
    name: String,
    upstream: String,
    /// read, write or destructive
    class: String,
    /// Hex SHA-256 of the tool's canonical definition.
    pin: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogView {
    hash: String,
    tools: Vec<ToolView>,
    rebuild_error: Option<String>,
}

#[derive(ToSchema)]
pub struct QuotaList {
    /// Each: quota, window, resetsAtMs, and calls / costUnits with used and limit.
    quotas: Vec<BTreeMap<String, Value>>,
}

#[derive(ToSchema)]
pub struct EffectiveConfig {
    /// What the config file decides, as in force.
    file: BTreeMap<String, Value>,
    /// What the store decides.
    store: BTreeMap<String, Value>,
    precedence: Vec<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReloadView {
    ok: bool,
    at_ms: i64,
    actor: String,
    old_hash: String,
    new_hash: Option<String>,
    applied: Vec<String>,
    restart_required: Vec<String>,
    errors: Vec<BTreeMap<String, Value>>,
    generation: u64,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordPage {
    /// Each record as in docs/ledger.md, with its seq.
    records: Vec<BTreeMap<String, Value>>,
    /// Where to go on (the from of the next query); null when the ledger's end was reached.
    next: Option<u64>,
    scanned: u64,
    ledger_size: u64,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    seq: u64,
    leaf_hash: String,
    record: Option<BTreeMap<String, Value>>,
    /// The canonical bytes the leaf hash is taken of, as text.
    canonical: Option<String>,
    /// The record's content was pruned (its leaf hash stays).
    pruned: Option<bool>,
    /// Inclusion proof against the latest checkpoint, if it covers the record.
    proof: Option<BTreeMap<String, Value>>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointView {
    size: u64,
    root: String,
    time_ms: i64,
    /// The signed note (C2SP).
    note: String,
    ledger_size: u64,
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "adminKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("pca_<id>_<secret>")
                    .description(Some("An admin key (portcullis admin keys create)"))
                    .build(),
            ),
        );
        doc.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "adminKey",
            Vec::<String>::new(),
        )]);
        doc.info.extensions = Some(
            ExtensionsBuilder::new()
                .add("x-schema-version", SCHEMA_VERSION)
                .build(),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis admin API",
        description = "The control plane of a Portcullis gateway: tenants, agent keys, controls, the ledger, reload. Guide: docs/admin.md.",
        version = "1"
    ),
    paths(
        super::auth::whoami,
        super::tenants::list,
        super::tenants::create,
        super::tenants::read,
        super::tenants::update,
        super::keys::list,
        super::keys::create,
        super::keys::read,
        super::keys::revoke,
        super::keys::rotate,
        super::roles::list,
        super::roles::add,
        super::roles::remove,
        super::gateway::upstreams,
        super::gateway::catalog,
        super::gateway::quotas,
        super::gateway::effective_config,
        super::gateway::reload,
        super::controls::list,
        super::controls::set,
        super::ledger::query,
        super::ledger::record,
        super::ledger::checkpoint,
        super::ledger::consistency,
        super::ledger::export,
    ),
    components(schemas(
        ErrorView, WhoAmI, TenantView, TenantList, KeyView, KeyList, NewKeyView, SwitchView,
        SwitchList, RoleView, UnusedGrant, RoleList, GrantView, UpstreamList, ToolView, CatalogView, QuotaList, EffectiveConfig,
        ReloadView, RecordPage, RecordView, CheckpointView,
        super::tenants::NewTenant, super::tenants::TenantChange, super::keys::NewKey,
        super::keys::Rotation, super::controls::SwitchChange, super::roles::NewGrant,
    )),
    modifiers(&Security),
)]
pub struct AdminApi;

/// The document as JSON text (pretty, as checked in).
pub fn text() -> String {
    let doc = AdminApi::openapi();
    let mut out = doc.to_pretty_json().unwrap_or_default();
    out.push('\n');
    out
}

pub async fn document() -> Response {
    let v: Value = serde_json::from_str(&text()).unwrap_or(Value::Null);
    respond::json_ok(&v, &new_correlation_id())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checked_in_document_is_the_one_the_code_makes() {
        let checked_in = include_str!("../../../../docs/admin-openapi.json");
        assert!(
            checked_in == super::text(),
            "docs/admin-openapi.json is stale: run 'portcullis admin openapi > docs/admin-openapi.json'"
        );
    }
}
