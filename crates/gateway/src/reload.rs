//! Hot reload: SIGHUP, `POST /admin/v1/reload` and `portcullis reload` read the config file
//! again. It is validated first; an invalid file changes nothing (the last good config keeps
//! serving) and every error is reported: in the answer, the log, `/api/status` and the
//! `config_invalid` metric. A valid file puts its policy in force — `[policy] mode` and
//! `classes`, `[roles]`, `demo_mode` — for every request that starts from then on; requests in
//! flight finish under the policy they started with. Every other section is read at start
//! only: when it changed, the reload names it in `restartRequired` and the running value
//! stays. Each applied reload is a ledger record (`config/reload`, with the old and new config
//! hashes), durable before the new policy takes effect.

use std::collections::BTreeMap;
use std::path::PathBuf;

use portcullis_control::{Config, Overrides};
use serde::Serialize;
use serde_json::{Value, json};

use crate::controls::operator_record;
use crate::state::{AppState, Live};

/// Where the running config was read from.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub overrides: Overrides,
}

/// What a reload did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub ok: bool,
    pub at_ms: i64,
    /// Who asked: `signal:SIGHUP`, or `admin:<key id>`.
    pub actor: String,
    pub old_hash: String,
    /// The hash of the file read (also when it was refused).
    pub new_hash: Option<String>,
    /// The settings put in force (none when the policy did not change).
    pub applied: Vec<String>,
    /// Sections that changed but are read at start only: the running values stay.
    pub restart_required: Vec<String>,
    /// Why the file was refused: each error with the field it concerns.
    pub errors: Vec<Value>,
    /// The policy generation in force after it.
    pub generation: u64,
}

/// The sections a reload does not apply, with a rendering to compare.
fn start_only(c: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("server", format!("{:?}", c.server)),
        ("store", format!("{:?}", c.store)),
        ("audit", format!("{:?}", c.audit)),
        ("upstreams", format!("{:?}", c.upstreams)),
        ("limits.rate", format!("{:?}", c.rate_limits)),
        ("limits.quota", format!("{:?}", c.quotas)),
        ("tools", format!("{:?}", c.tools)),
        ("breakers", format!("{:?}", c.breakers)),
        ("idempotency", format!("{:?}", c.idempotency)),
        ("duplicates", format!("{:?}", c.duplicates)),
        ("identity", format!("{:?}", c.identity)),
        ("admin", format!("{:?}", c.admin)),
    ]
}

/// A policy's settings, each rendered to compare (roles by name, so the order is stable).
fn policy_parts(policy: &portcullis_policy::Policy) -> Vec<(&'static str, String)> {
    let roles: BTreeMap<&String, String> = policy
        .roles
        .iter()
        .map(|(n, r)| {
            (
                n,
                format!(
                    "{:?} {} {}",
                    r.allow_patterns, r.allow_write, r.allow_destructive
                ),
            )
        })
        .collect();
    vec![
        ("policy.mode", policy.mode.as_str().to_string()),
        ("policy.classes", format!("{:?}", policy.classes)),
        ("roles", format!("{roles:?}")),
    ]
}

fn changed(old: &[(&'static str, String)], new: &[(&'static str, String)]) -> Vec<String> {
    old.iter()
        .zip(new)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0.to_string())
        .collect()
}

