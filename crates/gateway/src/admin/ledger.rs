//! The ledger for auditors: records queried by tenant, agent, tool, kind, decision, code,
//! correlation id and time, paged by sequence number; one record with its inclusion proof;
//! the latest checkpoint; consistency proofs; and exports, streamed page by page. An auditor
//! key limited to a tenant sees that tenant's records only.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_identity::AdminRole;
use portcullis_ledger::{Record, canonical, proof};
use portcullis_protocol::ErrorCode;
use portcullis_store::export::{Export, ExportFailure, ExportScope};
use serde_json::{Value, json};

use super::tenants::segment;
use super::{Call, Reply, answer, unavailable};
use crate::endpoint::new_correlation_id;
use crate::ledger_api::{checkpoint_body, consistency_body, context, tree};
use crate::respond::{self, CORRELATION_HEADER, Failure};
use crate::state::AppState;

/// Longest query string read.
const MAX_QUERY: usize = 2048;
/// Longest value of one query parameter.
const MAX_VALUE: usize = 256;
/// Records a query returns by default, and at most.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;
/// Records one query reads at most; past that it answers with what it found and where to go
/// on (`next`).
const SCAN_BUDGET: u64 = 20_000;
/// Records read from the store at a time.
const PAGE: usize = 1000;

fn bad(reason: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::InvalidQuery, reason)
}

/// A query string: only known names, each once, percent-decoded, bounded.
pub struct Query(BTreeMap<String, String>);

impl Query {
    pub fn parse(q: Option<&str>, allowed: &[&str]) -> Result<Query, Failure> {
        let q = q.unwrap_or("");
        if q.len() > MAX_QUERY {
            return Err(bad(format!("the query is longer than {MAX_QUERY} bytes")));
        }
        let mut out = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                return Err(bad(format!(
                    "unknown parameter '{}'; this endpoint takes {}",
                    k.escape_default(),
                    allowed.join(", ")
                )));
            }
            if v.is_empty() || v.len() > MAX_VALUE || v.chars().any(char::is_control) {
                return Err(bad(format!(
                    "{k} must be 1-{MAX_VALUE} characters without control characters"
                )));
            }
            if out.insert(k.to_string(), v.to_string()).is_some() {
                return Err(bad(format!("{k} is given twice")));
            }
        }
        Ok(Query(out))
    }

    pub fn text(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    pub fn number(&self, k: &str) -> Result<Option<u64>, Failure> {
        self.text(k)
            .map(|v| {
                if v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad(format!("{k} must be a decimal number")));
                }
                v.parse()
                    .map_err(|_| bad(format!("{k} must be a decimal number")))
            })
            .transpose()
    }

    /// A time: Unix milliseconds, or RFC 3339.
    pub fn time(&self, k: &str) -> Result<Option<i64>, Failure> {
        self.text(k)
            .map(|v| {
                if let Ok(ms) = v.parse::<i64>() {
                    return Ok(ms);
                }
                time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                    .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                    .map_err(|_| bad(format!("{k} must be Unix milliseconds or RFC 3339")))
            })
            .transpose()
    }
}

/// What a record query keeps.
struct Filter {
    tenant: Option<String>,
    agent: Option<String>,
    tool: Option<String>,
    kind: Option<String>,
    decision: Option<String>,
    code: Option<String>,
    correlation_id: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
}

impl Filter {
    fn keeps(&self, r: &Record) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let opt = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        is(&self.tenant, &r.tenant)
            && is(&self.agent, &r.agent)
            && opt(&self.tool, r.tool.as_deref())
            && is(&self.kind, r.kind.as_str())
            && opt(&self.decision, r.decision.map(|d| d.as_str()))
            && opt(&self.code, r.code.as_deref())
            && is(&self.correlation_id, &r.correlation_id)
            && self.since_ms.is_none_or(|s| r.time_ms >= s)
            && self.until_ms.is_none_or(|u| r.time_ms < u)
    }
}

fn record_json(seq: u64, r: &Record) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    v["seq"] = json!(seq);
    v
}

