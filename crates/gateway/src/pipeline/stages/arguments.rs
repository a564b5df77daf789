//! Arguments: checks of a tool call's arguments, before any policy sees them. First the tool's
//! own input schema: a tool whose schema cannot be compiled is quarantined
//! (`tool_quarantined`); arguments nested deeper than [`MAX_DEPTH`], or holding more than
//! [`MAX_NODES`] values, are refused unread; arguments the schema rejects are refused
//! (`invalid_arguments`) with the JSON pointer and the schema keyword of each fault — never the
//! values, which may be secrets. Then the `max_results` bound of `[[tools]]`: where a tool takes
//! a count argument
//! (`results_argument`), a call may ask for at most `max_results`; a call that asks for more
//! is refused (`invalid_params`, naming the bound), and a call that leaves the argument out,
//! to a tool whose input schema declares it, gets it set to the bound before it is forwarded
//! (so that the tool's own default cannot exceed it).

use async_trait::async_trait;
use portcullis_control::ResultsArgument;
use portcullis_protocol::ErrorCode;
use serde_json::{Value, json};

use crate::federation::{ArgumentSchema, ToolEntry};
use crate::pipeline::{Governed, GovernedMethod, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

/// Deepest nesting of arrays and objects accepted in arguments.
pub const MAX_DEPTH: usize = 32;
/// Most values (of any kind, nested ones included) accepted in arguments.
pub const MAX_NODES: usize = 10_000;
/// Most faults named in one refusal.
const MAX_REPORTED: usize = 10;

pub struct Arguments;

/// Whether `v` is nested at most `max_depth` deep and holds at most `max_nodes` values.
/// Iterative, so hostile nesting cannot exhaust the stack.
fn within_caps(v: &Value, max_depth: usize, max_nodes: usize) -> Result<(), String> {
    let mut stack = vec![(v, 1usize)];
    let mut nodes = 0usize;
    while let Some((v, depth)) = stack.pop() {
        nodes += 1;
        if nodes > max_nodes {
            return Err(format!("the arguments hold more than {max_nodes} values"));
        }
        if depth > max_depth {
            return Err(format!(
                "the arguments are nested deeper than {max_depth} levels"
            ));
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            Value::Object(o) => stack.extend(o.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// The faults of `arguments` under `schema`: where (JSON pointer) and which keyword.
fn faults(schema: &jsonschema::Validator, arguments: &Value) -> Vec<Value> {
    schema
        .iter_errors(arguments)
        .take(MAX_REPORTED)
        .map(|e| {
            let keyword = e
                .schema_path()
                .as_str()
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string();
            json!({"pointer": e.instance_path().as_str(), "keyword": keyword})
        })
        .collect()
}

/// Check `req`'s arguments against its tool's input schema.
fn check_schema(tool: &ToolEntry, arguments: &Value) -> Option<Failure> {
    let schema = match &tool.arguments {
        ArgumentSchema::Uncompilable(why) => {
            return Some(Failure::new(
                ErrorCode::ToolQuarantined,
                format!(
                    "'{}' is quarantined: its input schema cannot be used ({why})",
                    tool.name
                ),
            ));
        }
        ArgumentSchema::Compiled(v) => v,
    };
    if let Err(why) = within_caps(arguments, MAX_DEPTH, MAX_NODES) {
        return Some(Failure::new(ErrorCode::InvalidArguments, why));
    }
    if schema.is_valid(arguments) {
        return None;
    }
    let faults = faults(schema, arguments);
    if faults.is_empty() {
        return None;
    }
    let places: Vec<String> = faults
        .iter()
        .map(|f| {
            let p = f["pointer"].as_str().unwrap_or("");
            format!(
                "{} ({})",
                if p.is_empty() { "/" } else { p },
                f["keyword"].as_str().unwrap_or("")
            )
        })
        .collect();
    Some(
        Failure::new(
            ErrorCode::InvalidArguments,
            format!(
                "the arguments do not match the input schema of '{}' at {}",
                tool.name,
                places.join(", ")
            ),
        )
        .with("errors", Value::Array(faults)),
    )
}

/// The `max_results` bound of the first `[[tools]]` entry with one that names `tool`.
fn bound_of<'c>(st: &'c AppState, tool: &ToolEntry) -> Option<&'c ResultsArgument> {
    st.config
        .tools
        .iter()
        .filter(|t| t.max_results.is_some())
        .find(|t| t.matches(&tool.name))
        .and_then(|t| t.max_results.as_ref())
}

/// `arguments` with `bound`'s argument set to its maximum, if the caller left it out and the
/// schema declares it (what the gateway forwards); `None` if nothing is set.
fn with_bound_set(bound: &ResultsArgument, tool: &ToolEntry, arguments: &Value) -> Option<Value> {
    let name = bound.argument.as_str();
    if arguments.get(name).is_some() || !declares(&tool.definition, name) {
        return None;
    }
    let mut set = arguments.clone();
    set.as_object_mut()?
        .insert(name.to_string(), json!(bound.max));
    Some(set)
}

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
        let bound = bound_of(st, &tool);
        // Checked as it will be forwarded: with the bound set where the caller left its
        // argument out.
        let forwarded = bound.and_then(|b| with_bound_set(b, &tool, req.arguments));
        if let Some(refusal) = check_schema(&tool, forwarded.as_ref().unwrap_or(req.arguments)) {
            // A tool the caller may not even see must not be confirmed by a schema fault. If
            // the policy refuses the call, its stage does so (as for an absent tool, with the
            // policy's reason in the ledger); if some engine would let it through unseen, it
            // is refused here as absent, the true code kept in the ledger.
            let live = req.live(st);
            if !live.engines.allows(&req.policy_request(false)) {
                if !live.engines.allows(&req.policy_request(req.live)) {
                    return Ok(Step::Continue);
                }
                if let Some(absent) = super::resolve::absent_for(req) {
                    req.facts
                        .ledger
                        .insert("arguments_code".into(), refusal.code.as_str().into());
                    return Ok(Step::Deny(absent));
                }
            }
            return Ok(Step::Deny(refusal));
        }
        let Some(bound) = bound else {
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

    fn tool(schema: Value) -> ToolEntry {
        ToolEntry {
            name: "t.x".into(),
            upstream: "t".into(),
            upstream_tool: "x".into(),
            class: portcullis_policy::ToolClass::Read,
            pin: String::new(),
            arguments: ArgumentSchema::compile(Some(&schema)),
            definition: json!({}),
        }
    }

    fn strict() -> ToolEntry {
        tool(json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "pattern": "^/srv/reports/"},
                "n": {"type": "integer", "minimum": 1, "maximum": 10},
                "mode": {"enum": ["fast", "full"]},
                "nested": {"$ref": "#/$defs/inner"}
            },
            "required": ["path"],
            "additionalProperties": false,
            "$defs": {"inner": {"type": "object", "properties": {"x": {"type": "boolean"}}}}
        }))
    }

    #[test]
    fn valid_arguments_pass_and_each_fault_is_named_by_pointer_and_keyword_without_its_value() {
        let t = strict();
        assert!(
            check_schema(
                &t,
                &json!({"path": "/srv/reports/a", "n": 3, "mode": "fast", "nested": {"x": true}})
            )
            .is_none()
        );
        let f = check_schema(
            &t,
            &json!({"path": "/etc/shadow-SECRET", "n": 99, "mode": "slow", "nested": {"x": "no"}, "extra": 1}),
        )
        .unwrap();
        assert_eq!(f.code, ErrorCode::InvalidArguments);
        let errors = f.data.as_ref().unwrap()["errors"]
            .as_array()
            .unwrap()
            .clone();
        let mut got: Vec<(String, String)> = errors
            .iter()
            .map(|e| {
                (
                    e["pointer"].as_str().unwrap().to_string(),
                    e["keyword"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("".to_string(), "additionalProperties".to_string()),
                ("/mode".to_string(), "enum".to_string()),
                ("/n".to_string(), "maximum".to_string()),
                ("/nested/x".to_string(), "type".to_string()),
                ("/path".to_string(), "pattern".to_string()),
            ]
        );
        let said = format!("{} {}", f.reason, serde_json::to_string(&f.data).unwrap());
        assert!(
            !said.contains("SECRET") && !said.contains("slow") && !said.contains("99"),
            "{said}"
        );
        let missing = check_schema(&t, &json!({})).unwrap();
        assert!(missing.reason.contains("required"), "{}", missing.reason);
    }

    /// Allows live calls, denies previews: a tool it hides can still be called live.
    struct NoPreviews;

    impl portcullis_policy::PolicyEngine for NoPreviews {
        fn name(&self) -> &'static str {
            "no-previews"
        }
        fn evaluate(
            &self,
            req: &portcullis_policy::PolicyRequest<'_>,
        ) -> Result<portcullis_policy::Verdict, portcullis_policy::EngineError> {
            Ok(if req.context.live {
                portcullis_policy::Verdict::Allow
            } else {
                portcullis_policy::Verdict::Deny(ErrorCode::NotAllowed, "no previews".into())
            })
        }
    }

    #[tokio::test]
    async fn a_hidden_tool_with_bad_arguments_is_refused_as_absent_never_forwarded() {
        use std::sync::Arc;
        let (st, _fx) = crate::testing::state();
        let mut listing = crate::federation::Listing {
            upstream: "demo".into(),
            namespace: "demo".into(),
            tools: vec![
                json!({"name": "strict", "annotations": {"readOnlyHint": true},
                "inputSchema": {"type": "object", "required": ["path"]}}),
            ],
            prompts: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
        };
        listing.tools[0]["inputSchema"]["properties"] = json!({"path": {"type": "string"}});
        st.update_listings(vec![listing]).unwrap();
        let policy = st.live().policy.clone();
        let roles: Arc<dyn portcullis_policy::PolicyEngine> = Arc::new(policy.clone());
        st.set_live(crate::state::Live {
            file_policy: policy.clone(),
            policy,
            grants: Vec::new(),
            unused_grants: Vec::new(),
            engines: portcullis_policy::Engines::new(vec![roles, Arc::new(NoPreviews)]),
            config_hash: String::new(),
            generation: 1,
        });
        let st = Arc::new(st);
        let admin = crate::testing::principal("admin");
        let decided = crate::testing::decide(
            &st,
            &admin,
            GovernedMethod::ToolsCall,
            crate::pipeline::Requested::Tool("demo.strict"),
            true,
        )
        .await;
        match decided {
            crate::pipeline::Decided::Answered(Err(f)) => {
                assert_eq!(f.code, ErrorCode::UnknownTool, "{}", f.reason)
            }
            _ => panic!("invalid arguments to a hidden tool must not be forwarded"),
        }
    }

    #[test]
    fn deep_and_huge_arguments_are_refused_unread() {
        let t = tool(json!({"type": "object"}));
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!({"a": deep});
        }
        let f = check_schema(&t, &deep).unwrap();
        assert!(f.reason.contains("deeper"), "{}", f.reason);
        let mut ok = json!(1);
        for _ in 0..(MAX_DEPTH - 1) {
            ok = json!({"a": ok});
        }
        assert!(
            check_schema(&t, &ok).is_none(),
            "{MAX_DEPTH} levels are fine"
        );
        let wide = json!({"a": vec![0; MAX_NODES]});
        assert!(
            check_schema(&t, &wide)
                .unwrap()
                .reason
                .contains("more than")
        );
    }

    #[test]
    fn a_schema_that_cannot_be_compiled_quarantines_its_tool_and_nothing_is_fetched() {
        for schema in [
            json!({"type": "object", "properties": {"x": {"$ref": "https://schemas.example.invalid/x.json"}}}),
            json!({"type": "object", "properties": {"x": {"$ref": "file:///etc/passwd"}}}),
            json!({"type": "no-such-type"}),
            json!({"$schema": "https://example.invalid/unknown-draft", "type": "object"}),
        ] {
            let t = tool(schema.clone());
            assert!(t.arguments.quarantined().is_some(), "{schema}");
            let f = check_schema(&t, &json!({})).unwrap();
            assert_eq!(f.code, ErrorCode::ToolQuarantined, "{schema}");
        }
        assert!(
            tool(json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}))
                .arguments
                .quarantined()
                .is_none()
        );
        assert!(ArgumentSchema::compile(None).quarantined().is_none());
    }

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
