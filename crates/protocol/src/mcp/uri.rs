//! Resource URIs as the gateway compares them. A client, a policy glob and an upstream may
//! spell one resource in several ways (`FILE:///srv/a`, `file:///srv/./a`, `file:///srv/%61`);
//! policy must judge the resource, not the spelling. [`normalize`] brings a URI to one form
//! (RFC 3986 §6.2.2 and RFC 3987 §5.3.2: unreserved characters decoded, percent-escapes in
//! upper case, scheme and host in lower case, default port dropped, dot segments removed) and
//! refuses what would still mean different things to different servers.

use fluent_uri::Iri;
use fluent_uri::normalize::{NormalizeError, Normalizer};

/// Longest resource URI accepted, before or after normalisation.
pub const MAX_URI: usize = 4096;

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("a URI is 1 to {MAX_URI} characters")]
    Length,
    #[error("not an absolute URI ({0})")]
    Syntax(String),
    #[error("the path climbs above its root")]
    AboveRoot,
    #[error("an encoded '/' or '\\' in the path is ambiguous")]
    EncodedSeparator,
    #[error("an encoded control character is refused")]
    EncodedControl,
    #[error("credentials in a resource URI are refused")]
    Userinfo,
    #[error("a '.' or '..' segment that cannot be resolved")]
    DotSegment,
}

/// The one form of `uri` that policy matches and the gateway forwards, or why it has none.
pub fn normalize(uri: &str) -> Result<String, UriError> {
    if uri.is_empty() || uri.len() > MAX_URI {
        return Err(UriError::Length);
    }
    let parsed = Iri::parse(uri).map_err(|e| UriError::Syntax(e.to_string()))?;
    if parsed.authority().is_some_and(|a| a.userinfo().is_some()) {
        return Err(UriError::Userinfo);
    }
    let normal = Normalizer::new()
        .allow_path_underflow(false)
        .normalize(&parsed)
        .map_err(|e| match e {
            NormalizeError::PathUnderflow => UriError::AboveRoot,
        })?;
    let path = normal.path().as_str();
    // After normalisation every escape is upper case and no unreserved character is escaped.
    if path.contains("%2F") || path.contains("%5C") {
        return Err(UriError::EncodedSeparator);
    }
    if has_control_escape(normal.as_str()) {
        return Err(UriError::EncodedControl);
    }
    // Left in a path without a root, or kept by normalisation where removing it would turn
    // the path into an authority (`x:/.//a`).
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err(UriError::DotSegment);
    }
    let out = normal.into_string();
    if out.len() > MAX_URI {
        return Err(UriError::Length);
    }
    Ok(out)
}

