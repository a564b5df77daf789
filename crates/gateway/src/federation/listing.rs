//! What one upstream offers, fetched with its list methods.

use portcullis_upstream::{Upstream, UpstreamError};
use serde_json::Value;

/// One upstream's tools, prompts, resources and resource templates, as it listed them.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub upstream: String,
    /// Prefix of its tools' and prompts' names (empty: exposed as they are).
    pub namespace: String,
    pub tools: Vec<Value>,
    pub prompts: Vec<Value>,
    pub resources: Vec<Value>,
    pub templates: Vec<Value>,
}

/// List everything the upstream announced in its capabilities.
pub async fn fetch_listing(u: &Upstream, namespace: &str) -> Result<Listing, UpstreamError> {
    let mut l = Listing {
        upstream: u.name().to_string(),
        namespace: namespace.to_string(),
        ..Listing::default()
    };
    if u.offers("tools") {
        l.tools = u.list_all("tools/list", "tools", "name").await?;
    }
    if u.offers("prompts") {
        l.prompts = u.list_all("prompts/list", "prompts", "name").await?;
    }
    if u.offers("resources") {
        l.resources = u.list_all("resources/list", "resources", "uri").await?;
        l.templates = u
            .list_all(
                "resources/templates/list",
                "resourceTemplates",
                "uriTemplate",
            )
            .await?;
    }
    Ok(l)
}
