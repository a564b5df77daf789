//! Agent keys: the lifecycle shared by the admin API (`/admin/v1/keys`) and the local CLI
//! (`portcullis keys`), and the API's handlers. A key's secret is shown once, when it is made;
//! only its hash is stored.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_identity::{AdminRole, GeneratedKey, KeyRecord, valid_label};
use portcullis_protocol::ErrorCode;
use portcullis_store::{KeyStore, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::acts::{Act, record_act, record_failure};
use super::tenants::segment;
use super::{Call, Reply, answer, invalid, parse_body, read_body, unavailable};
use crate::respond::Failure;
use crate::state::AppState;

/// Make and store a key at `now_ms`; returns the record and the token (to show once).
pub async fn create_key(
    store: &dyn KeyStore,
    tenant: &str,
    agent: &str,
    role: &str,
    expires_in: Option<Duration>,
    now_ms: i64,
) -> Result<(KeyRecord, String), StoreError> {
    let k = GeneratedKey::generate();
    let record = KeyRecord {
        id: k.id.clone(),
        tenant: tenant.to_string(),
        agent: agent.to_string(),
        role: role.to_string(),
        hash_hex: hex::encode(k.hash),
        created_ms: now_ms,
        expires_ms: expires_in.map(|d| now_ms.saturating_add(d.as_millis() as i64)),
        revoked_ms: None,
        tenant_disabled_ms: None,
    };
    store.insert_key(record.clone()).await?;
    Ok((record, k.token))
}

/// Why a key cannot be rotated, if it cannot.
pub fn rotation_refused(old: &KeyRecord, now_ms: i64) -> Option<String> {
    let id = &old.id;
    if old.revoked_ms.is_some_and(|r| r <= now_ms) {
        return Some(format!("the key '{id}' is revoked"));
    }
    if old.expires_ms.is_some_and(|e| e <= now_ms) {
        return Some(format!("the key '{id}' has expired"));
    }
    if old.revoked_ms.is_some() {
        return Some(format!("the key '{id}' is already being rotated"));
    }
    None
}

/// Rotate `old` at `now_ms`: a new key for the same tenant, agent and role, with the same
/// lifetime, while the old one stays valid for `overlap` and is revoked after it. Returns the
/// new key, its token, and when the old one stops working.
pub async fn rotate_key(
    store: &dyn KeyStore,
    old: &KeyRecord,
    overlap: Duration,
    now_ms: i64,
) -> Result<(KeyRecord, String, i64), String> {
    if let Some(why) = rotation_refused(old, now_ms) {
        return Err(why);
    }
    let id = &old.id;
    let lifetime = old
        .expires_ms
        .map(|e| Duration::from_millis(e.saturating_sub(old.created_ms).max(0) as u64));
    let (new, token) = create_key(store, &old.tenant, &old.agent, &old.role, lifetime, now_ms)
        .await
        .map_err(|e| e.to_string())?;
    let until = now_ms.saturating_add(overlap.as_millis() as i64);
    match store.revoke_key(id, until).await {
        Ok(true) => Ok((new, token, until)),
        Ok(false) => Err(format!(
            "the new key {} was made, but the key '{id}' could not be scheduled for revocation; revoke it yourself",
            new.id
        )),
        Err(e) => Err(format!(
            "the new key {} was made, but revoking '{id}' failed ({e}); revoke it yourself",
            new.id
        )),
    }
}

/// A key as shown (never its secret or hash).
pub fn key_view(k: &KeyRecord, now_ms: i64) -> Value {
    let state = if k.revoked_ms.is_some_and(|r| r <= now_ms) {
        "revoked"
    } else if k.expires_ms.is_some_and(|e| e <= now_ms) {
        "expired"
    } else if k.revoked_ms.is_some() {
        "rotating"
    } else {
        "active"
    };
    json!({
        "id": k.id, "tenant": k.tenant, "agent": k.agent, "role": k.role,
        "createdMs": k.created_ms, "expiresMs": k.expires_ms, "revokedMs": k.revoked_ms, "state": state,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct NewKey {
    /// An existing, enabled tenant.
    #[schema(pattern = "^[A-Za-z0-9_.@-]{1,128}$")]
    pub tenant: String,
    /// The agent the key identifies (1-128 characters of A-Z a-z 0-9 _ - . @).
    #[schema(pattern = "^[A-Za-z0-9_.@-]{1,128}$")]
    pub agent: String,
    /// A role of the config's [roles] tables.
    #[schema(pattern = "^[A-Za-z0-9_.@-]{1,128}$")]
    pub role: String,
    /// Lifetime, e.g. "30d", "12h"; none means the key does not expire.
    #[schema(example = "30d")]
    pub expires_in: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long the old key stays valid, e.g. "24h" ("0s": revoked at once).
    #[schema(example = "24h")]
    pub overlap: String,
}

fn duration(field: &str, v: &str) -> Result<Duration, Failure> {
    humantime::parse_duration(v)
        .map_err(|e| invalid(format!("{field} '{}': {e}", v.escape_default())))
}

fn not_found(id: &str) -> Failure {
    Failure::new(
        ErrorCode::ObjectNotFound,
        format!("no agent key '{}'", id.escape_default()),
    )
}

async fn stored(c: &Call, id: &str) -> Result<KeyRecord, Failure> {
    c.st.stores
        .keys
        .find_key(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_found(id))
}

#[utoipa::path(operation_id = "keys_list", get, path = "/admin/v1/keys", tag = "keys",
    params(("tenant" = Option<String>, Query, description = "Only this tenant's keys")),
    responses((status = 200, description = "Agent keys, oldest first (never their secrets)", body = super::openapi::KeyList)))]
pub async fn list(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        let q = super::ledger::Query::parse(query.as_deref(), &["tenant"])?;
        let tenant = q.text("tenant");
        let now = c.st.clock.now_ms();
        let keys = c.st.stores.keys.list_keys().await.map_err(unavailable)?;
        let shown: Vec<Value> = keys
            .iter()
            .filter(|k| tenant.is_none_or(|t| k.tenant == t))
            .map(|k| key_view(k, now))
            .collect();
        Ok(Reply::ok(json!({"keys": shown})))
    })
    .await
}

