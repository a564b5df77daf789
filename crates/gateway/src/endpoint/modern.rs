//! The stateless era (revision 2026-07-28): no session; every request carries its revision and
//! the client's capabilities in `_meta`, and mirrors its method and name into headers that
//! must match the body. `server/discover` describes the gateway, `subscriptions/listen` opens a
//! stream of change notifications, and a retry carrying `requestState` resumes a call that
//! waited for the client's input.

use std::collections::HashSet;

use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_protocol::mcp::{self, Era, Method};
use portcullis_protocol::{ErrorCode, Request};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Post;
use crate::listen::{Filter, Listener};
use crate::methods::{self, Call};
use crate::pipeline::{Decided, Detached, GovernedMethod, Requested};
use crate::relay::{self, Client, Exchange, ModernClient, mrtr};
use crate::respond::Failure;
use crate::session::outbox::{self, LIVE_BUFFER};

/// Whether a sessionless request claims revision 2026-07-28 or later: by header or by `_meta`.
pub(super) fn signals(headers: &HeaderMap, req: &Request) -> bool {
    let by_header = headers
        .get(mcp::HEADER_PROTOCOL_VERSION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| mcp::era_of(v) == Era::Modern);
    let by_meta = req
        .params
        .as_ref()
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(mcp::META_PROTOCOL_VERSION))
        .is_some();
    by_header || by_meta
}

fn mismatch(why: String) -> Failure {
    Failure::new(ErrorCode::HeaderMismatch, why)
}

/// The single value of a protocol header; a repeated one is a mismatch (it could hide a
/// contradiction).
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h [u8]>, Failure> {
    crate::ingress::single(headers, name)
        .map(|v| v.map(|v| v.as_bytes()))
        .map_err(|r| mismatch(r.to_string()))
}

/// Check the request's `_meta` and mirrored headers; the client as it declared itself.
pub(super) fn validate(
    headers: &HeaderMap,
    req: &Request,
    method: Method,
) -> Result<ModernClient, Failure> {
    let meta = req
        .params
        .as_ref()
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object);
    let meta_version = meta
        .and_then(|m| m.get(mcp::META_PROTOCOL_VERSION))
        .and_then(Value::as_str);
    let header_version = single(headers, mcp::HEADER_PROTOCOL_VERSION)?
        .map(|v| std::str::from_utf8(v).unwrap_or("\u{fffd}"));
    let Some(version) = meta_version else {
        return Err(Failure::new(
            ErrorCode::InvalidMeta,
            format!(
                "_meta.{} is missing or not a string",
                mcp::META_PROTOCOL_VERSION
            ),
        ));
    };
    match header_version {
        None => {
            return Err(mismatch(
                "the MCP-Protocol-Version header is missing".into(),
            ));
        }
        Some(h) if h != version => {
            return Err(mismatch(format!(
                "MCP-Protocol-Version header '{}' does not match _meta revision '{}'",
                h.escape_default(),
                version.escape_default()
            )));
        }
        Some(_) => {}
    }
    if !mcp::is_supported(version) || mcp::era_of(version) != Era::Modern {
        return Err(Failure::new(
            ErrorCode::UnsupportedProtocolVersion,
            format!(
                "revision '{}' is not supported here",
                version.escape_default()
            ),
        )
        .with("supported", json!(mcp::supported_versions()))
        .with("requested", json!(version)));
    }
    let capabilities = match meta.and_then(|m| m.get(mcp::META_CLIENT_CAPABILITIES)) {
        Some(c @ Value::Object(_)) => c.clone(),
        _ => {
            return Err(Failure::new(
                ErrorCode::InvalidMeta,
                format!("_meta.{} must be an object", mcp::META_CLIENT_CAPABILITIES),
            ));
        }
    };
    let log_rank = match meta.and_then(|m| m.get(mcp::META_LOG_LEVEL)) {
        None => None,
        Some(v) => Some(v.as_str().and_then(mcp::log_level_rank).ok_or_else(|| {
            Failure::new(
                ErrorCode::InvalidMeta,
                format!("_meta.{} is not a log level", mcp::META_LOG_LEVEL),
            )
        })?),
    };
    match single(headers, mcp::HEADER_METHOD)? {
        None => return Err(mismatch("the Mcp-Method header is missing".into())),
        Some(m) if m != req.method.as_bytes() => {
            return Err(mismatch(format!(
                "Mcp-Method header '{}' does not match method '{}'",
                String::from_utf8_lossy(m).escape_default(),
                req.method.escape_default()
            )));
        }
        Some(_) => {}
    }
    if let Some(field) = method.name_field() {
        let body = req
            .params
            .as_ref()
            .and_then(|p| p.get(field))
            .and_then(Value::as_str);
        let header = single(headers, mcp::HEADER_NAME)?
            .map(|raw| {
                mcp::decode_header_value(raw).map_err(|e| mismatch(format!("Mcp-Name: {e}")))
            })
            .transpose()?;
        match (header.as_deref(), body) {
            (Some(h), Some(b)) if h == b => {}
            (None, _) => return Err(mismatch("the Mcp-Name header is missing".into())),
            (Some(h), b) => {
                return Err(mismatch(format!(
                    "Mcp-Name header '{}' does not match params.{field} '{}'",
                    h.escape_default(),
                    b.unwrap_or("").escape_default()
                )));
            }
        }
    }
    Ok(ModernClient {
        version: version.to_string(),
        capabilities,
        log_rank,
    })
}

