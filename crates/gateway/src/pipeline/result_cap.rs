//! Result caps (`[[tools]] max_result_bytes`, `max_result_items`, `on_oversize`): a tool's
//! result larger than its caps is cut to them, with a marker the caller and the ledger see, or
//! refused with `result_too_large`.
//!
//! Cutting keeps the first content items that fit, cuts the text of the first one that does not
//! (other kinds are dropped whole), drops `structuredContent` when it does not fit (a part of it
//! would not match the tool's output schema), and appends a text item saying what was cut; the
//! details are in `_meta["io.portcullis/truncated"]`. A result whose other members alone pass
//! the byte cap cannot be cut sensibly and is refused.

use portcullis_control::{Oversize, ToolRule};
use portcullis_protocol::ErrorCode;
use serde_json::{Map, Value, json};

use crate::respond::Failure;

/// `_meta` key of a cut result.
pub const TRUNCATED_META: &str = "io.portcullis/truncated";

/// Room kept under the byte cap for the marker item and the `_meta` entry.
const MARKER_ROOM: usize = 512;

/// The caps of one tool: each setting from the first `[[tools]]` entry that names the tool
/// and sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub bytes: Option<usize>,
    pub items: Option<usize>,
    pub oversize: Oversize,
}

impl Caps {
    pub fn of(rules: &[ToolRule], tool: &str) -> Option<Caps> {
        let (mut bytes, mut items, mut oversize) = (None, None, None);
        for r in rules {
            let sets = r.max_result_bytes.is_some()
                || r.max_result_items.is_some()
                || r.on_oversize.is_some();
            if sets && r.matches(tool) {
                bytes = bytes.or(r.max_result_bytes);
                items = items.or(r.max_result_items);
                oversize = oversize.or(r.on_oversize);
            }
        }
        (bytes.is_some() || items.is_some()).then_some(Caps {
            bytes,
            items,
            oversize: oversize.unwrap_or(Oversize::Truncate),
        })
    }
}

/// What the caps did to a result, for the outcome record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub bytes: usize,
    pub items: usize,
    pub kept_bytes: usize,
    pub kept_items: usize,
}

impl Cut {
    /// The outcome record's `truncated` fact.
    pub fn fact(&self) -> String {
        format!(
            "kept {} of {} content items, {} of {} bytes",
            self.kept_items, self.items, self.kept_bytes, self.bytes
        )
    }
}

fn size(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

fn too_large(caps: &Caps, bytes: usize, items: usize, why: &str) -> Failure {
    let mut f = Failure::new(ErrorCode::ResultTooLarge, why)
        .with("resultBytes", json!(bytes))
        .with("resultItems", json!(items));
    if let Some(b) = caps.bytes {
        f = f.with("maxResultBytes", json!(b));
    }
    if let Some(i) = caps.items {
        f = f.with("maxResultItems", json!(i));
    }
    f
}

/// Apply `caps` to a `tools/call` result: the result as it goes to the caller, and what was
/// cut, if anything.
pub fn apply(caps: &Caps, result: Value) -> Result<(Value, Option<Cut>), Failure> {
    let Value::Object(mut m) = result else {
        return Ok((result, None));
    };
    if m.get("content").is_some_and(|c| !c.is_array()) {
        return Ok((Value::Object(m), None));
    }
    let bytes = size(&Value::Object(m.clone()));
    let mut content = match m.remove("content") {
        Some(Value::Array(c)) => c,
        _ => Vec::new(),
    };
    let items = content.len();
    let over_items = caps.items.is_some_and(|max| items > max);
    let over_bytes = caps.bytes.is_some_and(|max| bytes > max);
    if !over_items && !over_bytes {
        m.insert("content".into(), Value::Array(content));
        return Ok((Value::Object(m), None));
    }
    if caps.oversize == Oversize::Refuse {
        return Err(too_large(
            caps,
            bytes,
            items,
            "the tool's result is larger than the gateway allows for this tool, so it was withheld",
        ));
    }
    if let Some(max) = caps.items {
        content.truncate(max);
    }
    if let Some(max) = caps.bytes {
        let budget = max.saturating_sub(MARKER_ROOM);
        // `"content":[]` and a comma: the members the items go into.
        let mut used = size(&Value::Object(m.clone())) + 14;
        if used > budget && m.remove("structuredContent").is_some() {
            used = size(&Value::Object(m.clone())) + 14;
        }
        if used > budget {
            return Err(too_large(
                caps,
                bytes,
                items,
                "the tool's result is larger than the gateway allows for this tool and cannot be cut, so it was withheld",
            ));
        }
        let mut kept = Vec::with_capacity(content.len());
        for item in content {
            let item_size = size(&item) + 1;
            if used + item_size <= budget {
                used += item_size;
                kept.push(item);
                continue;
            }
            if let Some(cut) = cut_text(item, budget - used) {
                kept.push(cut);
            }
            break;
        }
        content = kept;
    }
    let kept_items = content.len();
    m.insert("content".into(), Value::Array(content));
    let kept_bytes = size(&Value::Object(m.clone()));
    let cut = Cut {
        bytes,
        items,
        kept_bytes,
        kept_items,
    };
    if let Some(Value::Array(content)) = m.get_mut("content") {
        content.push(json!({
            "type": "text",
            "text": format!(
                "[the gateway cut this result: {}; the rest was not delivered]",
                cut.fact()
            ),
        }));
    }
    let meta = m
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert(
            TRUNCATED_META.into(),
            json!({
                "resultBytes": bytes,
                "resultItems": items,
                "keptBytes": kept_bytes,
                "keptItems": kept_items,
            }),
        );
    }
    Ok((Value::Object(m), Some(cut)))
}

/// A text item cut to fit `room` bytes (its JSON and a comma), or `None` if it is not text
/// or not even its start fits.
fn cut_text(mut item: Value, room: usize) -> Option<Value> {
    let text = item.get("text")?.as_str()?.to_string();
    if item.get("type").and_then(Value::as_str) != Some("text") {
        return None;
    }
    let mut fits = |end: usize| {
        item["text"] = json!(&text[..end]);
        size(&item) < room
    };
    // The longest prefix, ending on a character boundary, whose item fits.
    let ends: Vec<usize> = text.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    let (mut lo, mut hi) = (0, ends.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(ends[mid - 1]) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    if lo == 0 {
        return None;
    }
    item["text"] = json!(&text[..ends[lo - 1]]);
    Some(item)
}

#[cfg(test)]
mod tests;