#[utoipa::path(operation_id = "keys_create", post, path = "/admin/v1/keys", tag = "keys", request_body = NewKey,
    responses((status = 201, description = "The key and its secret, shown only now", body = super::openapi::NewKeyView),
        (status = 422, description = "Unknown tenant or role, or a bad field", body = super::openapi::ErrorView)))]
pub async fn create(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let h = &headers;
    answer(st, h, AdminRole::Admin, |c: Call| async move {
        let new: NewKey = parse_body(&read_body(h, body).await?)?;
        for (name, v) in [("tenant", &new.tenant), ("agent", &new.agent), ("role", &new.role)] {
            if !valid_label(v) {
                return Err(invalid(format!(
                    "{name} must be 1-128 characters of A-Z a-z 0-9 _ - . @"
                )));
            }
        }
        match c.st.stores.admin.tenant(&new.tenant).await.map_err(unavailable)? {
            None => {
                return Err(invalid(format!(
                    "tenant '{}' does not exist: create it first (POST /admin/v1/tenants)",
                    new.tenant
                )));
            }
            Some(t) if t.disabled_ms.is_some() => {
                return Err(invalid(format!("tenant '{}' is disabled", new.tenant)));
            }
            Some(_) => {}
        }
        if !c.st.live().policy.roles.contains_key(&new.role) {
            let mut known: Vec<String> = c.st.live().policy.roles.keys().cloned().collect();
            known.sort();
            return Err(invalid(format!(
                "role '{}' is not defined (roles: {})",
                new.role,
                known.join(", ")
            )));
        }
        let expires_in = new
            .expires_in
            .as_deref()
            .map(|v| duration("expiresIn", v))
            .transpose()?;
        let now = c.st.clock.now_ms();
        let planned = json!({"tenant": new.tenant, "agent": new.agent, "role": new.role, "expiresIn": new.expires_in});
        let act = Act {
            action: "keys.create",
            object: format!("agent:{}/{}", new.tenant, new.agent),
            tenant: new.tenant.clone(),
            before: None,
            after: Some(&planned),
        };
        record_act(&c, &act).await?;
        match create_key(
            c.st.stores.keys.as_ref(),
            &new.tenant,
            &new.agent,
            &new.role,
            expires_in,
            now,
        )
        .await
        {
            Ok((record, token)) => Ok(Reply::created(json!({
                "key": key_view(&record, now),
                "secret": token,
            }))),
            Err(e) => Err(record_failure(&c, &act, unavailable(e)).await),
        }
    })
    .await
}

