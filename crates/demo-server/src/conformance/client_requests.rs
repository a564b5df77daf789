//! Tools of the conformance catalog that ask the client during the call: `sampling/createMessage`
//! and `elicitation/create`, as server-to-client requests on the call's SSE stream (2025-06-18,
//! 2025-11-25) or as `input_required` results answered by a retried call (2026-07-28).

use rmcp::{
    RoleServer,
    handler::server::{tool::InputResponses, wrapper::Parameters},
    model::{
        CallToolResponse, CallToolResult, ClientCapabilities, ContentBlock, CreateMessageRequest,
        CreateMessageRequestParams, ElicitRequest, ElicitRequestParams, ElicitationSchema,
        InputRequest, InputRequiredResult, ProtocolVersion, SamplingMessage,
    },
    service::RequestContext,
    tool, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::ConformanceServer;
use super::fixtures::{
    elicitation_defaults_schema, elicitation_enums_schema, elicitation_user_schema,
};

/// `maxTokens` of the sampling request.
const SAMPLING_MAX_TOKENS: u32 = 100;

/// Key of the one input request in an `input_required` result.
pub const INPUT_KEY: &str = "input";

/// Arguments of `test_sampling`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SamplingParams {
    /// The prompt to send to the client's model.
    pub prompt: String,
}

/// Arguments of `test_elicitation`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ElicitationParams {
    /// The message to show the user.
    pub message: String,
}

#[tool_router(router = client_request_tool_router, vis = "pub(super)")]
impl ConformanceServer {
    #[tool(
        description = "Ask the client's model to complete `prompt` (sampling/createMessage, maxTokens 100) and return its answer.",
        annotations(read_only_hint = true)
    )]
    async fn test_sampling(
        &self,
        Parameters(p): Parameters<SamplingParams>,
        InputResponses(responses): InputResponses,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let request = CreateMessageRequestParams::new(
            vec![SamplingMessage::user_text(p.prompt)],
            SAMPLING_MAX_TOKENS,
        );
        let answer = match ask(&ctx, responses, Ask::Sampling(request)).await {
            Ok(answer) => answer,
            Err(early) => return early,
        };
        let text = first_text(&answer["content"]).unwrap_or_else(|| "(no text)".to_owned());
        CallToolResult::success(vec![ContentBlock::text(format!("LLM response: {text}"))]).into()
    }

    #[tool(
        description = "Ask the user (elicitation/create) for a username and an email, showing `message`, and return the answer.",
        annotations(read_only_hint = true)
    )]
    async fn test_elicitation(
        &self,
        Parameters(p): Parameters<ElicitationParams>,
        InputResponses(responses): InputResponses,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResponse {
        elicit(
            &ctx,
            responses,
            p.message,
            elicitation_user_schema(),
            "User response",
        )
        .await
    }

    #[tool(
        description = "Ask the user (elicitation/create) with a schema whose fields of every primitive type have default values.",
        annotations(read_only_hint = true)
    )]
    async fn test_elicitation_sep1034_defaults(
        &self,
        InputResponses(responses): InputResponses,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let message = "Please review these values; every field has a default.".to_owned();
        let schema = elicitation_defaults_schema();
        elicit(&ctx, responses, message, schema, "Elicitation completed").await
    }

    #[tool(
        description = "Ask the user (elicitation/create) with a schema holding the five enum shapes: untitled and titled single-select, legacy enumNames, untitled and titled multi-select.",
        annotations(read_only_hint = true)
    )]
    async fn test_elicitation_sep1330_enums(
        &self,
        InputResponses(responses): InputResponses,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let message = "Please choose from each list.".to_owned();
        let schema = elicitation_enums_schema();
        elicit(&ctx, responses, message, schema, "Elicitation completed").await
    }
}

/// A question for the client.
enum Ask {
    Sampling(CreateMessageRequestParams),
    Elicitation(ElicitRequestParams),
}

