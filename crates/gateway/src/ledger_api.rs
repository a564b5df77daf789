//! Audit plane read endpoints, authenticated with the same API keys as the MCP endpoint:
//! `GET /api/ledger/checkpoint` (the latest signed checkpoint), `/api/ledger/proof/inclusion
//! ?seq=N[&size=M]` and `/api/ledger/proof/consistency?from=A[&to=B]`. Sizes default to the
//! latest checkpoint's, so a proof checks against a signed root. Only hashes are served, never
//! record content, so any tenant's key may ask. The public key is not served here: an auditor
//! must get it out of band (`portcullis audit pubkey`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use portcullis_ledger::merkle::Tree;
use portcullis_ledger::proof;
use portcullis_protocol::ErrorCode;
use portcullis_store::{LedgerHead, StoredCheckpoint};
use serde_json::{Value, json};

use crate::endpoint::new_correlation_id;
use crate::ops::authorize_api;
use crate::respond::{self, Failure};
use crate::state::AppState;

/// Longest query string accepted.
const MAX_QUERY: usize = 256;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/ledger/checkpoint", get(checkpoint))
        .route("/api/ledger/proof/inclusion", get(inclusion))
        .route("/api/ledger/proof/consistency", get(consistency))
}

fn invalid(reason: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::InvalidQuery, reason)
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Failure {
    Failure::new(ErrorCode::AuditUnavailable, "the ledger is unavailable").caused_by(e)
}

/// Parse `a=1&b=2` into numbers: only `allowed` names, each at most once, decimal values.
pub fn parse_query(
    query: Option<&str>,
    allowed: &[&str],
) -> Result<BTreeMap<String, u64>, Failure> {
    let q = query.unwrap_or("");
    if q.len() > MAX_QUERY {
        return Err(invalid(format!(
            "the query is longer than {MAX_QUERY} bytes"
        )));
    }
    let mut out = BTreeMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| invalid(format!("'{pair}' is not name=value")))?;
        if !allowed.contains(&k) {
            return Err(invalid(format!(
                "unknown parameter '{k}'; this endpoint takes {}",
                allowed.join(", ")
            )));
        }
        if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!("{k} must be a decimal number")));
        }
        let n = v
            .parse()
            .map_err(|_| invalid(format!("{k} must be a decimal number")))?;
        if out.insert(k.to_string(), n).is_some() {
            return Err(invalid(format!("{k} is given twice")));
        }
    }
    Ok(out)
}

/// The ledger's size and latest checkpoint, read once for one answer.
pub(crate) struct Ctx {
    pub(crate) head: LedgerHead,
    pub(crate) latest: Option<StoredCheckpoint>,
}

async fn prepare(st: &AppState, parts: &Parts, cid: &str) -> Result<Ctx, Failure> {
    authorize_api(st, parts, cid).await?;
    context(st).await
}

pub(crate) async fn context(st: &AppState) -> Result<Ctx, Failure> {
    let head = st.stores.ledger.head().await.map_err(unavailable)?;
    let latest = st
        .stores
        .checkpoints
        .latest_checkpoint()
        .await
        .map_err(unavailable)?;
    Ok(Ctx { head, latest })
}

impl Ctx {
    /// `size` as asked, else the latest checkpoint's; at most the ledger's size.
    pub(crate) fn size(&self, asked: Option<u64>, name: &str) -> Result<u64, Failure> {
        let size = match (asked, &self.latest) {
            (Some(s), _) => s,
            (None, Some(cp)) => cp.size,
            (None, None) => {
                return Err(Failure::new(
                    ErrorCode::NoCheckpoint,
                    "no checkpoint has been signed yet",
                ));
            }
        };
        if size > self.head.size {
            return Err(invalid(format!(
                "{name} {size} is beyond the ledger's {} records",
                self.head.size
            )));
        }
        Ok(size)
    }

