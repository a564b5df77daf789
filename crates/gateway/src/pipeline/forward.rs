//! What forwarding a governed request shares: the params an upstream gets, how an upstream's
//! failure is told to the client, and the check of every result an upstream returns.

use portcullis_protocol::{ErrorCode, mcp};
use portcullis_upstream::UpstreamError;
use serde_json::{Map, Value, json};

use super::request::GovernedMethod;
use crate::respond::Failure;

/// `_meta` key the gateway adds upstream so the upstream's logs can be joined to the ledger.
pub const CORRELATION_META: &str = "io.portcullis/correlationId";
/// `_meta` key a caller sets to `false` to run a write for real (the gateway's, not forwarded).
pub const DRY_RUN_META: &str = "dry_run";

/// The params an upstream gets: the client's, minus what belongs to the gateway or to the
/// client's revision (`dry_run`, the modern per-request `_meta` keys, MRTR fields), plus the
/// correlation id. The caller rewrites `name`, `uri` or `ref` as the upstream knows it.
pub fn upstream_params(params: Option<&Map<String, Value>>, cid: &str) -> Map<String, Value> {
    let mut out = params.cloned().unwrap_or_default();
    out.remove("requestState");
    out.remove("inputResponses");
    let mut meta = match out.remove("_meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    meta.remove(DRY_RUN_META);
    meta.remove(crate::methods::tools::IDEMPOTENCY_META);
    for k in mcp::MODERN_REQUEST_META {
        meta.remove(*k);
    }
    meta.insert(CORRELATION_META.into(), json!(cid));
    out.insert("_meta".into(), Value::Object(meta));
    out
}

/// An upstream's failure as the client sees it: its code, and at most 500 characters of what
/// a tool server said.
pub fn upstream_failure(e: UpstreamError) -> Failure {
    let reason = match &e {
        UpstreamError::Rpc { code, message, .. } => {
            let msg: String = message.chars().take(500).collect();
            format!("the tool server answered with error {code}: {msg}")
        }
        other => other.to_string(),
    };
    Failure::new(e.code(), reason)
}

fn invalid(why: &str) -> Failure {
    Failure::new(ErrorCode::UpstreamInvalidResponse, why)
}

/// Check an upstream's result for `method` before the client gets it.
pub fn validate(method: GovernedMethod, v: Value) -> Result<Value, Failure> {
    let Value::Object(m) = &v else {
        return Err(invalid("the upstream's result is not an object"));
    };
    match method {
        GovernedMethod::ToolsCall => {
            if m.get("content").is_some_and(|c| !c.is_array()) {
                return Err(invalid("tools/call result 'content' is not an array"));
            }
            if m.get("isError").is_some_and(|c| !c.is_boolean()) {
                return Err(invalid("tools/call result 'isError' is not a boolean"));
            }
        }
        GovernedMethod::PromptsGet if !m.get("messages").is_some_and(Value::is_array) => {
            return Err(invalid("prompts/get result has no 'messages' array"));
        }
        GovernedMethod::ResourcesRead if !m.get("contents").is_some_and(Value::is_array) => {
            return Err(invalid("resources/read result has no 'contents' array"));
        }
        GovernedMethod::CompletionComplete
            if !v.pointer("/completion/values").is_some_and(Value::is_array) =>
        {
            return Err(invalid(
                "completion/complete result has no completion.values array",
            ));
        }
        _ => {}
    }
    Ok(v)
}

/// The outcome code of a result: `ok`, `tool_error` (the tool ran and said it failed), or the
/// failure's code.
pub fn outcome_code(result: &Result<Value, Failure>) -> &'static str {
    match result {
        Ok(v) if v.get("isError") == Some(&Value::Bool(true)) => "tool_error",
        Ok(_) => "ok",
        Err(f) => f.code.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_params_keep_the_clients_fields_but_not_the_gateways() {
        let p = json!({
            "name": "x",
            "arguments": {"a": 1},
            "task": {"ttl": 5},
            "requestState": "s",
            "inputResponses": {},
            "_meta": {
                "progressToken": 3,
                "dry_run": false,
                "io.portcullis/idempotencyKey": "k-1",
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "vendor.example/trace": "t"
            }
        });
        let out = upstream_params(p.as_object(), "cid-1");
        assert_eq!(
            Value::Object(out),
            json!({
                "name": "x",
                "arguments": {"a": 1},
                "task": {"ttl": 5},
                "_meta": {
                    "progressToken": 3,
                    "vendor.example/trace": "t",
                    "io.portcullis/correlationId": "cid-1"
                }
            })
        );
        let out = upstream_params(None, "c");
        assert_eq!(
            Value::Object(out),
            json!({"_meta": {"io.portcullis/correlationId": "c"}})
        );
    }

    #[test]
    fn every_method_checks_the_shape_of_its_result() {
        use GovernedMethod::*;
        let bad = |m, v: Value| validate(m, v).unwrap_err().code;
        for m in GovernedMethod::ALL {
            assert_eq!(bad(m, json!([])), ErrorCode::UpstreamInvalidResponse);
            assert_eq!(bad(m, json!("x")), ErrorCode::UpstreamInvalidResponse);
        }
        assert_eq!(
            bad(ToolsCall, json!({"content": {}})),
            ErrorCode::UpstreamInvalidResponse
        );
        assert_eq!(
            bad(ToolsCall, json!({"isError": "no"})),
            ErrorCode::UpstreamInvalidResponse
        );
        assert!(validate(ToolsCall, json!({"content": [], "isError": true})).is_ok());
        assert_eq!(
            bad(PromptsGet, json!({})),
            ErrorCode::UpstreamInvalidResponse
        );
        assert!(validate(PromptsGet, json!({"messages": []})).is_ok());
        assert_eq!(
            bad(ResourcesRead, json!({"contents": {}})),
            ErrorCode::UpstreamInvalidResponse
        );
        assert!(validate(ResourcesRead, json!({"contents": []})).is_ok());
        assert_eq!(
            bad(CompletionComplete, json!({"completion": {}})),
            ErrorCode::UpstreamInvalidResponse
        );
        assert!(validate(CompletionComplete, json!({"completion": {"values": []}})).is_ok());
        assert!(validate(ResourcesSubscribe, json!({})).is_ok());
    }

    #[test]
    fn outcome_codes_name_what_happened() {
        assert_eq!(outcome_code(&Ok(json!({"content": []}))), "ok");
        assert_eq!(outcome_code(&Ok(json!({"isError": true}))), "tool_error");
        let f = Failure::new(ErrorCode::UpstreamTimeout, "slow");
        assert_eq!(outcome_code(&Err(f)), "upstream_timeout");
    }
}