/// Put `question` to the client and return its answer as JSON (a `CreateMessageResult` or an
/// `ElicitResult`). Before 2026-07-28 that is a server-to-client request on the call's stream;
/// from 2026-07-28 on it is an `input_required` result, and the answer arrives in the retried
/// call's `inputResponses`. `Err` is what the tool returns instead: the `input_required` result,
/// or a tool error when the client lacks the capability or the request fails.
async fn ask(
    ctx: &RequestContext<RoleServer>,
    responses: Option<rmcp::model::InputResponses>,
    question: Ask,
) -> Result<Value, CallToolResponse> {
    let (capability, declared) = match &question {
        Ask::Sampling(_) => ("sampling", client_has(ctx, |c| c.sampling.is_some())),
        Ask::Elicitation(_) => ("elicitation", client_has(ctx, |c| c.elicitation.is_some())),
    };
    if !declared {
        return Err(tool_error(&format!(
            "the client did not declare the {capability} capability"
        )));
    }
    if uses_input_required(ctx) {
        if let Some(answer) = responses.and_then(|mut r| r.remove(INPUT_KEY)) {
            return Ok(answer);
        }
        let request = match question {
            Ask::Sampling(p) => InputRequest::CreateMessage(CreateMessageRequest::new(p)),
            Ask::Elicitation(p) => InputRequest::Elicitation(ElicitRequest::new(p)),
        };
        let requests = [(INPUT_KEY.to_owned(), request)].into_iter().collect();
        return Err(InputRequiredResult::from_input_requests(requests).into());
    }
    let answer = match question {
        Ask::Sampling(p) => ctx
            .peer
            .create_message(p)
            .await
            .map(|r| serde_json::to_value(r).unwrap_or_default()),
        Ask::Elicitation(p) => ctx
            .peer
            .create_elicitation(p)
            .await
            .map(|r| serde_json::to_value(r).unwrap_or_default()),
    };
    answer.map_err(|e| tool_error(&format!("{capability} request failed: {e}")))
}

/// Send a form elicitation with `schema` and describe the user's answer after `label`.
async fn elicit(
    ctx: &RequestContext<RoleServer>,
    responses: Option<rmcp::model::InputResponses>,
    message: String,
    schema: Value,
    label: &str,
) -> CallToolResponse {
    let requested_schema: ElicitationSchema = match serde_json::from_value(schema) {
        Ok(s) => s,
        Err(e) => return tool_error(&format!("elicitation schema rejected: {e}")),
    };
    let request = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema,
    };
    let answer = match ask(ctx, responses, Ask::Elicitation(request)).await {
        Ok(answer) => answer,
        Err(early) => return early,
    };
    let action = answer["action"].as_str().unwrap_or("(none)");
    let content = answer.get("content").unwrap_or(&Value::Null);
    CallToolResult::success(vec![ContentBlock::text(format!(
        "{label}: action={action}, content={content}"
    ))])
    .into()
}

/// Whether this call speaks the stateless revision, where the server asks the client through
/// `input_required` results instead of server-to-client requests.
fn uses_input_required(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// Whether the client declared a capability (at `initialize`, or in the request's `_meta`).
fn client_has(
    ctx: &RequestContext<RoleServer>,
    capability: impl FnOnce(&ClientCapabilities) -> bool,
) -> bool {
    ctx.client_capabilities().is_some_and(|c| capability(&c))
}

/// The first text of sampled content, which is one content block or an array of them.
fn first_text(content: &Value) -> Option<String> {
    let block = match content {
        Value::Array(blocks) => blocks.iter().find(|b| b["type"] == "text")?,
        single => single,
    };
    block["text"].as_str().map(str::to_owned)
}

fn tool_error(text: &str) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(text.to_owned())]).into()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::first_text;

    #[test]
    fn first_text_reads_single_blocks_and_arrays() {
        assert_eq!(
            first_text(&json!({"type": "text", "text": "hi"})).as_deref(),
            Some("hi")
        );
        assert_eq!(
            first_text(&json!([{"type": "image", "data": "x"}, {"type": "text", "text": "yo"}]))
                .as_deref(),
            Some("yo")
        );
        assert_eq!(first_text(&json!({"type": "image", "data": "x"})), None);
    }
}
