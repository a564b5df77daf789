use serde_json::json;

use super::*;

fn listing(upstream: &str, namespace: &str) -> Listing {
    Listing {
        upstream: upstream.into(),
        namespace: namespace.into(),
        ..Listing::default()
    }
}

fn tool_lists() -> Vec<Listing> {
    let mut a = listing("a", "a");
    a.tools = vec![
        json!({"name": "read", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}}),
        json!({"name": "bare", "inputSchema": {"type": "object"}}),
        json!({"name": "bad name", "inputSchema": {"type": "object"}}),
    ];
    let mut b = listing("b", "b");
    b.tools = vec![json!({"name": "read", "inputSchema": {"type": "object"}})];
    vec![a, b]
}

#[test]
fn tools_are_namespaced_classified_and_pinned() {
    let c = Catalog::build(&tool_lists(), &Policy::default()).unwrap();
    assert_eq!(c.len(), 3);
    let a = c.get("a.read").unwrap();
    assert_eq!(a.upstream_tool, "read");
    assert_eq!(a.class, ToolClass::Read);
    assert_eq!(a.definition["name"], "a.read");
    assert_eq!(c.get("a.bare").unwrap().class, ToolClass::Destructive);
    assert_eq!(c.get("b.read").unwrap().class, ToolClass::Destructive);
    assert!(c.get("a.bad name").is_none());
    assert_ne!(a.pin, c.get("b.read").unwrap().pin);
}

#[test]
fn duplicates_and_collisions_are_refused() {
    let mut a = listing("a", "a");
    a.tools = vec![json!({"name": "x"}), json!({"name": "x"})];
    assert_eq!(
        Catalog::build(&[a], &Policy::default()).unwrap_err(),
        CatalogError::Duplicate {
            upstream: "a".into(),
            kind: "tool",
            name: "a.x".into()
        }
    );
    let mut root1 = listing("one", "");
    root1.tools = vec![json!({"name": "x"})];
    let mut root2 = listing("two", "");
    root2.tools = vec![json!({"name": "x"})];
    assert!(matches!(
        Catalog::build(&[root1, root2], &Policy::default()).unwrap_err(),
        CatalogError::Collision { kind: "tool", .. }
    ));
    let mut r1 = listing("one", "one");
    r1.resources = vec![json!({"uri": "file:///same", "name": "s"})];
    let mut r2 = listing("two", "two");
    r2.resources = vec![json!({"uri": "file:///same", "name": "s"})];
    assert!(matches!(
        Catalog::build(&[r1, r2], &Policy::default()).unwrap_err(),
        CatalogError::Collision {
            kind: "resource",
            ..
        }
    ));
}

#[test]
fn an_empty_namespace_keeps_the_upstreams_names() {
    let mut root = listing("conf", "");
    root.tools = vec![json!({"name": "test_simple_text"})];
    root.prompts = vec![json!({"name": "test_simple_prompt"})];
    let c = Catalog::build(&[root], &Policy::default()).unwrap();
    assert!(c.get("test_simple_text").is_some());
    assert_eq!(
        c.prompt("test_simple_prompt").unwrap().upstream_name,
        "test_simple_prompt"
    );
}

#[test]
fn prompts_and_resources_are_federated_and_routed() {
    let mut a = listing("a", "a");
    a.prompts = vec![json!({"name": "greet", "arguments": []})];
    a.resources = vec![json!({"uri": "note://one", "name": "one"})];
    a.templates = vec![json!({"uriTemplate": "note://{id}", "name": "note"})];
    let mut b = listing("b", "b");
    b.templates = vec![json!({"uriTemplate": "file:///{+path}", "name": "files"})];
    let c = Catalog::build(&[a, b], &Policy::default()).unwrap();
    let p = c.prompt("a.greet").unwrap();
    assert_eq!(
        (p.upstream_name.as_str(), p.definition["name"].clone()),
        ("greet", json!("a.greet"))
    );
    assert_eq!(
        c.route_resource("note://one").unwrap(),
        ResourceRoute {
            upstream: "a".into(),
            policy_name: "a.note://one".into(),
            upstream_uri: "note://one".into(),
        }
    );
    assert_eq!(
        c.route_resource("note://two").unwrap().policy_name,
        "a.note://two"
    );
    assert_eq!(c.route_resource("file:///x/y").unwrap().upstream, "b");
    assert!(c.route_resource("other://x").is_err());
}

#[test]
fn listed_resources_are_keyed_by_their_normal_form() {
    let mut a = listing("a", "a");
    a.resources = vec![
        json!({"uri": "NOTE://Host/%7euser/./a", "name": "a"}),
        json!({"uri": "file:///../etc/passwd", "name": "above the root"}),
        json!({"uri": "file:///srv/a%2Fb", "name": "encoded slash"}),
    ];
    let c = Catalog::build(&[a], &Policy::default()).unwrap();
    let r = c.route_resource("note://host/~user/a").unwrap();
    assert_eq!(r.policy_name, "a.note://host/~user/a");
    assert_eq!(
        r.upstream_uri, "NOTE://Host/%7euser/./a",
        "the upstream is asked in its own spelling"
    );
    assert_eq!(
        c.resources().count(),
        1,
        "URIs with no unambiguous form are not federated"
    );
}

