//! Fixed payloads of the conformance catalog: media, texts and schemas that the suite's
//! scenarios expect verbatim.

use std::sync::Arc;

use rmcp::model::JsonObject;
use serde_json::{Value, json};

/// A 1×1 red pixel, PNG, base64: the image of `test_image_content`, the mixed-content tool,
/// `test://static-binary` and `test_prompt_with_image`.
pub const RED_PIXEL_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

/// One millisecond of silence (8 kHz, mono, 16-bit PCM), WAV, base64: `test_audio_content`.
pub const SILENCE_WAV: &str =
    "UklGRjQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YRAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// `$schema` of the JSON Schema 2020-12 dialect.
pub const JSON_SCHEMA_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Input schema of `json_schema_2020_12_tool`: `$schema`, `$defs`, `$ref` and
/// `additionalProperties: false` must reach the client unchanged.
pub fn json_schema_2020_12_input() -> Arc<JsonObject> {
    let Value::Object(schema) = json!({
        "$schema": JSON_SCHEMA_2020_12,
        "type": "object",
        "$defs": {
            "address": {
                "type": "object",
                "properties": {
                    "street": { "type": "string" },
                    "city": { "type": "string" }
                }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" }
        },
        "additionalProperties": false
    }) else {
        unreachable!("an object literal is an object")
    };
    Arc::new(schema)
}

/// Requested schema of `test_elicitation`: a username and an email, both required.
pub fn elicitation_user_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "username": { "type": "string", "description": "User's response" },
            "email": { "type": "string", "description": "User's email address" }
        },
        "required": ["username", "email"]
    })
}

/// Requested schema of `test_elicitation_sep1034_defaults`: one field of every primitive type,
/// each with a default value.
pub fn elicitation_defaults_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "description": "User name", "default": "John Doe" },
            "age": { "type": "integer", "description": "User age", "default": 30 },
            "score": { "type": "number", "description": "User score", "default": 95.5 },
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active"
            },
            "verified": { "type": "boolean", "description": "Verification status", "default": true }
        }
    })
}

/// Requested schema of `test_elicitation_sep1330_enums`: the five enum shapes (untitled and
/// titled single-select, legacy `enumNames`, untitled and titled multi-select).
pub fn elicitation_enums_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": {
                "type": "string",
                "enum": ["option1", "option2", "option3"]
            },
            "titledSingle": {
                "type": "string",
                "oneOf": [
                    { "const": "value1", "title": "First Option" },
                    { "const": "value2", "title": "Second Option" },
                    { "const": "value3", "title": "Third Option" }
                ]
            },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array",
                "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
            },
            "titledMulti": {
                "type": "array",
                "items": {
                    "anyOf": [
                        { "const": "value1", "title": "First Choice" },
                        { "const": "value2", "title": "Second Choice" },
                        { "const": "value3", "title": "Third Choice" }
                    ]
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use rmcp::model::ElicitationSchema;

    use super::*;

    fn decode(b64: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("valid base64")
    }

    #[test]
    fn media_are_what_their_mime_types_say() {
        let png = decode(RED_PIXEL_PNG);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let wav = decode(SILENCE_WAV);
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(&wav[8..12], b"WAVE");
        let riff_len = u32::from_le_bytes([wav[4], wav[5], wav[6], wav[7]]) as usize;
        assert_eq!(riff_len + 8, wav.len());
    }

    #[test]
    fn elicitation_schemas_survive_the_typed_model() {
        for schema in [
            elicitation_user_schema(),
            elicitation_defaults_schema(),
            elicitation_enums_schema(),
        ] {
            let typed: ElicitationSchema =
                serde_json::from_value(schema.clone()).expect("schema fits the model");
            assert_eq!(serde_json::to_value(&typed).unwrap(), schema);
        }
    }

    #[test]
    fn json_schema_2020_12_keywords_are_present() {
        let schema = json_schema_2020_12_input();
        assert_eq!(schema["$schema"], JSON_SCHEMA_2020_12);
        assert!(schema["$defs"]["address"].is_object());
        assert_eq!(schema["additionalProperties"], false);
    }
}