#[utoipa::path(operation_id = "keys_read", get, path = "/admin/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, description = "The key (never its secret)", body = super::openapi::KeyView),
        (status = 404, description = "No such key", body = super::openapi::ErrorView)))]
pub async fn read(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    answer(st, &headers, AdminRole::Admin, |c: Call| async move {
        let k = stored(&c, &segment(id)?).await?;
        Ok(Reply::ok(key_view(&k, c.st.clock.now_ms())))
    })
    .await
}

#[utoipa::path(operation_id = "keys_revoke", post, path = "/admin/v1/keys/{id}/revoke", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, description = "The key, revoked from now on (a revoked key stays revoked)", body = super::openapi::KeyView),
        (status = 404, description = "No such key", body = super::openapi::ErrorView)))]
pub async fn revoke(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let h = &headers;
    answer(st, h, AdminRole::Admin, |c: Call| async move {
        let id = segment(id)?;
        read_body(h, body).await?;
        let old = stored(&c, &id).await?;
        let now = c.st.clock.now_ms();
        if old.revoked_ms.is_some_and(|r| r <= now) {
            // Nothing changes: it is revoked already.
            return Ok(Reply::ok(key_view(&old, now)));
        }
        let mut next = old.clone();
        next.revoked_ms = Some(now);
        let (before, after) = (key_view(&old, now), key_view(&next, now));
        let act = Act {
            action: "keys.revoke",
            object: format!("key:{id}"),
            tenant: old.tenant.clone(),
            before: Some(&before),
            after: Some(&after),
        };
        record_act(&c, &act).await?;
        match c.st.stores.keys.revoke_key(&id, now).await {
            Ok(true) => Ok(Reply::ok(after)),
            Ok(false) => Err(record_failure(&c, &act, not_found(&id)).await),
            Err(e) => Err(record_failure(&c, &act, unavailable(e)).await),
        }
    })
    .await
}

#[utoipa::path(operation_id = "keys_rotate", post, path = "/admin/v1/keys/{id}/rotate", tag = "keys", request_body = Rotation,
    params(("id" = String, Path, description = "Key id")),
    responses((status = 201, description = "The new key and its secret, shown only now; the old key stops at oldKeyRevokedMs", body = super::openapi::NewKeyView),
        (status = 409, description = "The key is revoked, expired or being rotated", body = super::openapi::ErrorView)))]
pub async fn rotate(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let h = &headers;
    answer(st, h, AdminRole::Admin, |c: Call| async move {
        let id = segment(id)?;
        let rotation: Rotation = parse_body(&read_body(h, body).await?)?;
        let overlap = duration("overlap", &rotation.overlap)?;
        let old = stored(&c, &id).await?;
        let now = c.st.clock.now_ms();
        if let Some(why) = rotation_refused(&old, now) {
            return Err(Failure::new(ErrorCode::StateConflict, why));
        }
        let before = key_view(&old, now);
        let planned = json!({"rotates": id, "overlap": rotation.overlap});
        let act = Act {
            action: "keys.rotate",
            object: format!("key:{id}"),
            tenant: old.tenant.clone(),
            before: Some(&before),
            after: Some(&planned),
        };
        record_act(&c, &act).await?;
        match rotate_key(c.st.stores.keys.as_ref(), &old, overlap, now).await {
            Ok((new, token, until)) => Ok(Reply::created(json!({
                "key": key_view(&new, now),
                "secret": token,
                "oldKeyRevokedMs": until,
            }))),
            Err(why) => {
                Err(record_failure(&c, &act, Failure::new(ErrorCode::AuditUnavailable, why)).await)
            }
        }
    })
    .await
}
