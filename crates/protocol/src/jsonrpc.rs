//! Strict JSON-RPC 2.0 decoding for one MCP message. Batches are refused (not part of MCP),
//! members are checked for type, ids must be strings or integers, unknown top-level members are
//! refused. Everything here works on bytes in, typed message out, with no I/O.

use serde_json::{Map, Value};

/// A JSON-RPC id as MCP allows it: a string or an integer (never null).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    Num(i64),
    Str(String),
}

impl Id {
    pub fn to_value(&self) -> Value {
        match self {
            Id::Num(n) => Value::from(*n),
            Id::Str(s) => Value::from(s.clone()),
        }
    }

    fn from_value(v: &Value) -> Option<Id> {
        match v {
            Value::String(s) => Some(Id::Str(s.clone())),
            Value::Number(n) => n.as_i64().map(Id::Num),
            _ => None,
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Id,
    pub method: String,
    /// `params` when present; always an object (MCP never uses positional params).
    pub params: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub method: String,
    pub params: Option<Map<String, Value>>,
}

/// A response sent by the client (e.g. to a server-initiated request).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: Id,
    pub outcome: Result<Value, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request(Request),
    Notification(Notification),
    Response(Response),
}

impl Message {
    /// The message as JSON-RPC 2.0 JSON, which `decode_value` reads back to an equal message.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("jsonrpc".into(), Value::from("2.0"));
        let (id, method, params) = match self {
            Message::Request(r) => (Some(&r.id), Some(&r.method), r.params.as_ref()),
            Message::Notification(n) => (None, Some(&n.method), n.params.as_ref()),
            Message::Response(r) => (Some(&r.id), None, None),
        };
        if let Some(id) = id {
            m.insert("id".into(), id.to_value());
        }
        if let Some(method) = method {
            m.insert("method".into(), Value::from(method.as_str()));
        }
        if let Some(params) = params {
            m.insert("params".into(), Value::Object(params.clone()));
        }
        if let Message::Response(r) = self {
            match &r.outcome {
                Ok(result) => m.insert("result".into(), result.clone()),
                Err(error) => m.insert("error".into(), error.clone()),
            };
        }
        Value::Object(m)
    }
}

/// Why a body is not one valid JSON-RPC 2.0 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not valid JSON: {0}")]
    Parse(String),
    #[error("JSON-RPC batches are not supported")]
    Batch,
    #[error("{0}")]
    Invalid(String),
}

impl DecodeError {
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            DecodeError::Parse(_) => crate::ErrorCode::ParseError,
            DecodeError::Batch => crate::ErrorCode::BatchNotSupported,
            DecodeError::Invalid(_) => crate::ErrorCode::InvalidRequest,
        }
    }

    /// The request id, if one could be read before the message was found invalid.
    pub fn id_hint(bytes: &[u8]) -> Option<Id> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        Id::from_value(v.get("id")?)
    }
}

/// Longest method name accepted.
pub const MAX_METHOD_LEN: usize = 256;
/// Longest string id accepted.
pub const MAX_ID_LEN: usize = 256;

fn invalid(msg: impl Into<String>) -> DecodeError {
    DecodeError::Invalid(msg.into())
}

/// Decode one JSON-RPC 2.0 message from bytes.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let value = crate::strict::from_slice(bytes).map_err(|e| DecodeError::Parse(e.to_string()))?;
    decode_value(value)
}

/// Decode one JSON-RPC 2.0 message from an already parsed JSON value.
pub fn decode_value(value: Value) -> Result<Message, DecodeError> {
    let mut obj = match value {
        Value::Object(m) => m,
        Value::Array(_) => return Err(DecodeError::Batch),
        _ => return Err(invalid("message must be a JSON object")),
    };
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "jsonrpc" | "id" | "method" | "params" | "result" | "error"
        ) {
            return Err(invalid(format!("unknown member '{key}'")));
        }
    }
    match obj.get("jsonrpc") {
        Some(Value::String(s)) if s == "2.0" => {}
        Some(_) => return Err(invalid("member 'jsonrpc' must be \"2.0\"")),
        None => return Err(invalid("member 'jsonrpc' is missing")),
    }
    let id = match obj.get("id") {
        None => None,
        Some(v) => {
            let id = Id::from_value(v)
                .ok_or_else(|| invalid("member 'id' must be a string or an integer"))?;
            if let Id::Str(s) = &id
                && s.len() > MAX_ID_LEN
            {
                return Err(invalid("member 'id' is too long"));
            }
            Some(id)
        }
    };

    if let Some(method) = obj.remove("method") {
        let Value::String(method) = method else {
            return Err(invalid("member 'method' must be a string"));
        };
        if method.is_empty() || method.len() > MAX_METHOD_LEN {
            return Err(invalid("member 'method' must be 1 to 256 characters"));
        }
        if obj.contains_key("result") || obj.contains_key("error") {
            return Err(invalid("a request cannot carry 'result' or 'error'"));
        }
        let params = match obj.remove("params") {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(invalid("member 'params' must be an object")),
        };
        return Ok(match id {
            Some(id) => Message::Request(Request { id, method, params }),
            None => Message::Notification(Notification { method, params }),
        });
    }

    let id = id.ok_or_else(|| invalid("message has neither 'method' nor 'id'"))?;
    if obj.contains_key("params") {
        return Err(invalid("a response cannot carry 'params'"));
    }
    let outcome = match (obj.remove("result"), obj.remove("error")) {
        (Some(r), None) => Ok(r),
        (None, Some(e)) => {
            let ok = e.get("code").is_some_and(Value::is_i64)
                && e.get("message").is_some_and(Value::is_string);
            if !ok {
                return Err(invalid(
                    "'error' needs an integer 'code' and a string 'message'",
                ));
            }
            Err(e)
        }
        _ => {
            return Err(invalid(
                "a response needs exactly one of 'result' and 'error'",
            ));
        }
    };
    Ok(Message::Response(Response { id, outcome }))
}

/// A success response.
pub fn success(id: &Id, result: Value) -> Value {
    serde_json::json!({"jsonrpc": "2.0", "id": id.to_value(), "result": result})
}

/// An error response carrying the error contract in `error.data`. `id` is null when unknown.
pub fn error_response(id: Option<&Id>, body: &crate::ErrorBody) -> Value {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id.map(Id::to_value).unwrap_or(Value::Null),
        "error": {
            "code": body.code.jsonrpc_code(),
            "message": body.reason,
            "data": body,
        }
    })
}

#[cfg(test)]
mod tests;
