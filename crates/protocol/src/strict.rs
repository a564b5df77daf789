//! Strict JSON: what `serde_json` parses, except that an object with a repeated key is refused,
//! at any depth. With the last of two values winning, `{"method": "a", "method": "b"}` or
//! `_meta: {"dry_run": true, "dry_run": false}` would mean one thing to the gateway and possibly
//! another to whatever reads the same bytes next.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON value whose objects had no repeated key.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key \"{}\" is repeated in an object",
                    key.escape_default()
                )));
            }
            let Strict(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Parse `bytes` as JSON, refusing an object with a repeated key anywhere in it.
pub fn from_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(bytes).map(|s| s.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        for bad in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"params": {"_meta": {"dry_run": true, "dry_run": false}}}"#,
            r#"[{"x": {"y": [{"k": 1, "k": 1}]}}]"#,
        ] {
            let e = from_slice(bad.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("is repeated"), "{bad}: {e}");
        }
    }

    #[test]
    fn everything_else_parses_as_serde_json_does() {
        for ok in [
            r#"{"a": 1, "b": {"a": 1}, "c": [{"a": 1}, {"a": 2}]}"#,
            r#"[1, -2, 3.5, 1e300, "x\u0000y", null, true, {}]"#,
            r#""just a string""#,
            r#"18446744073709551615"#,
        ] {
            let strict = from_slice(ok.as_bytes()).unwrap();
            let plain: Value = serde_json::from_str(ok).unwrap();
            assert_eq!(strict, plain, "{ok}");
        }
        assert!(from_slice(b"{").is_err());
        assert!(from_slice(&[b'['; 200]).is_err(), "nesting stays bounded");
    }
}
