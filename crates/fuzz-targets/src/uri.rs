//! Resource URI templates an upstream announces, and the URIs a client asks for.

use portcullis_gateway::federation::uri::UriTemplate;
use portcullis_protocol::mcp;

/// One piece of a well-formed template.
enum Piece<'a> {
    Literal(&'a str),
    /// An expression; `true` when it may span `/` (`{+x}`, `{#x}`, `{/x}`).
    Expr(bool),
}

/// The pieces of a template `UriTemplate::new` accepted.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = open
            + rest[open..]
                .find('}')
                .expect("accepted templates close braces");
        if open > 0 {
            out.push(Piece::Literal(&rest[..open]));
        }
        out.push(Piece::Expr(matches!(
            rest.as_bytes()[open + 1],
            b'+' | b'#' | b'/'
        )));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Literal(rest));
    }
    out
}

/// The template with every expression replaced by `value`.
fn substitute(pieces: &[Piece<'_>], value: &str) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Literal(l) => *l,
            Piece::Expr(_) => value,
        })
        .collect()
}

/// The first line is a template, each further line (at most 8) a URI and a variable value.
/// An accepted template keeps its text; a template without expressions matches itself and
/// nothing longer; a match starts and ends with the template's outer literals; substituting a
/// non-empty value for every expression (without `/` where an expression cannot span it) gives
/// a URI the template matches.
pub fn uri_template(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let template = lines.next().unwrap_or("");
    let Some(t) = UriTemplate::new(template) else {
        assert!(
            template.is_empty() || template.len() > 2048 || template.contains(['{', '}']),
            "a plain literal template {template:?} was refused"
        );
        return;
    };
    assert_eq!(t.template, template);
    let pieces = pieces(template);
    if let [Piece::Literal(l)] = pieces.as_slice() {
        assert!(t.matches(l));
        assert!(!t.matches(&format!("{l}x")) && !t.matches(&format!("x{l}")));
    }
    let prefix = match pieces.first() {
        Some(Piece::Literal(l)) => *l,
        _ => "",
    };
    let suffix = match pieces.last() {
        Some(Piece::Literal(l)) => *l,
        _ => "",
    };
    for line in lines.take(8) {
        if t.matches(line) {
            assert!(
                line.starts_with(prefix) && line.ends_with(suffix),
                "{line:?} matched"
            );
        }
        if line.is_empty() {
            continue;
        }
        let fits = pieces
            .iter()
            .all(|p| !matches!(p, Piece::Expr(false)) || !line.contains('/'));
        let uri = substitute(&pieces, line);
        if fits {
            assert!(t.matches(&uri), "{uri:?} from {line:?} does not match");
        }
    }
}

/// Any text as a resource URI. A URI is refused or gets a normal form that is a fixed point
/// (normalising it again changes nothing), fits the length cap, and keeps nothing that could
/// mean different things to different servers: no dot segment in a rooted path, no encoded
/// `/`, `\` or control character, no lower-case escape.
pub fn uri_normalize(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(normal) = mcp::uri::normalize(&text) else {
        return;
    };
    assert!(!normal.is_empty() && normal.len() <= mcp::uri::MAX_URI);
    assert_eq!(
        mcp::uri::normalize(&normal).as_deref(),
        Ok(normal.as_str()),
        "{text:?} normalised to {normal:?}, which is not a fixed point"
    );
    let parsed = fluent_uri::Iri::parse(normal.as_str()).expect("a normal form parses");
    let path = parsed.path().as_str();
    if path.starts_with('/') {
        assert!(
            !path.split('/').any(|s| s == "." || s == ".."),
            "{normal:?} keeps a dot segment"
        );
    }
    assert!(
        !path.contains("%2F") && !path.contains("%5C"),
        "{normal:?} keeps an encoded separator"
    );
    let b = normal.as_bytes();
    for (i, _) in normal.match_indices('%') {
        let hex = &b[i + 1..i + 3];
        assert!(
            hex.iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
            "{normal:?} keeps a lower-case escape"
        );
        assert!(
            hex[0] > b'1' && hex != b"7F",
            "{normal:?} keeps a control escape"
        );
    }
}
