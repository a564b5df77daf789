use portcullis_control::Config;

use super::*;

fn caps(bytes: Option<usize>, items: Option<usize>, oversize: Oversize) -> Caps {
    Caps {
        bytes,
        items,
        oversize,
    }
}

fn texts(n: usize, each: usize) -> Value {
    let content: Vec<Value> = (0..n)
        .map(|i| json!({"type": "text", "text": format!("{i}:{}", "x".repeat(each))}))
        .collect();
    json!({ "content": content })
}

fn marker(v: &Value) -> &str {
    let c = v["content"].as_array().unwrap();
    c.last().unwrap()["text"].as_str().unwrap()
}

#[test]
fn a_result_within_its_caps_is_untouched() {
    let r = texts(3, 10);
    let c = caps(Some(4096), Some(3), Oversize::Truncate);
    assert_eq!(apply(&c, r.clone()).unwrap(), (r, None));
    let odd = json!({"content": "not an array"});
    assert_eq!(apply(&c, odd.clone()).unwrap().0, odd);
}

#[test]
fn too_many_items_are_cut_with_a_marker() {
    let (v, cut) = apply(&caps(None, Some(2), Oversize::Truncate), texts(5, 3)).unwrap();
    let cut = cut.expect("cut");
    assert_eq!((cut.items, cut.kept_items), (5, 2));
    let content = v["content"].as_array().unwrap();
    assert_eq!(content.len(), 3, "two items and the marker");
    assert_eq!(content[1]["text"], "1:xxx");
    assert!(
        marker(&v).contains("kept 2 of 5 content items"),
        "{}",
        marker(&v)
    );
    assert_eq!(v["_meta"][TRUNCATED_META]["resultItems"], 5);
    assert_eq!(v["_meta"][TRUNCATED_META]["keptItems"], 2);
}

#[test]
fn too_many_bytes_cut_the_text_on_a_character_boundary_and_stay_under_the_cap() {
    for each in [100, 5_000, 50_000] {
        let mut r = texts(4, each);
        r["content"][1]["text"] = json!("é✓😀".repeat(each));
        for max in [1024, 2000, 4096, 10_000] {
            let (v, cut) = apply(&caps(Some(max), None, Oversize::Truncate), r.clone()).unwrap();
            let total = serde_json::to_vec(&v).unwrap().len();
            if size(&r) <= max {
                assert!(cut.is_none());
                continue;
            }
            let cut = cut.expect("cut");
            assert!(total <= max, "{total} > {max} (each {each})");
            assert!(cut.kept_bytes < max && cut.bytes == size(&r));
            assert!(marker(&v).starts_with("[the gateway cut this result"));
            // What is kept is a prefix of what the tool said.
            let kept = &v["content"].as_array().unwrap()[..cut.kept_items];
            for (i, item) in kept.iter().enumerate() {
                let full = r["content"][i]["text"].as_str().unwrap();
                assert!(full.starts_with(item["text"].as_str().unwrap()));
            }
        }
    }
}

#[test]
fn items_that_are_not_text_are_dropped_whole_and_structured_content_goes_when_it_does_not_fit() {
    let r = json!({
        "content": [
            {"type": "text", "text": "head"},
            {"type": "image", "data": "A".repeat(10_000), "mimeType": "image/png"},
            {"type": "text", "text": "tail"}
        ],
        "structuredContent": {"rows": "y".repeat(10_000)}
    });
    let (v, cut) = apply(&caps(Some(2048), None, Oversize::Truncate), r).unwrap();
    assert_eq!(
        cut.unwrap().kept_items,
        1,
        "the image did not fit, and nothing after it is kept"
    );
    assert!(v.get("structuredContent").is_none());
    assert_eq!(v["content"][0]["text"], "head");
    assert!(serde_json::to_vec(&v).unwrap().len() <= 2048);
}

#[test]
fn refuse_withholds_the_whole_result_and_says_why() {
    let f = apply(&caps(Some(1024), Some(1), Oversize::Refuse), texts(3, 10)).unwrap_err();
    assert_eq!(f.code, ErrorCode::ResultTooLarge);
    let data = f.data.unwrap();
    assert_eq!(data["resultItems"], 3);
    assert_eq!(data["maxResultItems"], 1);
    assert_eq!(data["maxResultBytes"], 1024);
}

#[test]
fn a_result_whose_other_members_pass_the_cap_is_refused_even_when_cutting() {
    let r = json!({"content": [], "_meta": {"big": "z".repeat(5000)}});
    let f = apply(&caps(Some(1024), None, Oversize::Truncate), r).unwrap_err();
    assert_eq!(f.code, ErrorCode::ResultTooLarge);
}

#[test]
fn each_cap_comes_from_the_first_entry_that_names_the_tool_and_sets_it() {
    let config = Config::from_bytes(
        br#"
[[tools]]
match = "demo.big*"
max_result_items = 5
[[tools]]
match = "demo.*"
max_result_bytes = 2048
max_result_items = 50
on_oversize = "refuse"
[[tools]]
match = "other.*"
cost = 2
"#,
        std::path::Path::new("."),
    )
    .unwrap();
    let rules = &config.tools;
    assert_eq!(
        Caps::of(rules, "demo.bigtable"),
        Some(caps(Some(2048), Some(5), Oversize::Refuse))
    );
    assert_eq!(
        Caps::of(rules, "demo.small"),
        Some(caps(Some(2048), Some(50), Oversize::Refuse))
    );
    assert_eq!(Caps::of(rules, "other.x"), None);
}