#[utoipa::path(operation_id = "ledger_query", get, path = "/admin/v1/ledger/records", tag = "ledger",
    params(
        ("tenant" = Option<String>, Query, description = "Only this tenant's records"),
        ("agent" = Option<String>, Query, description = "Only this agent's records"),
        ("tool" = Option<String>, Query, description = "Only records of this namespaced tool"),
        ("kind" = Option<String>, Query, description = "decision, outcome or control"),
        ("decision" = Option<String>, Query, description = "allow, deny, dry_run or pending_approval"),
        ("code" = Option<String>, Query, description = "An error code, ok or tool_error"),
        ("correlationId" = Option<String>, Query, description = "Only records of this request"),
        ("since" = Option<String>, Query, description = "Made at or after: Unix ms or RFC 3339"),
        ("until" = Option<String>, Query, description = "Made before: Unix ms or RFC 3339"),
        ("from" = Option<u64>, Query, description = "First sequence number to look at (from a previous answer's next)"),
        ("limit" = Option<u64>, Query, description = "Most records to return (default 100, at most 1000)")),
    responses((status = 200, description = "Matching records in ledger order; next is where to go on, null at the end", body = super::openapi::RecordPage),
        (status = 400, description = "A bad query", body = super::openapi::ErrorView)))]
pub async fn query(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    answer(st, &headers, AdminRole::Auditor, |c: Call| async move {
        let q = Query::parse(
            q.as_deref(),
            &[
                "tenant",
                "agent",
                "tool",
                "kind",
                "decision",
                "code",
                "correlationId",
                "since",
                "until",
                "from",
                "limit",
            ],
        )?;
        let text = |k: &str| q.text(k).map(str::to_string);
        let filter = Filter {
            tenant: c.admin.tenant_scope(text("tenant"))?,
            agent: text("agent"),
            tool: text("tool"),
            kind: text("kind"),
            decision: text("decision"),
            code: text("code"),
            correlation_id: text("correlationId"),
            since_ms: q.time("since")?,
            until_ms: q.time("until")?,
        };
        let limit = q.number("limit")?.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(bad(format!("limit must be 1-{MAX_LIMIT}")));
        }
        let size = c.st.stores.ledger.head().await.map_err(unavailable)?.size;
        let mut from = q.number("from")?.unwrap_or(0);
        let mut found = Vec::new();
        let mut scanned = 0u64;
        while from < size && (found.len() as u64) < limit && scanned < SCAN_BUDGET {
            let page =
                c.st.stores
                    .ledger
                    .read_records(from, PAGE)
                    .await
                    .map_err(unavailable)?;
            if page.is_empty() {
                from = size;
                break;
            }
            for row in page {
                from = row.seq + 1;
                scanned += 1;
                if !row.bytes.is_empty() {
                    let r = canonical::parse_canonical(&row.bytes).map_err(|e| {
                        Failure::new(
                            ErrorCode::AuditUnavailable,
                            format!(
                                "record {} cannot be read: {e}; run 'portcullis audit verify'",
                                row.seq
                            ),
                        )
                    })?;
                    if filter.keeps(&r) {
                        found.push(record_json(row.seq, &r));
                    }
                }
                if found.len() as u64 >= limit || scanned >= SCAN_BUDGET {
                    break;
                }
            }
        }
        Ok(Reply::ok(json!({
            "records": found,
            "next": (from < size).then_some(from),
            "scanned": scanned,
            "ledgerSize": size,
        })))
    })
    .await
}

#[utoipa::path(operation_id = "ledger_record", get, path = "/admin/v1/ledger/records/{seq}", tag = "ledger",
    params(("seq" = u64, Path, description = "Sequence number")),
    responses((status = 200, description = "The record, its canonical text and, when a checkpoint covers it, its inclusion proof against that checkpoint", body = super::openapi::RecordView),
        (status = 404, description = "No such record (or not of the key's tenant)", body = super::openapi::ErrorView)))]
