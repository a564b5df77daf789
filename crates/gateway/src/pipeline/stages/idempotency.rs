//! Idempotency keys (`[idempotency]`): a live tool call with a key runs once. The key is
//! reserved (per tenant and agent) with the digest of the call; a retry with the same key and
//! the same call gets the first run's stored outcome without reaching the upstream, the same key
//! with a different call is `idempotency_conflict`, and a retry while the first run is still in
//! flight is `in_progress`. Live calls of the classes in `require_for` must carry a key.
//!
//! What is kept: the result, or a failure that may have left the tool run (a timeout, an
//! invalid or failed answer). A failure that proves nothing reached the tool (its upstream
//! unavailable) frees the key, as does a call that was not forwarded at all, so a retry runs.
//! A call cut short by a gateway crash keeps its key in flight until the TTL: the gateway
//! cannot know whether the tool ran, so it never runs it twice on its own.

use async_trait::async_trait;
use portcullis_protocol::ErrorCode;
use portcullis_store::Reservation;
use serde_json::{Map, Value, json};

use crate::audit;
use crate::pipeline::{Governed, GovernedMethod, Settlement, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

/// `_meta` key of a replayed result, naming the run it came from.
pub const REPLAY_META: &str = "io.portcullis/replayOf";

pub struct Idempotency;

/// The store key of an idempotency key: unambiguous whatever the names hold.
fn store_key(tenant: &str, agent: &str, key: &str) -> String {
    json!(["idempotency", tenant, agent, key]).to_string()
}

/// What a key is bound to: the tool and the digest of its arguments.
pub fn fingerprint(item: &str, args: &Value) -> String {
    format!("{} {}", audit::args_hash(args), item)
}

fn failed(e: portcullis_store::StoreError) -> Failure {
    Failure::new(
        ErrorCode::InternalError,
        "the idempotency key could not be checked",
    )
    .caused_by(e)
}

#[async_trait]
impl Stage for Idempotency {
    fn name(&self) -> &'static str {
        "idempotency"
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        if req.method != GovernedMethod::ToolsCall || !req.live {
            return Ok(Step::Continue);
        }
        let cfg = &st.config.idempotency;
        let Some(key) = req.idempotency_key else {
            let required = req
                .facts
                .class
                .is_some_and(|c| cfg.require_for.contains(&c));
            if !required {
                return Ok(Step::Continue);
            }
            let class = req.facts.class.map(|c| c.as_str()).unwrap_or("");
            return Ok(Step::Deny(Failure::new(
                ErrorCode::IdempotencyKeyRequired,
                format!(
                    "a live {class} call needs an idempotency key (the Idempotency-Key header), so that a retry cannot run it twice"
                ),
            )));
        };
        let item = req.item().unwrap_or_default();
        let digest = fingerprint(&item, req.arguments);
        let skey = store_key(&req.principal.tenant, &req.principal.agent, key);
        let until = req.now_ms.saturating_add(cfg.ttl.as_millis() as i64);
        req.facts
            .ledger
            .insert("idempotency_key".into(), key.to_string());
        let found = st
            .stores
            .replay
            .reserve(&skey, &digest, until, req.now_ms)
            .await
            .map_err(failed)?;
        Ok(match found {
            Reservation::Reserved => {
                req.facts.idempotency = Some(skey);
                Step::Continue
            }
            Reservation::InFlight { fingerprint } if fingerprint == digest => {
                Step::Deny(Failure::new(
                    ErrorCode::InProgress,
                    "the first call with this idempotency key is still running; retry later with the same key",
                ))
            }
            Reservation::Completed {
                fingerprint,
                result,
            } if fingerprint == digest => match stored(&result) {
                Some((cid, answer)) => {
                    req.facts.ledger.insert("replay_of".into(), cid);
                    Step::Replay(answer)
                }
                None => Step::Deny(Failure::new(
                    ErrorCode::InternalError,
                    "the stored outcome of this idempotency key could not be read",
                )),
            },
            Reservation::InFlight { .. } | Reservation::Completed { .. } => {
                Step::Deny(Failure::new(
                    ErrorCode::IdempotencyConflict,
                    "this idempotency key was used for a different call (another tool or other arguments)",
                ))
            }
        })
    }

    fn settle(&self, st: &AppState, s: &Settlement) {
        if let Some(key) = s.facts.idempotency.clone()
            && !s.forwarded()
        {
            release(st, key, "an idempotency key");
        }
    }
}

/// Free the reservation `key` (`what` it is, for the log) in the background.
pub(super) fn release(st: &AppState, key: String, what: &'static str) {
    let replay = st.stores.replay.clone();
    tokio::spawn(async move {
        if let Err(e) = replay.release(&key).await {
            tracing::warn!(error = %e, "{what} could not be released; it holds until it expires");
        }
    });
}

/// Keep the outcome of a forwarded call under its idempotency key (if it has one), before the
/// caller gets it, so a retry that follows the answer finds it.
pub async fn keep(st: &AppState, key: Option<&str>, cid: &str, result: &Result<Value, Failure>) {
    let Some(key) = key else { return };
    let body = match result {
        // Nothing reached the tool: a retry may run it.
        Err(f) if f.code == ErrorCode::UpstreamUnavailable => {
            release(st, key.to_string(), "an idempotency key");
            return;
        }
        Ok(v) => json!({ "cid": cid, "result": v }),
        Err(f) => json!({
            "cid": cid,
            "error": { "code": f.code, "message": f.reason, "data": f.data },
        }),
    };
    let until = st
        .clock
        .now_ms()
        .saturating_add(st.config.idempotency.ttl.as_millis() as i64);
    if let Err(e) = st
        .stores
        .replay
        .complete(key, body.to_string().into_bytes(), until)
        .await
    {
        tracing::warn!(request_id = %cid, error = %e, "an idempotency key's outcome could not be kept; the key holds as in flight until its TTL");
    }
}

/// A stored outcome: the correlation id of the run and what the caller gets now.
fn stored(bytes: &[u8]) -> Option<(String, Result<Value, Failure>)> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let cid = v.get("cid")?.as_str()?.to_string();
    if let Some(result) = v.get("result") {
        let mut result = result.clone();
        if let Value::Object(m) = &mut result {
            let meta = m
                .entry("_meta")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(meta) = meta {
                meta.insert(REPLAY_META.into(), json!(cid));
            }
        }
        return Some((cid, Ok(result)));
    }
    let e = v.get("error")?;
    let code: ErrorCode = serde_json::from_value(e.get("code")?.clone()).ok()?;
    let mut f = Failure::new(code, e.get("message")?.as_str()?);
    if let Some(Value::Object(data)) = e.get("data") {
        f.data = Some(data.clone());
    }
    Some((cid.clone(), Err(f.with("replayOf", json!(cid)))))
}

#[cfg(test)]
mod tests;
