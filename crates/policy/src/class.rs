//! Tool classes: from the operator's config first (globs, first match wins), else from the
//! tool's MCP annotations, else `destructive`. Annotations are untrusted hints, so the defaults
//! are the cautious ones the spec gives (`readOnlyHint` false, `destructiveHint` true).

use globset::GlobMatcher;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Ordered from the least to the most dangerous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolClass {
    Read,
    Write,
    Destructive,
}

impl ToolClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolClass::Read => "read",
            ToolClass::Write => "write",
            ToolClass::Destructive => "destructive",
        }
    }

    /// The class named `read`, `write` or `destructive`.
    pub fn parse(s: &str) -> Option<ToolClass> {
        Some(match s {
            "read" => ToolClass::Read,
            "write" => ToolClass::Write,
            "destructive" => ToolClass::Destructive,
            _ => return None,
        })
    }

    /// Class from MCP annotations alone. Contradictory hints (`readOnlyHint` and
    /// `destructiveHint` both true) mean destructive.
    pub fn from_annotations(annotations: Option<&Value>) -> ToolClass {
        let hint = |k: &str| annotations.and_then(|a| a.get(k)).and_then(Value::as_bool);
        if hint("readOnlyHint") == Some(true) && hint("destructiveHint") != Some(true) {
            ToolClass::Read
        } else if hint("destructiveHint") == Some(false) {
            ToolClass::Write
        } else {
            ToolClass::Destructive
        }
    }
}

/// One operator rule: tools whose namespaced name matches `pattern` are of `class`.
#[derive(Debug, Clone)]
pub struct ClassRule {
    pub pattern: String,
    matcher: GlobMatcher,
    pub class: ToolClass,
}

impl ClassRule {
    pub fn new(pattern: &str, class: ToolClass) -> Result<Self, crate::GlobError> {
        let matcher = crate::role::compile_glob(pattern)?.compile_matcher();
        Ok(ClassRule {
            pattern: pattern.to_string(),
            matcher,
            class,
        })
    }
}

/// The operator's class rules, in config order.
#[derive(Debug, Clone, Default)]
pub struct ClassRules {
    rules: Vec<ClassRule>,
}

impl ClassRules {
    pub fn new(rules: Vec<ClassRule>) -> Self {
        ClassRules { rules }
    }

    /// Config rule first, else annotations, else destructive.
    pub fn classify(&self, namespaced_name: &str, annotations: Option<&Value>) -> ToolClass {
        self.rules
            .iter()
            .find(|r| r.matcher.is_match(namespaced_name))
            .map(|r| r.class)
            .unwrap_or_else(|| ToolClass::from_annotations(annotations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_map_to_classes_cautiously() {
        let c = |v: Value| ToolClass::from_annotations(Some(&v));
        assert_eq!(c(json!({"readOnlyHint": true})), ToolClass::Read);
        assert_eq!(
            c(json!({"readOnlyHint": true, "destructiveHint": true})),
            ToolClass::Destructive,
            "contradictory hints are the cautious class"
        );
        assert!(ToolClass::Read < ToolClass::Write && ToolClass::Write < ToolClass::Destructive);
        assert_eq!(c(json!({"destructiveHint": false})), ToolClass::Write);
        assert_eq!(c(json!({"readOnlyHint": false})), ToolClass::Destructive);
        assert_eq!(c(json!({"destructiveHint": true})), ToolClass::Destructive);
        assert_eq!(c(json!({"readOnlyHint": "yes"})), ToolClass::Destructive);
        assert_eq!(c(json!({})), ToolClass::Destructive);
        assert_eq!(ToolClass::from_annotations(None), ToolClass::Destructive);
    }

    #[test]
    fn config_rules_win_in_order() {
        let rules = ClassRules::new(vec![
            ClassRule::new("demo.notes_*", ToolClass::Write).unwrap(),
            ClassRule::new("demo.*", ToolClass::Read).unwrap(),
        ]);
        let ro = json!({"readOnlyHint": true});
        assert_eq!(
            rules.classify("demo.notes_read", Some(&ro)),
            ToolClass::Write
        );
        assert_eq!(rules.classify("demo.echo", None), ToolClass::Read);
        assert_eq!(rules.classify("other.echo", Some(&ro)), ToolClass::Read);
        assert_eq!(rules.classify("other.x", None), ToolClass::Destructive);
    }
}