/// `%00`–`%1F` or `%7F` anywhere (escapes are upper case in a normalised URI).
fn has_control_escape(s: &str) -> bool {
    s.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && ((w[1] == b'0' || w[1] == b'1') && w[2].is_ascii_hexdigit() || w[1..] == *b"7F")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_resource_become_one() {
        for (a, b) in [
            ("FILE:///srv/reports/a.txt", "file:///srv/reports/a.txt"),
            ("file:///srv/reports/./a.txt", "file:///srv/reports/a.txt"),
            (
                "file:///srv/x/../reports/a.txt",
                "file:///srv/reports/a.txt",
            ),
            ("file:///srv/%72eports/a.txt", "file:///srv/reports/a.txt"),
            (
                "file:///srv/%2e%2E/srv/reports/a.txt",
                "file:///srv/reports/a.txt",
            ),
            ("note://Host.Example/A%7eb", "note://host.example/A~b"),
            ("https://example.com:443/x", "https://example.com/x"),
            ("note://h/a%3a", "note://h/a%3A"),
            ("urn:isbn:0451450523", "urn:isbn:0451450523"),
            (
                "file:///srv/r\u{e9}sum\u{e9}.txt",
                "file:///srv/r\u{e9}sum\u{e9}.txt",
            ),
        ] {
            assert_eq!(normalize(a).as_deref(), Ok(b), "{a}");
            assert_eq!(
                normalize(b).as_deref(),
                Ok(b),
                "normal forms are fixed points: {b}"
            );
        }
    }

    #[test]
    fn paths_stay_case_sensitive() {
        assert_eq!(
            normalize("file:///Srv/A").unwrap(),
            "file:///Srv/A",
            "only scheme and host fold case"
        );
    }

    #[test]
    fn ambiguous_and_hostile_uris_are_refused() {
        for (uri, why) in [
            ("", UriError::Length),
            ("relative/path", UriError::Syntax(String::new())),
            ("file:///srv/a b", UriError::Syntax(String::new())),
            ("file:///srv/a\\b", UriError::Syntax(String::new())),
            ("file:///srv/%zz", UriError::Syntax(String::new())),
            ("file:///../etc/passwd", UriError::AboveRoot),
            ("file:///srv/%2e%2e/%2e%2e/etc", UriError::AboveRoot),
            (
                "file:///srv/reports%2F..%2Fsecrets",
                UriError::EncodedSeparator,
            ),
            ("file:///srv/reports%2f..", UriError::EncodedSeparator),
            ("file:///srv/a%5Cb", UriError::EncodedSeparator),
            ("file:///srv/a%00.txt", UriError::EncodedControl),
            ("note://h/a?x=%0A", UriError::EncodedControl),
            ("note://h/a%7f", UriError::EncodedControl),
            ("https://user:pw@example.com/x", UriError::Userinfo),
            ("note:../secrets", UriError::DotSegment),
            ("note:a/%2E%2E/b", UriError::DotSegment),
            ("fei:/.//sevx", UriError::DotSegment),
            ("x:/a/..//b", UriError::DotSegment),
        ] {
            match (normalize(uri), why) {
                (Err(UriError::Syntax(_)), UriError::Syntax(_)) => {}
                (got, want) => assert_eq!(got, Err(want), "{uri}"),
            }
        }
        assert_eq!(
            normalize(&format!("note://h/{}", "a".repeat(MAX_URI))),
            Err(UriError::Length)
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Normalising twice changes nothing, and the normal form never keeps a dot segment,
            /// an encoded separator or a lower-case escape.
            #[test]
            fn normal_forms_are_stable(uri in "(file|NOTE|https)://[a-zA-Z.]{0,6}(/([a-zA-Z0-9._~-]|%[0-9a-fA-F]{2}|\\.\\.?){0,4}){0,5}(\\?[a-z=%0-9]{0,6})?") {
                if let Ok(n) = normalize(&uri) {
                    prop_assert_eq!(normalize(&n), Ok(n.clone()));
                    let parsed = Iri::parse(n.as_str()).unwrap();
                    let path = parsed.path().as_str();
                    prop_assert!(!path.split('/').any(|s| s == "." || s == ".."), "{}", n);
                    prop_assert!(!path.contains("%2F") && !path.contains("%5C"));
                    prop_assert!(!n.as_bytes().windows(3).any(|w| w[0] == b'%' && (w[1].is_ascii_lowercase() || w[2].is_ascii_lowercase())));
                }
            }

            /// A path that climbs out of a directory and back names the same resource.
            #[test]
            fn climbing_out_and_back_is_the_same_resource(
                dir in "[a-z]{1,6}",
                sub in "[a-z]{1,6}",
                leaf in "[a-z]{1,6}",
            ) {
                let direct = normalize(&format!("file:///{dir}/{leaf}")).unwrap();
                let around = normalize(&format!("file:///{dir}/{sub}/../{leaf}")).unwrap();
                let escaped = normalize(&format!("file:///{dir}/{sub}/%2E%2E/{leaf}")).unwrap();
                prop_assert_eq!(&direct, &around);
                prop_assert_eq!(&direct, &escaped);
            }
        }
    }
}
