//! Resources of the conformance catalog: two static resources (text and binary), one resource
//! clients subscribe to, and the template `test://template/{id}/data`.

use rmcp::{
    ErrorData,
    model::{
        ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
        ResourceContents, ResourceTemplate,
    },
};
use serde_json::json;

use super::fixtures::RED_PIXEL_PNG;

/// A static text resource.
pub const STATIC_TEXT_URI: &str = "test://static-text";
/// A static binary resource (a PNG).
pub const STATIC_BINARY_URI: &str = "test://static-binary";
/// The resource the subscription scenarios subscribe to.
pub const WATCHED_URI: &str = "test://watched-resource";
/// The resource template; `{id}` is substituted into the content.
pub const TEMPLATE_URI: &str = "test://template/{id}/data";

const STATIC_TEXT: &str = "This is the content of the static text resource.";
const WATCHED_TEXT: &str = "This resource is watched by subscribers.";
const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

/// `resources/list`: the direct resources (templates are listed separately).
pub fn list() -> ListResourcesResult {
    ListResourcesResult::with_all_items(vec![
        Resource::new(STATIC_TEXT_URI, "static-text")
            .with_title("Static text")
            .with_description("A static text resource.")
            .with_mime_type("text/plain"),
        Resource::new(STATIC_BINARY_URI, "static-binary")
            .with_title("Static binary")
            .with_description("A static binary resource: a 1x1 red PNG.")
            .with_mime_type("image/png"),
        Resource::new(WATCHED_URI, "watched-resource")
            .with_title("Watched resource")
            .with_description("A resource clients may subscribe to.")
            .with_mime_type("text/plain"),
    ])
}

/// `resources/templates/list`.
pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(TEMPLATE_URI, "template-data")
            .with_title("Template data")
            .with_description("JSON data for the given id, which is substituted into the content.")
            .with_mime_type("application/json"),
    ])
}

/// `resources/read`: the contents of `uri`, or `-32002` (resource not found).
pub fn read(uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let contents = match uri {
        STATIC_TEXT_URI => ResourceContents::text(STATIC_TEXT, uri),
        STATIC_BINARY_URI => ResourceContents::blob(RED_PIXEL_PNG, uri).with_mime_type("image/png"),
        WATCHED_URI => ResourceContents::text(WATCHED_TEXT, uri),
        _ => {
            let id = template_id(uri).ok_or_else(|| not_found(uri))?;
            let data =
                json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
            ResourceContents::text(data.to_string(), uri).with_mime_type("application/json")
        }
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

/// Whether `uri` names a resource of this catalog (a static one or a template instance).
pub fn ensure_exists(uri: &str) -> Result<(), ErrorData> {
    match uri {
        STATIC_TEXT_URI | STATIC_BINARY_URI | WATCHED_URI => Ok(()),
        _ if template_id(uri).is_some() => Ok(()),
        _ => Err(not_found(uri)),
    }
}

/// Completion candidates for the template's `{id}` variable.
pub const TEMPLATE_ID_CANDIDATES: [&str; 4] = ["1", "2", "3", "123"];

/// The `{id}` of a `test://template/{id}/data` URI: one non-empty path segment.
fn template_id(uri: &str) -> Option<&str> {
    let id = uri
        .strip_prefix(TEMPLATE_PREFIX)?
        .strip_suffix(TEMPLATE_SUFFIX)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(format!("no resource {uri:?}"), Some(json!({ "uri": uri })))
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ErrorCode, ResourceContents};

    use super::*;

    fn only(result: ReadResourceResult) -> ResourceContents {
        assert_eq!(result.contents.len(), 1);
        result.contents.into_iter().next().unwrap()
    }

    #[test]
    fn template_substitutes_the_id() {
        match only(read("test://template/123/data").unwrap()) {
            ResourceContents::TextResourceContents {
                uri,
                mime_type,
                text,
                ..
            } => {
                assert_eq!(uri, "test://template/123/data");
                assert_eq!(mime_type.as_deref(), Some("application/json"));
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    v,
                    json!({"id": "123", "templateTest": true, "data": "Data for ID: 123"})
                );
            }
            other => panic!("expected text contents, got {other:?}"),
        }
    }

    #[test]
    fn binary_resource_is_a_blob() {
        match only(read(STATIC_BINARY_URI).unwrap()) {
            ResourceContents::BlobResourceContents {
                mime_type, blob, ..
            } => {
                assert_eq!(mime_type.as_deref(), Some("image/png"));
                assert_eq!(blob, RED_PIXEL_PNG);
            }
            other => panic!("expected blob contents, got {other:?}"),
        }
    }

    #[test]
    fn unknown_and_malformed_uris_are_not_found() {
        for uri in [
            "test://nothing",
            "test://template//data",
            "test://template/a/b/data",
            "test://template/1",
        ] {
            let err = read(uri).unwrap_err();
            assert_eq!(err.code, ErrorCode::RESOURCE_NOT_FOUND, "{uri}");
            assert!(ensure_exists(uri).is_err(), "{uri}");
        }
        assert!(ensure_exists(WATCHED_URI).is_ok());
        assert!(ensure_exists("test://template/7/data").is_ok());
    }

    #[test]
    fn every_listed_resource_is_readable() {
        for r in list().resources {
            let contents = only(read(&r.uri).unwrap());
            let (uri, mime) = match &contents {
                ResourceContents::TextResourceContents { uri, mime_type, .. }
                | ResourceContents::BlobResourceContents { uri, mime_type, .. } => {
                    (uri.clone(), mime_type.clone())
                }
                other => panic!("unexpected contents {other:?}"),
            };
            assert_eq!(uri, r.uri);
            assert_eq!(mime, r.mime_type);
        }
    }
}
