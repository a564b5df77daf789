//! Prompts and completions of the conformance catalog: a prompt without arguments, one with
//! arguments (completable), one with an embedded resource and one with an image.

use rmcp::{
    ErrorData,
    model::{
        CompleteRequestParams, CompleteResult, CompletionInfo, ContentBlock,
        GetPromptRequestParams, GetPromptResult, ImageContent, ListPromptsResult, Prompt,
        PromptArgument, PromptMessage, Reference, ResourceContents, Role,
    },
};
use serde_json::{Map, Value};

use super::fixtures::RED_PIXEL_PNG;
use super::resources::{TEMPLATE_ID_CANDIDATES, TEMPLATE_URI};

pub const SIMPLE: &str = "test_simple_prompt";
pub const WITH_ARGUMENTS: &str = "test_prompt_with_arguments";
pub const WITH_EMBEDDED_RESOURCE: &str = "test_prompt_with_embedded_resource";
pub const WITH_IMAGE: &str = "test_prompt_with_image";

/// Completion candidates of `test_prompt_with_arguments`, per argument.
const ARG1_CANDIDATES: [&str; 4] = ["paris", "park", "party", "test-value"];
const ARG2_CANDIDATES: [&str; 3] = ["world", "wonder", "test-value"];

/// `prompts/list`.
pub fn list() -> ListPromptsResult {
    let arg = |name: &str, description: &str| {
        PromptArgument::new(name)
            .with_description(description)
            .with_required(true)
    };
    ListPromptsResult::with_all_items(vec![
        Prompt::new(SIMPLE, Some("A simple prompt without arguments."), None),
        Prompt::new(
            WITH_ARGUMENTS,
            Some("A prompt that substitutes its two arguments."),
            Some(vec![
                arg("arg1", "First test argument"),
                arg("arg2", "Second test argument"),
            ]),
        ),
        Prompt::new(
            WITH_EMBEDDED_RESOURCE,
            Some("A prompt that embeds the resource named by its argument."),
            Some(vec![arg("resourceUri", "URI of the resource to embed")]),
        ),
        Prompt::new(WITH_IMAGE, Some("A prompt with an image."), None),
    ])
}

/// `prompts/get`: the messages of a prompt; `-32602` for an unknown prompt or a missing
/// required argument.
pub fn get(request: &GetPromptRequestParams) -> Result<GetPromptResult, ErrorData> {
    let empty = Map::new();
    let args = request.arguments.as_ref().unwrap_or(&empty);
    let messages = match request.name.as_str() {
        SIMPLE => vec![PromptMessage::new_text(
            Role::User,
            "This is a simple prompt for testing.",
        )],
        WITH_ARGUMENTS => {
            let arg1 = required(args, "arg1")?;
            let arg2 = required(args, "arg2")?;
            vec![PromptMessage::new_text(
                Role::User,
                format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"),
            )]
        }
        WITH_EMBEDDED_RESOURCE => {
            let uri = required(args, "resourceUri")?;
            vec![
                PromptMessage::new(
                    Role::User,
                    ContentBlock::resource(ResourceContents::text(
                        "Embedded resource content for testing.",
                        uri,
                    )),
                ),
                PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
            ]
        }
        WITH_IMAGE => vec![
            PromptMessage::new(
                Role::User,
                ContentBlock::Image(ImageContent::new(RED_PIXEL_PNG, "image/png")),
            ),
            PromptMessage::new_text(Role::User, "Please analyze the image above."),
        ],
        other => {
            return Err(ErrorData::invalid_params(
                format!("no prompt named {other:?}"),
                None,
            ));
        }
    };
    Ok(GetPromptResult::new(messages))
}

