//! Admin acts in the ledger. Each change made through the admin API is appended (durably)
//! before it is made: kind `control`, method `admin/<action>`, the admin key as agent and
//! credential, the request's correlation id, and as facts how the admin authenticated, its
//! role, the object, and SHA-256 digests of the object before and after (`-` for none). If
//! the change then fails, a second record with the same correlation id says so
//! (`admin/failed`, with the error code), so the ledger never claims a change that was not
//! made.

use std::collections::BTreeMap;

use portcullis_protocol::ErrorCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Call;
use crate::controls::operator_record;
use crate::respond::Failure;

/// One change, as the ledger records it.
pub struct Act<'a> {
    /// `tenants.create`, `keys.revoke`, ...
    pub action: &'a str,
    /// What it changes: `tenant:acme`, `key:0123abcd4567`, ...
    pub object: String,
    /// The tenant it concerns, or empty.
    pub tenant: String,
    pub before: Option<&'a Value>,
    pub after: Option<&'a Value>,
}

/// Lower-case hex SHA-256 of an object's JSON (members in sorted order), or `-`.
pub fn digest(v: Option<&Value>) -> String {
    v.map_or_else(
        || "-".to_string(),
        |v| hex::encode(Sha256::digest(v.to_string().as_bytes())),
    )
}

fn record(
    c: &Call,
    method: String,
    tenant: String,
    facts: BTreeMap<String, String>,
) -> portcullis_ledger::Record {
    let mut r = operator_record(
        &method,
        tenant,
        &c.admin.actor(),
        None,
        facts,
        c.st.clock.now_ms(),
    );
    r.correlation_id = c.cid.clone();
    r.credential_id = c.admin.key_id.clone();
    r
}

fn base_facts(c: &Call, object: &str) -> BTreeMap<String, String> {
    let mut facts = BTreeMap::new();
    facts.insert("auth_method".to_string(), c.admin.auth_method.to_string());
    facts.insert("admin_name".to_string(), c.admin.name.clone());
    facts.insert("admin_role".to_string(), c.admin.role.as_str().to_string());
    facts.insert("object".to_string(), object.to_string());
    facts
}

/// Record `act` durably; if it cannot be recorded it must not be done (`audit_unavailable`).
pub async fn record_act(c: &Call, act: &Act<'_>) -> Result<(), Failure> {
    let mut facts = base_facts(c, &act.object);
    facts.insert("before".to_string(), digest(act.before));
    facts.insert("after".to_string(), digest(act.after));
    let r = record(
        c,
        format!("admin/{}", act.action),
        act.tenant.clone(),
        facts,
    );
    c.st.stores.ledger.append(r).await.map_err(|e| {
        Failure::new(
            ErrorCode::AuditUnavailable,
            "the change could not be recorded in the ledger, so it was not made",
        )
        .caused_by(e)
    })?;
    Ok(())
}

/// Record that the change recorded under this request's correlation id failed with `f`,
/// and hand `f` back. A failure to record this is logged: the act record stays, and the
/// caller is told the change failed.
pub async fn record_failure(c: &Call, act: &Act<'_>, f: Failure) -> Failure {
    let mut facts = base_facts(c, &act.object);
    facts.insert("action".to_string(), act.action.to_string());
    let mut r = record(c, "admin/failed".to_string(), act.tenant.clone(), facts);
    r.code = Some(f.code.as_str().to_string());
    if let Err(e) = c.st.stores.ledger.append(r).await {
        tracing::error!(correlation_id = %c.cid, error = %e, "a failed admin change could not be recorded as failed");
    }
    f
}