pub async fn record(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    seq: Result<Path<String>, PathRejection>,
) -> Response {
    answer(st, &headers, AdminRole::Auditor, |c: Call| async move {
        let seq_text = segment(seq)?;
        let seq: u64 = seq_text
            .parse()
            .ok()
            .filter(|_| seq_text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad("the sequence number must be a decimal number"))?;
        let missing = || Failure::new(ErrorCode::ObjectNotFound, format!("no record {seq}"));
        let ctx = context(&c.st).await?;
        if seq >= ctx.head.size {
            return Err(missing());
        }
        let row =
            c.st.stores
                .ledger
                .read_records(seq, 1)
                .await
                .map_err(unavailable)?
                .into_iter()
                .next()
                .filter(|r| r.seq == seq)
                .ok_or_else(missing)?;
        let mut body = json!({"seq": seq, "leafHash": hex::encode(row.leaf_hash)});
        if row.bytes.is_empty() {
            if c.admin.tenant.is_some() {
                return Err(missing());
            }
            body["pruned"] = json!(true);
        } else {
            let r = canonical::parse_canonical(&row.bytes).map_err(|e| {
                Failure::new(
                    ErrorCode::AuditUnavailable,
                    format!("record {seq} cannot be read: {e}"),
                )
            })?;
            if c.admin.tenant.as_ref().is_some_and(|t| *t != r.tenant) {
                return Err(missing());
            }
            body["record"] = record_json(seq, &r);
            body["canonical"] = json!(String::from_utf8_lossy(&row.bytes));
        }
        if let Some(cp) = ctx.latest.as_ref().filter(|cp| seq < cp.size) {
            let size = cp.size;
            let t = tree(&c.st, size).await?;
            let p = proof::inclusion(&t, seq, size).map_err(bad)?;
            body["proof"] = ctx.with_note(p, size)?;
        } else {
            body["proof"] = Value::Null;
        }
        Ok(Reply::ok(body))
    })
    .await
}

#[utoipa::path(operation_id = "ledger_checkpoint", get, path = "/admin/v1/ledger/checkpoint", tag = "ledger",
    responses((status = 200, description = "The latest signed checkpoint", body = super::openapi::CheckpointView),
        (status = 404, description = "None signed yet", body = super::openapi::ErrorView)))]
pub async fn checkpoint(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    answer(st, &headers, AdminRole::Auditor, |c: Call| async move {
        Ok(Reply::ok(checkpoint_body(context(&c.st).await?)?))
    })
    .await
}

#[utoipa::path(operation_id = "ledger_consistency", get, path = "/admin/v1/ledger/proof/consistency", tag = "ledger",
    params(("from" = u64, Query, description = "The older tree size"),
        ("to" = Option<u64>, Query, description = "The newer tree size (default: the latest checkpoint's)")),
    responses((status = 200, description = "The consistency proof", body = Object),
        (status = 400, description = "A bad query", body = super::openapi::ErrorView)))]
pub async fn consistency(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    answer(st, &headers, AdminRole::Auditor, |c: Call| async move {
        let ctx = context(&c.st).await?;
        Ok(Reply::ok(
            consistency_body(&c.st, &ctx, q.as_deref()).await?,
        ))
    })
    .await
}

#[utoipa::path(operation_id = "ledger_export", get, path = "/admin/v1/ledger/export", tag = "ledger",
    params(("tenant" = Option<String>, Query, description = "Only this tenant's records"),
        ("since" = Option<String>, Query, description = "Made at or after: Unix ms or RFC 3339"),
        ("until" = Option<String>, Query, description = "Made before: Unix ms or RFC 3339")),
    responses((status = 200, description = "An export bundle (docs/ledger.md), streamed; check it with 'portcullis audit verify-export'", body = Object),
        (status = 404, description = "No checkpoint signed yet", body = super::openapi::ErrorView)))]
pub async fn export(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let cid = new_correlation_id();
    let started = async {
        let admin = super::auth::authenticate(&st, &headers).await?;
        admin.require(AdminRole::Auditor)?;
        let q = Query::parse(q.as_deref(), &["tenant", "since", "until"])?;
        let scope = ExportScope {
            tenant: admin.tenant_scope(q.text("tenant").map(str::to_string))?,
            since_ms: q.time("since")?,
            until_ms: q.time("until")?,
        };
        Export::start(
            st.stores.ledger.clone(),
            st.stores.checkpoints.as_ref(),
            scope,
        )
        .await
        .map_err(|e| match e {
            ExportFailure::NoCheckpoint => {
                Failure::new(ErrorCode::NoCheckpoint, "no checkpoint has been signed yet")
            }
            e => unavailable(e),
        })
    }
    .await;
    let export = match started {
        Ok(e) => e,
        Err(f) => return respond::http_error(&f, &cid),
    };
    let log_cid = cid.clone();
    let chunks = futures::stream::unfold(Some(export), move |state| {
        let cid = log_cid.clone();
        async move {
            let mut export = state?;
            match export.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), Some(export))),
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(correlation_id = %cid, error = %e, "export cut off");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    let mut r = Response::new(Body::from_stream(chunks));
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&cid) {
        h.insert(CORRELATION_HEADER, v);
    }
    r
}
