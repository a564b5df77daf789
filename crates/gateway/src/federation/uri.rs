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

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// A piece of a template: a literal (regex metacharacters included) or an expression
        /// with its operator.
        #[derive(Debug, Clone)]
        enum Piece {
            Literal(String),
            Expr(&'static str, String),
        }

        fn piece() -> impl Strategy<Value = Piece> {
            prop_oneof![
                "[a-zA-Z0-9:/._~()*+?|^$\\\\\\[\\]-]{1,6}".prop_map(Piece::Literal),
                (
                    prop::sample::select(vec!["", "+", "#", "/", "?", "&", ";", "."]),
                    "[a-z]{1,5}"
                )
                    .prop_map(|(op, name)| Piece::Expr(op, name)),
            ]
        }

        fn spans_slash(op: &str) -> bool {
            matches!(op, "+" | "#" | "/")
        }

        /// A template and a URI made from it by substituting a value for each expression
        /// (values with `/` only where the expression may span it).
        fn template_and_uri() -> impl Strategy<Value = (String, String)> {
            prop::collection::vec(piece(), 1..6).prop_flat_map(|pieces| {
                let values: Vec<BoxedStrategy<String>> = pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Literal(l) => Just(l.clone()).boxed(),
                        Piece::Expr(op, _) if spans_slash(op) => "[a-zA-Z0-9/._~%-]{1,8}".boxed(),
                        Piece::Expr(..) => "[a-zA-Z0-9._~%-]{1,8}".boxed(),
                    })
                    .collect();
                let template: String = pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Literal(l) => l.clone(),
                        Piece::Expr(op, name) => format!("{{{op}{name}}}"),
                    })
                    .collect();
                (Just(template), values.prop_map(|v| v.concat()))
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn a_substituted_template_matches((template, uri) in template_and_uri()) {
                let t = UriTemplate::new(&template).expect("generated templates are well formed");
                prop_assert!(t.matches(&uri), "{} should match {}", template, uri);
                // Matching is anchored at both ends: an outer literal must be there.
                if !template.starts_with('{') {
                    let longer = format!("\u{1}{uri}");
                    prop_assert!(!t.matches(&longer));
                }
                if !template.ends_with('}') {
                    let longer = format!("{uri}\n");
                    prop_assert!(!t.matches(&longer));
                }
            }

            #[test]
            fn a_simple_expression_never_spans_a_slash(
                prefix in "[a-z:]{1,6}/",
                name in "[a-z]{1,5}",
                value in "[a-z0-9]{1,4}/[a-z0-9]{1,4}",
            ) {
                let t = UriTemplate::new(&format!("{prefix}{{{name}}}")).unwrap();
                let uri = format!("{prefix}{value}");
                prop_assert!(!t.matches(&uri));
                let t = UriTemplate::new(&format!("{prefix}{{+{name}}}")).unwrap();
                prop_assert!(t.matches(&uri));
            }
        }
    }
}