    /// A proof as JSON, with the signed note when `size` is the latest checkpoint's.
    pub(crate) fn with_note(
        &self,
        proof: impl serde::Serialize,
        size: u64,
    ) -> Result<Value, Failure> {
        let mut v = serde_json::to_value(proof).map_err(unavailable)?;
        v["checkpoint"] = self
            .latest
            .as_ref()
            .filter(|c| c.size == size)
            .map_or(Value::Null, |c| Value::String(c.note.clone()));
        Ok(v)
    }
}

pub(crate) async fn tree(st: &AppState, size: u64) -> Result<Tree, Failure> {
    st.stores
        .ledger
        .leaf_hashes(0, size)
        .await
        .map(Tree::new)
        .map_err(unavailable)
}

fn reply(cid: &str, r: Result<Value, Failure>) -> Response {
    match r {
        Ok(v) => respond::json_ok(&v, cid),
        Err(f) => respond::http_error(&f, cid),
    }
}

async fn checkpoint(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    let (parts, _) = req.into_parts();
    let uri = &parts.uri;
    let cid = new_correlation_id();
    let r = async {
        let ctx = prepare(&st, &parts, &cid).await?;
        parse_query(uri.query(), &[])?;
        checkpoint_body(ctx)
    }
    .await;
    reply(&cid, r)
}

async fn inclusion(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    let (parts, _) = req.into_parts();
    let uri = &parts.uri;
    let cid = new_correlation_id();
    let r = async {
        let ctx = prepare(&st, &parts, &cid).await?;
        let q = parse_query(uri.query(), &["seq", "size"])?;
        let seq = *q.get("seq").ok_or_else(|| invalid("seq is required"))?;
        let size = ctx.size(q.get("size").copied(), "size")?;
        let t = tree(&st, size).await?;
        let v = proof::inclusion(&t, seq, size).map_err(invalid)?;
        ctx.with_note(v, size)
    }
    .await;
    reply(&cid, r)
}

async fn consistency(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    let (parts, _) = req.into_parts();
    let uri = &parts.uri;
    let cid = new_correlation_id();
    let r = async {
        let ctx = prepare(&st, &parts, &cid).await?;
        consistency_body(&st, &ctx, uri.query()).await
    }
    .await;
    reply(&cid, r)
}

/// The latest checkpoint, as `/api/ledger/checkpoint` and the admin API show it.
pub(crate) fn checkpoint_body(ctx: Ctx) -> Result<Value, Failure> {
    let cp = ctx.latest.ok_or_else(|| {
        Failure::new(ErrorCode::NoCheckpoint, "no checkpoint has been signed yet")
    })?;
    Ok(json!({
        "size": cp.size,
        "root": hex::encode(cp.root),
        "timeMs": cp.time_ms,
        "note": cp.note,
        "ledgerSize": ctx.head.size,
    }))
}

/// A consistency proof for `from=A[&to=B]`.
pub(crate) async fn consistency_body(
    st: &AppState,
    ctx: &Ctx,
    query: Option<&str>,
) -> Result<Value, Failure> {
    let q = parse_query(query, &["from", "to"])?;
    let from = *q.get("from").ok_or_else(|| invalid("from is required"))?;
    let to = ctx.size(q.get("to").copied(), "to")?;
    let t = tree(st, to).await?;
    let v = proof::consistency(&t, from, to).map_err(invalid)?;
    ctx.with_note(v, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_parsed_strictly() {
        let q = parse_query(Some("seq=3&size=10"), &["seq", "size"]).unwrap();
        assert_eq!((q["seq"], q["size"]), (3, 10));
        assert!(parse_query(None, &["seq"]).unwrap().is_empty());
        for bad in [
            "seq=-1",
            "seq=",
            "seq",
            "seq=1&seq=2",
            "seq=0x10",
            "seq=1e3",
            "seq=%31",
            "seq=99999999999999999999",
            "other=1",
            "seq=1;drop",
        ] {
            let e = parse_query(Some(bad), &["seq", "size"]).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidQuery, "{bad}");
        }
        let long = format!("seq={}", "1".repeat(300));
        assert!(parse_query(Some(&long), &["seq"]).is_err());
    }
}