/// `completion/complete`: candidates that start with the typed value, for the arguments of
/// `test_prompt_with_arguments` and the `{id}` of the resource template. An unknown prompt or
/// template is `-32602`; an argument without candidates completes to nothing.
pub fn complete(request: &CompleteRequestParams) -> Result<CompleteResult, ErrorData> {
    let argument = request.argument.name.as_str();
    let candidates: &[&str] = match &request.r#ref {
        Reference::Prompt(p) => match (p.name.as_str(), argument) {
            (WITH_ARGUMENTS, "arg1") => &ARG1_CANDIDATES,
            (WITH_ARGUMENTS, "arg2") => &ARG2_CANDIDATES,
            (SIMPLE | WITH_ARGUMENTS | WITH_EMBEDDED_RESOURCE | WITH_IMAGE, _) => &[],
            (other, _) => {
                return Err(ErrorData::invalid_params(
                    format!("no prompt named {other:?}"),
                    None,
                ));
            }
        },
        Reference::Resource(r) if r.uri == TEMPLATE_URI => match argument {
            "id" => &TEMPLATE_ID_CANDIDATES,
            _ => &[],
        },
        Reference::Resource(r) => {
            return Err(ErrorData::invalid_params(
                format!("no resource template {:?}", r.uri),
                None,
            ));
        }
        other => {
            return Err(ErrorData::invalid_params(
                format!("cannot complete a {} reference", other.reference_type()),
                None,
            ));
        }
    };
    let typed = request.argument.value.as_str();
    let values: Vec<String> = candidates
        .iter()
        .filter(|c| c.starts_with(typed))
        .map(|c| (*c).to_owned())
        .collect();
    let total = u32::try_from(values.len()).unwrap_or(u32::MAX);
    let mut info = CompletionInfo::new(values).map_err(|e| ErrorData::internal_error(e, None))?;
    info.total = Some(total);
    info.has_more = Some(false);
    Ok(CompleteResult::new(info))
}

fn required<'a>(args: &'a Map<String, Value>, name: &str) -> Result<&'a str, ErrorData> {
    args.get(name).and_then(Value::as_str).ok_or_else(|| {
        ErrorData::invalid_params(format!("missing required string argument {name:?}"), None)
    })
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ArgumentInfo, ErrorCode};

    use super::*;

    fn request(name: &str, pairs: &[(&str, &str)]) -> GetPromptRequestParams {
        let mut r = GetPromptRequestParams::new(name);
        r.arguments = Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                .collect(),
        );
        r
    }

    #[test]
    fn arguments_are_substituted() {
        let r = get(&request(
            WITH_ARGUMENTS,
            &[("arg1", "hello"), ("arg2", "world")],
        ))
        .unwrap();
        let text = serde_json::to_string(&r.messages).unwrap();
        assert!(text.contains("arg1='hello', arg2='world'"), "{text}");
    }

    #[test]
    fn missing_argument_and_unknown_prompt_are_invalid_params() {
        let err = get(&request(WITH_ARGUMENTS, &[("arg1", "x")])).unwrap_err();
        assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
        let err = get(&request("nope", &[])).unwrap_err();
        assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
    }

    #[test]
    fn embedded_resource_uses_the_given_uri() {
        let r = get(&request(
            WITH_EMBEDDED_RESOURCE,
            &[("resourceUri", "test://example-resource")],
        ))
        .unwrap();
        let v = serde_json::to_value(&r.messages).unwrap();
        assert_eq!(v[0]["content"]["type"], "resource");
        assert_eq!(
            v[0]["content"]["resource"]["uri"],
            "test://example-resource"
        );
        assert_eq!(v[1]["content"]["type"], "text");
    }

    #[test]
    fn completion_filters_by_prefix() {
        let req = CompleteRequestParams::new(
            Reference::for_prompt(WITH_ARGUMENTS),
            ArgumentInfo::new("arg1", "par"),
        );
        let r = complete(&req).unwrap();
        assert_eq!(r.completion.values, ["paris", "park", "party"]);
        assert_eq!(r.completion.total, Some(3));

        let req = CompleteRequestParams::new(
            Reference::for_resource(TEMPLATE_URI),
            ArgumentInfo::new("id", "12"),
        );
        assert_eq!(complete(&req).unwrap().completion.values, ["123"]);

        let req = CompleteRequestParams::new(
            Reference::for_prompt("nope"),
            ArgumentInfo::new("arg1", ""),
        );
        assert_eq!(complete(&req).unwrap_err().code, ErrorCode::INVALID_PARAMS);
    }
}
