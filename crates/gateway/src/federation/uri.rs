//! Which upstream a resource URI belongs to when it is not listed: matching against the
//! upstreams' URI templates (RFC 6570). Each `{...}` expression matches one or more characters;
//! `{+var}`, `{#var}` and `{/var}` may span `/`, the others may not.

use regex::Regex;

/// A compiled URI template.
#[derive(Debug, Clone)]
pub struct UriTemplate {
    pub template: String,
    matcher: Regex,
}

/// Longest template accepted (a hostile upstream cannot make the gateway compile huge regexes).
const MAX_TEMPLATE: usize = 2048;

impl UriTemplate {
    /// Compile; `None` if the template is malformed or too long.
    pub fn new(template: &str) -> Option<UriTemplate> {
        if template.is_empty() || template.len() > MAX_TEMPLATE {
            return None;
        }
        let mut pattern = String::from("^");
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let (literal, after) = rest.split_at(open);
            if literal.contains('}') {
                return None;
            }
            pattern.push_str(&regex::escape(literal));
            let close = after.find('}')?;
            let expr = &after[1..close];
            if expr.is_empty() || expr.contains('{') {
                return None;
            }
            let spans_slash = matches!(expr.as_bytes()[0], b'+' | b'#' | b'/');
            pattern.push_str(if spans_slash { ".+" } else { "[^/]+" });
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return None;
        }
        pattern.push_str(&regex::escape(rest));
        pattern.push('$');
        let matcher = Regex::new(&pattern).ok()?;
        Some(UriTemplate {
            template: template.to_string(),
            matcher,
        })
    }

    pub fn matches(&self, uri: &str) -> bool {
        self.matcher.is_match(uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_what_they_describe() {
        let t = UriTemplate::new("test://template/{id}/data").unwrap();
        assert!(t.matches("test://template/123/data"));
        assert!(!t.matches("test://template/1/2/data"));
        assert!(!t.matches("test://template//data"));
        assert!(!t.matches("xtest://template/1/data"));
        let t = UriTemplate::new("file:///{+path}").unwrap();
        assert!(t.matches("file:///a/b/c.txt"));
        let t = UriTemplate::new("note://a.b/{x}").unwrap();
        assert!(!t.matches("note://aXb/1"), "literals are literal");
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in ["", "a{", "a}", "a{}", "a{{b}}", "x{a}y}"] {
            assert!(UriTemplate::new(bad).is_none(), "{bad}");
        }
        assert!(UriTemplate::new(&"a".repeat(MAX_TEMPLATE + 1)).is_none());
    }
}
