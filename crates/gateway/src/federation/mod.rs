//! The catalog: what the upstreams offer, federated. Tools and prompts are exposed under their
//! upstream's namespace (`demo.notes_read`; an upstream mounted with an empty namespace keeps
//! its names). Resources keep their URIs on the wire; for policy they are named
//! `<namespace>.<uri>`. Tools are classified and pinned by the hash of their definition. Two
//! items that would share a name or URI are refused when the catalog is built, never shadowed.

pub mod listing;
pub mod uri;

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_policy::{Policy, ToolClass};
use portcullis_protocol::mcp;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use listing::{Listing, fetch_listing};
use uri::UriTemplate;

/// What a tool's arguments are checked against: its `inputSchema`, compiled when the catalog is
/// built (JSON Schema; the draft its `$schema` names, else 2020-12). References are resolved
/// within the schema only: nothing is ever fetched.
#[derive(Clone)]
pub enum ArgumentSchema {
    Compiled(Arc<jsonschema::Validator>),
    /// The schema cannot be compiled (invalid, an unknown draft, a reference outside itself):
    /// the tool is quarantined — hidden from lists, its calls refused.
    Uncompilable(String),
}

impl std::fmt::Debug for ArgumentSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgumentSchema::Compiled(_) => f.write_str("Compiled"),
            ArgumentSchema::Uncompilable(why) => write!(f, "Uncompilable({why})"),
        }
    }
}

impl ArgumentSchema {
    /// Compile a tool's `inputSchema`; a tool without one takes any object.
    pub fn compile(input_schema: Option<&Value>) -> ArgumentSchema {
        let any_object = serde_json::json!({"type": "object"});
        let schema = input_schema.unwrap_or(&any_object);
        match jsonschema::options()
            .should_validate_formats(false)
            .build(schema)
        {
            Ok(v) => ArgumentSchema::Compiled(Arc::new(v)),
            Err(e) => ArgumentSchema::Uncompilable(e.to_string()),
        }
    }

    /// Why the tool is quarantined, if it is.
    pub fn quarantined(&self) -> Option<&str> {
        match self {
            ArgumentSchema::Compiled(_) => None,
            ArgumentSchema::Uncompilable(why) => Some(why),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ToolEntry {
    /// Namespaced name, as clients see it.
    pub name: String,
    pub upstream: String,
    /// Name on the upstream.
    pub upstream_tool: String,
    pub class: ToolClass,
    /// Hex SHA-256 of the tool's canonical definition (name, description, inputSchema,
    /// annotations) as the upstream gave it.
    pub pin: String,
    /// The definition clients see (namespaced name).
    pub definition: Value,
    /// What its arguments are checked against.
    pub arguments: ArgumentSchema,
}

#[derive(Debug, Clone)]
pub struct PromptEntry {
    pub name: String,
    pub upstream: String,
    pub upstream_name: String,
    pub definition: Value,
}

#[derive(Debug, Clone)]
pub struct ResourceEntry {
    /// The URI as the upstream lists it (what it is asked for).
    pub uri: String,
    /// Its normal form (`mcp::uri::normalize`): the catalog's key.
    pub normal: String,
    pub upstream: String,
    /// `<namespace>.<normal form>`: what role globs match.
    pub policy_name: String,
    pub definition: Value,
}

#[derive(Debug, Clone)]
pub struct TemplateEntry {
    pub template: UriTemplate,
    pub upstream: String,
    pub namespace: String,
    pub policy_name: String,
    pub definition: Value,
}

/// Where a resource URI is served, its policy name, and the URI the upstream is asked for
/// (its own spelling of a listed resource, else the normal form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRoute {
    pub upstream: String,
    pub policy_name: String,
    pub upstream_uri: String,
}

#[derive(Debug, Default)]
pub struct Catalog {
    tools: BTreeMap<String, Arc<ToolEntry>>,
    prompts: BTreeMap<String, Arc<PromptEntry>>,
    resources: BTreeMap<String, Arc<ResourceEntry>>,
    templates: Vec<Arc<TemplateEntry>>,
    hash: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("upstream '{upstream}' lists {kind} '{name}' more than once")]
    Duplicate {
        upstream: String,
        kind: &'static str,
        name: String,
    },
    #[error(
        "{kind} '{name}' is offered by both '{first}' and '{second}'; give them different namespaces"
    )]
    Collision {
        kind: &'static str,
        name: String,
        first: String,
        second: String,
    },
}

/// Compact JSON with object keys sorted, recursively: a stable byte form for hashing.
pub fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                out.push('{');
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    write(v, &mut s);
    s
}

fn pin(tool: &Value) -> String {
    let mut m = Map::new();
    for k in ["name", "description", "inputSchema", "annotations"] {
        if let Some(v) = tool.get(k) {
            m.insert(k.to_string(), v.clone());
        }
    }
    hex::encode(Sha256::digest(canonical_json(&Value::Object(m)).as_bytes()))
}

