//! Arguments: checks of a tool call's arguments against what the operator configured. Today
//! the `max_results` bound of `[[tools]]`: where a tool takes a count argument
//! (`results_argument`), a call may ask for at most `max_results`; a call that asks for more
//! is refused (`invalid_params`, naming the bound), and a call that leaves the argument out,
//! to a tool whose input schema declares it, gets it set to the bound before it is forwarded
//! (so that the tool's own default cannot exceed it).

use async_trait::async_trait;
use portcullis_protocol::ErrorCode;
use serde_json::{Value, json};

use crate::pipeline::{Governed, GovernedMethod, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

pub struct Arguments;

#[async_trait]
impl Stage for Arguments {
    fn name(&self) -> &'static str {
        "arguments"
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        if req.method != GovernedMethod::ToolsCall {
            return Ok(Step::Continue);
        }
        let Some(tool) = req.facts.resolved.as_ref().and_then(|r| r.tool.clone()) else {
            return Ok(Step::Continue);
        };
        let Some(bound) = st
            .config
            .tools
            .iter()
            .filter(|t| t.max_results.is_some())
            .find(|t| t.matches(&tool.name))
            .and_then(|t| t.max_results.as_ref())
        else {
            return Ok(Step::Continue);
        };
        let name = bound.argument.as_str();
        let refuse = |why: String| {
            Step::Deny(
                Failure::new(ErrorCode::InvalidParams, why)
                    .with("argument", json!(name))
                    .with("max", json!(bound.max)),
            )
        };
        match req.arguments.get(name) {
            Some(v) => match v.as_u64() {
                Some(n) if n <= bound.max => Ok(Step::Continue),
                Some(n) => Ok(refuse(format!(
                    "argument '{name}' is {n}; this tool may be asked for at most {}",
                    bound.max
                ))),
                None => Ok(refuse(format!(
                    "argument '{name}' must be a whole number from 0 to {}",
                    bound.max
                ))),
            },
            None if declares(&tool.definition, name) => {
                req.facts
                    .set_arguments
                    .push((name.to_string(), json!(bound.max)));
                req.facts
                    .ledger
                    .insert("set_argument".into(), format!("{name}={}", bound.max));
                Ok(Step::Continue)
            }
            None => Ok(Step::Continue),
        }
    }
}

/// Whether a tool's input schema declares the property `name`.
fn declares(definition: &Value, name: &str) -> bool {
    definition
        .pointer("/inputSchema/properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_properties_count() {
        let d = json!({"inputSchema": {"type": "object", "properties": {"limit": {"type": "integer"}}}});
        assert!(declares(&d, "limit"));
        assert!(!declares(&d, "count"));
        assert!(!declares(
            &json!({"inputSchema": {"type": "object"}}),
            "limit"
        ));
        assert!(!declares(&json!({}), "limit"));
    }
}