#[test]
fn a_uri_two_upstreams_claim_is_refused() {
    let mut a = listing("a", "a");
    a.templates = vec![json!({"uriTemplate": "x://{id}"})];
    let mut b = listing("b", "b");
    b.templates = vec![json!({"uriTemplate": "x://{+rest}"})];
    let c = Catalog::build(&[a, b], &Policy::default()).unwrap();
    assert!(c.route_resource("x://1").is_err());
    assert_eq!(c.route_resource("x://1/2").unwrap().upstream, "b");
}

#[test]
fn pins_and_hash_ignore_key_order_but_see_changes() {
    let x: Value = serde_json::from_str(r#"{"name":"t","inputSchema":{"b":1,"a":2}}"#).unwrap();
    let y: Value = serde_json::from_str(r#"{"inputSchema":{"a":2,"b":1},"name":"t"}"#).unwrap();
    assert_eq!(pin(&x), pin(&y));
    assert_ne!(pin(&x), pin(&json!({"name": "t", "inputSchema": {"a": 3}})));
    let mut l1 = listing("u", "u");
    l1.tools = vec![x];
    let mut l2 = listing("u", "u");
    l2.tools = vec![json!({"name": "t", "description": "new"})];
    let c1 = Catalog::build(&[l1.clone()], &Policy::default()).unwrap();
    let c2 = Catalog::build(&[l2], &Policy::default()).unwrap();
    assert_ne!(c1.hash(), c2.hash());
    let mut l3 = l1;
    l3.prompts = vec![json!({"name": "p"})];
    assert_ne!(
        c1.hash(),
        Catalog::build(&[l3], &Policy::default()).unwrap().hash()
    );
}

#[test]
fn a_class_only_becomes_stricter_when_an_upstream_announces_again() {
    let mut first = listing("a", "a");
    first.tools = vec![json!({"name": "t", "inputSchema": {"type": "object"}})];
    let before = Catalog::build(&[first], &Policy::default()).unwrap();
    assert_eq!(before.get("a.t").unwrap().class, ToolClass::Destructive);
    let mut again = listing("a", "a");
    again.tools = vec![
        json!({"name": "t", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}}),
    ];
    let mut after = Catalog::build(&[again.clone()], &Policy::default()).unwrap();
    assert_eq!(
        after.get("a.t").unwrap().class,
        ToolClass::Read,
        "as announced"
    );
    assert_eq!(
        after.keep_stricter_classes(&before),
        vec!["a.t".to_string()]
    );
    assert_eq!(after.get("a.t").unwrap().class, ToolClass::Destructive);
    // Stricter is taken at once.
    let was_read = Catalog::build(&[again], &Policy::default()).unwrap();
    let mut first = listing("a", "a");
    first.tools = vec![json!({"name": "t", "inputSchema": {"type": "object"}})];
    let mut now_destructive = Catalog::build(&[first], &Policy::default()).unwrap();
    assert!(now_destructive.keep_stricter_classes(&was_read).is_empty());
    assert_eq!(
        now_destructive.get("a.t").unwrap().class,
        ToolClass::Destructive
    );
}

#[test]
fn an_upstream_without_a_namespace_cannot_pose_as_another() {
    let mut bare = listing("plain", "");
    bare.tools = vec![
        json!({"name": "other.delete_all", "inputSchema": {"type": "object"}}),
        json!({"name": "other", "inputSchema": {"type": "object"}}),
        json!({"name": "own_tool", "inputSchema": {"type": "object"}}),
    ];
    bare.prompts = vec![
        json!({"name": "other.prompt"}),
        json!({"name": "bad prompt name"}),
        json!({"name": "own_prompt"}),
    ];
    bare.templates = vec![json!({"uriTemplate": "x://{id}", "name": "other.tpl"})];
    let other = listing("other", "other");
    let reserved = vec!["other".to_string(), "down".to_string()];
    let c =
        Catalog::build_reserving(&[bare.clone(), other], &Policy::default(), &reserved).unwrap();
    let tools: Vec<&str> = c.entries().map(|e| e.name.as_str()).collect();
    assert_eq!(tools, ["own_tool"]);
    let prompts: Vec<&str> = c.prompts().map(|p| p.name.as_str()).collect();
    assert_eq!(prompts, ["own_prompt"]);
    assert_eq!(c.templates().count(), 0);
    // A namespace that is configured but not listed yet is reserved too.
    bare.tools = vec![json!({"name": "down", "inputSchema": {"type": "object"}})];
    let c = Catalog::build_reserving(&[bare], &Policy::default(), &reserved).unwrap();
    assert!(c.is_empty());
}