fn str_field<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field).and_then(Value::as_str)
}

/// Insert `entry` under `key`, refusing a second one: within an upstream it is a duplicate,
/// across upstreams a collision.
fn insert_unique<T>(
    map: &mut BTreeMap<String, Arc<T>>,
    key: String,
    entry: T,
    kind: &'static str,
    upstream: &str,
    owner: impl Fn(&T) -> &str,
) -> Result<(), CatalogError> {
    if let Some(existing) = map.get(&key) {
        let first = owner(existing).to_string();
        return Err(if first == upstream {
            CatalogError::Duplicate {
                upstream: first,
                kind,
                name: key,
            }
        } else {
            CatalogError::Collision {
                kind,
                name: key,
                first,
                second: upstream.to_string(),
            }
        });
    }
    map.insert(key, Arc::new(entry));
    Ok(())
}

/// Whether the item `name` of an upstream mounted under `namespace` may be federated: a valid
/// MCP name, and — from an upstream mounted without a namespace — one that cannot pose as
/// another namespace's item (no separator) nor be a namespace itself. Otherwise it would inherit
/// the grants and class rules written for that namespace.
fn federable(namespace: &str, name: &str, reserved: &[String]) -> Result<String, &'static str> {
    let namespaced = mcp::namespaced(namespace, name);
    if !mcp::is_valid_tool_name(name) || !mcp::is_valid_tool_name(&namespaced) {
        return Err("the name breaks the MCP naming rule");
    }
    if namespace.is_empty() {
        if name.contains(mcp::NAMESPACE_SEPARATOR) {
            return Err("an upstream without a namespace may not use the namespace separator");
        }
        if reserved.iter().any(|r| r == name) {
            return Err("the name is another upstream's namespace");
        }
    }
    Ok(namespaced)
}

impl Catalog {
    /// Build from each upstream's listings, the namespaces of the listed upstreams reserved.
    pub fn build(listings: &[Listing], policy: &Policy) -> Result<Catalog, CatalogError> {
        let reserved: Vec<String> = listings
            .iter()
            .map(|l| l.namespace.clone())
            .filter(|n| !n.is_empty())
            .collect();
        Catalog::build_reserving(listings, policy, &reserved)
    }

    /// Build from each upstream's listings. Items whose names break the MCP naming rule, or
    /// that an upstream without a namespace could use to pose as one of `reserved` (every
    /// configured namespace, listed yet or not), are left out (logged); duplicates and
    /// collisions are errors.
    pub fn build_reserving(
        listings: &[Listing],
        policy: &Policy,
        reserved: &[String],
    ) -> Result<Catalog, CatalogError> {
        let mut c = Catalog::default();
        for l in listings {
            let up = l.upstream.as_str();
            for tool in &l.tools {
                let Some(name) = str_field(tool, "name") else {
                    continue;
                };
                let namespaced = match federable(&l.namespace, name, reserved) {
                    Ok(n) => n,
                    Err(why) => {
                        tracing::warn!(upstream = %up, tool = %name.escape_default(), why, "tool not exposed");
                        continue;
                    }
                };
                let mut definition = tool.clone();
                definition["name"] = Value::String(namespaced.clone());
                let entry = ToolEntry {
                    name: namespaced.clone(),
                    upstream: up.to_string(),
                    upstream_tool: name.to_string(),
                    class: policy.classify(&namespaced, tool.get("annotations")),
                    pin: pin(tool),
                    arguments: ArgumentSchema::compile(tool.get("inputSchema")),
                    definition,
                };
                insert_unique(&mut c.tools, namespaced, entry, "tool", up, |e| &e.upstream)?;
            }
            for prompt in &l.prompts {
                let Some(name) = str_field(prompt, "name") else {
                    continue;
                };
                let namespaced = match federable(&l.namespace, name, reserved) {
                    Ok(n) => n,
                    Err(why) => {
                        tracing::warn!(upstream = %up, prompt = %name.escape_default(), why, "prompt not exposed");
                        continue;
                    }
                };
                let mut definition = prompt.clone();
                definition["name"] = Value::String(namespaced.clone());
                let entry = PromptEntry {
                    name: namespaced.clone(),
                    upstream: up.to_string(),
                    upstream_name: name.to_string(),
                    definition,
                };
                insert_unique(&mut c.prompts, namespaced, entry, "prompt", up, |e| {
                    &e.upstream
                })?;
            }
            for resource in &l.resources {
                let Some(uri) = str_field(resource, "uri") else {
                    continue;
                };
                let normal = match mcp::uri::normalize(uri) {
                    Ok(n) => n,
                    Err(why) => {
                        tracing::warn!(upstream = %up, uri = %uri.escape_default(), %why, "resource not exposed");
                        continue;
                    }
                };
                let entry = ResourceEntry {
                    uri: uri.to_string(),
                    normal: normal.clone(),
                    upstream: up.to_string(),
                    policy_name: mcp::namespaced(&l.namespace, &normal),
                    definition: resource.clone(),
                };
                insert_unique(&mut c.resources, normal, entry, "resource", up, |e| {
                    &e.upstream
                })?;
            }
            for template in &l.templates {
                let Some(text) = str_field(template, "uriTemplate") else {
                    continue;
                };
                if let Some(name) = str_field(template, "name")
                    && let Err(why) = federable(&l.namespace, name, reserved)
                {
                    tracing::warn!(upstream = %up, template = %name.escape_default(), why, "resource template not exposed");
                    continue;
                }
                let Some(compiled) = UriTemplate::new(text) else {
                    tracing::warn!(upstream = %up, template = %text.escape_default(), "malformed URI template; not exposed");
                    continue;
                };
                if let Some(other) = c.templates.iter().find(|t| t.template.template == text) {
                    return Err(CatalogError::Collision {
                        kind: "resource template",
                        name: text.to_string(),
                        first: other.upstream.clone(),
                        second: up.to_string(),
                    });
                }
                c.templates.push(Arc::new(TemplateEntry {
                    template: compiled,
                    upstream: up.to_string(),
                    namespace: l.namespace.clone(),
                    policy_name: mcp::namespaced(&l.namespace, text),
                    definition: template.clone(),
                }));
            }
        }
        c.hash = c.compute_hash();
        Ok(c)
    }

    fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        for e in self.tools.values() {
            h.update(e.name.as_bytes());
            h.update(b" ");
            h.update(e.pin.as_bytes());
            h.update(b"\n");
        }
        for e in self.prompts.values() {
            h.update(b"prompt ");
            h.update(canonical_json(&e.definition).as_bytes());
            h.update(b"\n");
        }
        for e in self.resources.values() {
            h.update(b"resource ");
            h.update(canonical_json(&e.definition).as_bytes());
            h.update(b"\n");
        }
        for e in &self.templates {
            h.update(b"template ");
            h.update(canonical_json(&e.definition).as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }

    /// A tool's class may only become stricter at runtime: a tool `previous` knew with a stricter
    /// class keeps it, whatever its upstream announces now (a tool denied as destructive cannot
    /// turn itself into a read tool by re-announcing `readOnlyHint`). Returns the tools kept so.
    pub fn keep_stricter_classes(&mut self, previous: &Catalog) -> Vec<String> {
        let mut kept = Vec::new();
        for (name, entry) in self.tools.iter_mut() {
            if let Some(old) = previous.tools.get(name)
                && old.class > entry.class
            {
                let mut e = ToolEntry::clone(entry);
                e.class = old.class;
                *entry = Arc::new(e);
                kept.push(name.clone());
            }
        }
        kept
    }

    pub fn get(&self, name: &str) -> Option<&Arc<ToolEntry>> {
        self.tools.get(name)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Arc<ToolEntry>> {
        self.tools.values()
    }

    pub fn prompt(&self, name: &str) -> Option<&Arc<PromptEntry>> {
        self.prompts.get(name)
    }

    pub fn prompts(&self) -> impl Iterator<Item = &Arc<PromptEntry>> {
        self.prompts.values()
    }

    pub fn resources(&self) -> impl Iterator<Item = &Arc<ResourceEntry>> {
        self.resources.values()
    }

    pub fn templates(&self) -> impl Iterator<Item = &Arc<TemplateEntry>> {
        self.templates.iter()
    }

    /// Where the normalised URI `uri` (`mcp::uri::normalize`) is served: a listed resource,
    /// else the one template that matches it. A URI that several upstreams' templates match is
    /// refused rather than guessed.
    pub fn route_resource(&self, uri: &str) -> Result<ResourceRoute, &'static str> {
        if let Some(r) = self.resources.get(uri) {
            return Ok(ResourceRoute {
                upstream: r.upstream.clone(),
                policy_name: r.policy_name.clone(),
                upstream_uri: r.uri.clone(),
            });
        }
        let mut hits = self.templates.iter().filter(|t| t.template.matches(uri));
        let Some(first) = hits.next() else {
            return Err("no upstream lists this resource or a template that matches it");
        };
        if hits.any(|t| t.upstream != first.upstream) {
            return Err("templates of several upstreams match this URI");
        }
        Ok(ResourceRoute {
            upstream: first.upstream.clone(),
            policy_name: mcp::namespaced(&first.namespace, uri),
            upstream_uri: uri.to_string(),
        })
    }

    /// The upstream serving the template `text` exactly (for completions).
    pub fn template(&self, text: &str) -> Option<&Arc<TemplateEntry>> {
        self.templates.iter().find(|t| t.template.template == text)
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Hex SHA-256 over every tool's `name pin` line in name order, then prompts, resources
    /// and templates.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

#[cfg(test)]
mod tests;