/// The `Mcp-Param-*` headers of a `tools/call` must match the arguments their tool's schema
/// marks with `x-mcp-header`: present when the argument is, equal after decoding.
fn check_param_headers(p: &Post<'_>, req: &Request) -> Result<(), Failure> {
    let Some(params) = req.params.as_ref() else {
        return Ok(());
    };
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Ok(());
    };
    let catalog = p.st.catalog();
    let Some(entry) = catalog.get(name) else {
        return Ok(());
    };
    let args = params.get("arguments").cloned().unwrap_or(Value::Null);
    let mut marked = Vec::new();
    collect_header_params(entry.definition.get("inputSchema"), &args, &mut marked, 0);
    let mut seen = HashSet::new();
    for (header, value) in marked {
        let key = format!("mcp-param-{}", header.to_ascii_lowercase());
        if !seen.insert(key.clone()) {
            continue;
        }
        let got = single(p.headers, &key)?
            .map(|raw| mcp::decode_header_value(raw).map_err(|e| mismatch(format!("{key}: {e}"))))
            .transpose()?;
        let expected = match &value {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        match (got, expected) {
            (_, None) => {}
            (None, Some(_)) => return Err(mismatch(format!("the {key} header is missing"))),
            (Some(g), Some(e)) if g == e || numbers_equal(&g, &value) => {}
            (Some(g), Some(_)) => {
                return Err(mismatch(format!(
                    "{key} header '{}' does not match the argument",
                    g.escape_default()
                )));
            }
        }
    }
    Ok(())
}

