//! A minimal MCP client over streamable HTTP (session-based revision 2025-06-18): one kept-alive
//! connection and one session per client, initialised once, then `tools/call` in a loop.
//! Responses may be plain JSON or an SSE stream; both are read.

use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// The text `echo` is asked to return; every reply is checked against it.
const ECHO_TEXT: &str = "portcullis-bench";
/// Per-request deadline: a stuck call fails the run rather than hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP client with its own small keep-alive pool (one connection per MCP client, so
/// clients never contend on a shared pool).
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// Where to send calls: the demo server directly, or the gateway with its API key.
#[derive(Clone)]
pub struct Endpoint {
    pub url: String,
    pub key: Option<String>,
    pub tool: &'static str,
}

/// An initialised MCP session.
pub struct Session {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    tool: &'static str,
    next_id: u64,
}

impl Session {
    /// `initialize` + `notifications/initialized` on a fresh connection.
    pub async fn open(ep: &Endpoint) -> anyhow::Result<Session> {
        let http = http_client()?;
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "accept",
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(k) = &ep.key {
            headers.insert("authorization", format!("Bearer {k}").parse()?);
        }
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "portcullis-bench", "version": env!("CARGO_PKG_VERSION")}
            }
        });
        let resp = post(&http, &ep.url, &headers, init.to_string())
            .await
            .context("initialize")?;
        let sid = resp
            .headers()
            .get("mcp-session-id")
            .cloned()
            .context("initialize returned no Mcp-Session-Id")?;
        let status = resp.status();
        let reply = read_reply(resp, 0).await?;
        if !status.is_success() || reply.get("result").is_none() {
            bail!("initialize failed ({status}): {reply}");
        }
        headers.insert("mcp-session-id", sid);
        headers.insert(
            "mcp-protocol-version",
            HeaderValue::from_static(PROTOCOL_VERSION),
        );
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let ack = post(&http, &ep.url, &headers, note.to_string())
            .await
            .context("notifications/initialized")?;
        if ack.status().as_u16() != 202 {
            bail!("notifications/initialized answered {}", ack.status());
        }
        Ok(Session {
            http,
            url: ep.url.clone(),
            headers,
            tool: ep.tool,
            next_id: 1,
        })
    }

    /// One `tools/call` of `echo`; fails unless the reply is a successful result echoing the text.
    pub async fn call_echo(&mut self) -> anyhow::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{}","arguments":{{"text":"{ECHO_TEXT}"}}}}}}"#,
            self.tool
        );
        let resp = post(&self.http, &self.url, &self.headers, body).await?;
        let status = resp.status();
        let reply = read_reply(resp, id).await?;
        let result = &reply["result"];
        if !status.is_success()
            || result["isError"].as_bool() == Some(true)
            || result["content"][0]["text"].as_str() != Some(ECHO_TEXT)
        {
            bail!("tools/call failed ({status}): {reply}");
        }
        Ok(())
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    body: String,
) -> reqwest::Result<reqwest::Response> {
    http.post(url)
        .headers(headers.clone())
        .body(body)
        .send()
        .await
}

/// The JSON-RPC response with `id`, from a JSON body or from the `data:` lines of an SSE body.
async fn read_reply(resp: reqwest::Response, id: u64) -> anyhow::Result<Value> {
    let sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = resp.text().await?;
    if !sse {
        return serde_json::from_str(&text).with_context(|| format!("reply is not JSON: {text}"));
    }
    sse_reply(&text, id)
        .with_context(|| format!("no response with id {id} in the event stream: {text}"))
}

/// The JSON-RPC message with `id` among the `data:` lines of an SSE body.
fn sse_reply(text: &str, id: u64) -> Option<Value> {
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|v| v["id"].as_u64() == Some(id))
}

/// The gateway's ledger size and open session count, from `/api/status`.
pub async fn gateway_status(
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> anyhow::Result<(u64, u64)> {
    let v: Value = http
        .get(format!("{base}/api/status"))
        .bearer_auth(key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let size = v["ledger"]["size"]
        .as_u64()
        .with_context(|| format!("/api/status has no ledger.size: {v}"))?;
    Ok((size, v["sessions"].as_u64().unwrap_or(0)))
}

/// Wait (bounded) until the gateway's `/ready` says 200.
pub async fn wait_ready(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/ready")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the gateway was not ready after 30 s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_is_found_among_priming_and_other_events() {
        let body = "id: 0\nretry: 3000\ndata: \n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n";
        assert_eq!(sse_reply(body, 7).unwrap()["result"], json!({}));
        assert!(sse_reply(body, 8).is_none());
    }
}