/// Read the config file again and apply what can be applied. `Err` carries the outcome of a
/// refused reload (nothing changed).
pub async fn reload(st: &AppState, actor: &str) -> Result<Outcome, Outcome> {
    let _one = st.live_writer.lock().await;
    let now = st.clock.now_ms();
    let current = st.live();
    let mut outcome = Outcome {
        ok: false,
        at_ms: now,
        actor: actor.to_string(),
        old_hash: current.config_hash.clone(),
        new_hash: None,
        applied: Vec::new(),
        restart_required: Vec::new(),
        errors: Vec::new(),
        generation: current.generation,
    };
    let Some(source) = &st.config_source else {
        outcome.errors.push(json!({"field": "(file)", "message": "this gateway's config is built in (quickstart): there is no file to read again"}));
        return Err(refused(st, outcome, false));
    };
    let config = match Config::load_with(&source.path, &source.overrides) {
        Ok(c) => c,
        Err(e) => {
            outcome.new_hash = std::fs::read(&source.path).ok().map(|b| {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(b))
            });
            outcome.errors = e
                .errors()
                .into_iter()
                .map(|f| json!({"field": f.field, "message": f.message}))
                .collect();
            return Err(refused(st, outcome, true));
        }
    };
    outcome.new_hash = Some(config.hash.clone());
    outcome.restart_required = changed(&start_only(&st.config), &start_only(&config));
    let next = Live::new(
        config.policy.clone(),
        current.grants.clone(),
        config.hash.clone(),
        current.generation + 1,
    );
    outcome.applied = changed(
        &policy_parts(&current.file_policy),
        &policy_parts(&next.file_policy),
    );
    outcome.generation = next.generation;
    outcome.ok = true;
    let mut facts = BTreeMap::new();
    facts.insert("old_config_hash".to_string(), outcome.old_hash.clone());
    facts.insert("new_config_hash".to_string(), config.hash.clone());
    facts.insert("applied".to_string(), outcome.applied.join(","));
    facts.insert(
        "restart_required".to_string(),
        outcome.restart_required.join(","),
    );
    let record = operator_record("config/reload", String::new(), actor, None, facts, now);
    if let Err(e) = st.stores.ledger.append(record).await {
        outcome.ok = false;
        outcome.generation = current.generation;
        outcome.applied.clear();
        outcome.errors.push(json!({"field": "(ledger)", "message": format!("the reload could not be recorded, so it was not applied: {e}")}));
        return Err(refused(st, outcome, false));
    }
    let classes_changed = outcome.applied.iter().any(|a| a == "policy.classes");
    st.set_live(next);
    if classes_changed {
        // Tools are classified when the catalog is built: build it again under the new rules.
        if let Err(e) = st.update_listings(Vec::new()) {
            tracing::error!(error = %e, "the catalog could not be rebuilt under the reloaded classes; the previous one stays");
        }
    }
    if !outcome.applied.is_empty() {
        lists_changed(st);
    }
    st.metrics.reloads.inc();
    st.metrics.config_invalid.set(0);
    tracing::warn!(
        actor = %actor,
        old_hash = %outcome.old_hash,
        new_hash = %config.hash,
        applied = ?outcome.applied,
        restart_required = ?outcome.restart_required,
        "config reloaded"
    );
    remember(st, &outcome);
    Ok(outcome)
}

/// A refused reload, counted and reported; `invalid_file` when the file itself was refused.
/// Tell clients that what they may see may have changed.
fn lists_changed(st: &AppState) {
    crate::listen::list_changed(st, crate::listen::ListKind::Tools);
    crate::listen::list_changed(st, crate::listen::ListKind::Prompts);
    crate::listen::list_changed(st, crate::listen::ListKind::Resources);
}

/// Put the store's grants in force, if they differ from the ones in force: called whenever
/// the controls are read again, so a grant made through any replica's admin API reaches this
/// one on its next look.
pub async fn apply_grants(st: &AppState, grants: Vec<(String, String)>) {
    let _one = st.live_writer.lock().await;
    let current = st.live();
    if current.grants == grants {
        return;
    }
    let next = Live::new(
        current.file_policy.clone(),
        grants,
        current.config_hash.clone(),
        current.generation + 1,
    );
    for (role, pattern) in &next.unused_grants {
        tracing::warn!(role = %role, pattern = %pattern, "a grant changes nothing: its role is not in the config file, or its glob is not valid");
    }
    tracing::info!(
        grants = next.grants.len(),
        generation = next.generation,
        "grants put in force"
    );
    st.set_live(next);
    lists_changed(st);
}

fn refused(st: &AppState, outcome: Outcome, invalid_file: bool) -> Outcome {
    st.metrics.reload_failures.inc();
    if invalid_file {
        st.metrics.config_invalid.set(1);
    }
    tracing::error!(actor = %outcome.actor, errors = ?outcome.errors, "config reload refused; the last good config keeps serving");
    remember(st, &outcome);
    outcome
}

fn remember(st: &AppState, outcome: &Outcome) {
    *st.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome.clone());
}

/// The last reload, for `/api/status`: `null` before the first.
pub fn status_json(st: &AppState) -> Value {
    let last = st.last_reload.lock().unwrap_or_else(|p| p.into_inner());
    json!({
        "generation": st.live().generation,
        "last": last.as_ref().map(|o| serde_json::to_value(o).unwrap_or(Value::Null)),
    })
}