fn numbers_equal(header: &str, value: &Value) -> bool {
    match (header.parse::<f64>(), value.as_f64()) {
        (Ok(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The (header name, argument value) of every schema property marked `x-mcp-header` along a
/// chain of `properties` keys, where the argument is present.
fn collect_header_params(
    schema: Option<&Value>,
    args: &Value,
    out: &mut Vec<(String, Value)>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return;
    };
    for (key, sub) in props {
        let Some(value) = args.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        if let Some(h) = sub.get("x-mcp-header").and_then(Value::as_str) {
            out.push((h.to_string(), value.clone()));
        }
        collect_header_params(Some(sub), value, out, depth + 1);
    }
}

fn request_key(req: &Request, method: Method) -> String {
    let name = method
        .name_field()
        .and_then(|f| req.params.as_ref()?.get(f)?.as_str().map(str::to_string))
        .unwrap_or_default();
    format!("{} {name}", method.as_str())
}

pub(super) async fn request(p: &mut Post<'_>, req: Request, method: Method) -> Response {
    let mut ex = Exchange {
        st: p.st.clone(),
        principal: p.principal.clone(),
        client: Client::Modern(ModernClient {
            version: String::new(),
            capabilities: json!({}),
            log_rank: None,
        }),
        id: req.id.clone(),
        method,
        cid: p.cid.to_string(),
        accepts_json: p.accepts.json,
        accepts_sse: p.accepts.sse,
        cancel: CancellationToken::new(),
        request_key: request_key(&req, method),
        answered: false,
    };
    let validated = validate(p.headers, &req, method).and_then(|c| {
        if method == Method::ToolsCall {
            check_param_headers(p, &req)?;
        }
        Ok(c)
    });
    let client = match validated {
        Ok(c) => c,
        Err(f) => {
            p.log.code = Some(f.code.as_str().to_string());
            return ex.respond_now(Err(f));
        }
    };
    let log_rank = client.log_rank;
    ex.client = Client::Modern(client);
    if !method.in_modern() {
        let f = Failure::new(
            ErrorCode::MethodNotFound,
            format!(
                "method '{}' is not part of revision 2026-07-28",
                req.method.escape_default()
            ),
        );
        p.log.code = Some(f.code.as_str().to_string());
        return ex.respond_now(Err(f));
    }
    let accepts_sse = p.accepts.sse;
    let mut call = p.call(&req, None);
    if let Some(rank) = log_rank {
        methods::lower_log_level(&mut call, rank).await;
    }
    if method == Method::SubscriptionsListen {
        return listen(&mut call, ex, accepts_sse).await;
    }
    if mrtr::request_state(req.params.as_ref()).is_some() {
        return match mrtr::resume(&ex, req.params.as_ref()) {
            Ok((running, cancel)) => {
                ex.cancel = cancel;
                relay::drive(ex, running).await
            }
            Err(f) => {
                call.log.code = Some(f.code.as_str().to_string());
                ex.respond_now(Err(f))
            }
        };
    }
    let r = methods::dispatch(&mut call, method).await;
    relay::respond(ex, r).await
}

/// `subscriptions/listen`: acknowledge what the client may have, then stream those change
/// notifications until the client closes the stream. Each resource it asks to watch is
/// governed like a `resources/subscribe`: one it may not read is left out; the upstream is
/// asked (and the request recorded) when the first watcher of a URI comes.
async fn listen(c: &mut Call<'_>, mut ex: Exchange, accepts_sse: bool) -> Response {
    if !accepts_sse {
        let f = Failure::new(
            ErrorCode::NotAcceptable,
            "subscriptions/listen answers with a stream: accept text/event-stream",
        );
        c.log.code = Some(f.code.as_str().to_string());
        return ex.respond_now(Err(f));
    }
    let params: Option<&Map<String, Value>> = c.req.params.as_ref();
    let mut filter = match Filter::parse(params.and_then(|m| m.get("notifications"))) {
        Ok(f) => f,
        Err(why) => {
            let f = Failure::new(ErrorCode::InvalidParams, why);
            c.log.code = Some(f.code.as_str().to_string());
            return ex.respond_now(Err(f));
        }
    };
    let mut watched = Vec::new();
    let mut kept = Vec::new();
    for uri in std::mem::take(&mut filter.uris) {
        let args = json!({ "uri": uri });
        let decided = c
            .decide(
                GovernedMethod::ResourcesSubscribe,
                Requested::Resource(&uri),
                &args,
            )
            .await;
        let Decided::Allowed(permit) = decided else {
            continue;
        };
        let upstream = permit.upstream();
        let first = upstream.is_some() && c.st.resource_watch(&uri, true);
        match upstream {
            Some(u) if first => {
                let Value::Object(params) = args else {
                    continue;
                };
                let send = Detached {
                    upstream: u.clone(),
                    owner: None,
                };
                let _ = permit.detach(vec![send], params, json!({})).await;
                watched.push((uri.clone(), u));
            }
            Some(u) => {
                let _ = permit.answer(Ok(json!({}))).await;
                watched.push((uri.clone(), u));
            }
            None => {
                let _ = permit.answer(Ok(json!({}))).await;
            }
        }
        kept.push(uri);
    }
    filter.uris = kept;
    let subscription_id = c.req.id.to_value();
    let (tx, rx) = mpsc::channel(LIVE_BUFFER);
    let ack = json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": {
            "notifications": filter.to_value(),
            "_meta": { mcp::META_SUBSCRIPTION_ID: subscription_id },
        },
    });
    let _ = tx.try_send(outbox::frame(None, &ack));
    let closed = tx.clone();
    let key = c.st.listeners.add(Listener::new(
        subscription_id,
        c.principal.clone(),
        filter,
        tx,
    ));
    let st = c.st.clone();
    tokio::spawn(async move {
        closed.closed().await;
        st.listeners.remove(key);
        for (uri, upstream) in watched {
            if st.resource_watch(&uri, false) {
                unsubscribe_upstream(upstream, uri);
            }
        }
    });
    ex.answered = true;
    relay::sse_response(Vec::new(), Some(rx), relay::keep_alive(&ex), &ex.cid)
}

/// The last watcher of a URI left its stream: the upstream need not send its updates any more.
fn unsubscribe_upstream(u: portcullis_upstream::Upstream, uri: String) {
    tokio::spawn(async move {
        if let Err(e) = u
            .request("resources/unsubscribe", Some(json!({"uri": uri})))
            .await
        {
            tracing::warn!(upstream = u.name(), error = %e, "resources/unsubscribe failed");
        }
    });
}

#[cfg(test)]
mod tests;
