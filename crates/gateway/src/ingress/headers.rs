//! The one way to read a security-relevant header (credentials, Host, Origin, the session id,
//! the dry-run switch, the protocol headers): its single value, or a refusal when it is repeated.
//! Two values could contradict each other, and whichever one a reader picked, another component
//! (a proxy, the upstream) might pick the other.

use axum::http::{HeaderMap, HeaderValue};
use portcullis_protocol::ErrorCode;

use crate::respond::Failure;

/// A header that came more than once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {0} header is repeated")]
pub struct Repeated(pub String);

impl From<Repeated> for Failure {
    fn from(r: Repeated) -> Failure {
        Failure::new(ErrorCode::RepeatedHeader, r.to_string())
    }
}

/// The header's one value, if present; `Repeated` if it is there more than once.
pub fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h HeaderValue>, Repeated> {
    let mut all = headers.get_all(name).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(Repeated(name.to_string()));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_is_read_and_a_repeat_is_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(single(&h, "authorization"), Ok(None));
        h.append("authorization", HeaderValue::from_static("Bearer a"));
        assert_eq!(
            single(&h, "authorization").unwrap().unwrap().as_bytes(),
            b"Bearer a"
        );
        h.append("authorization", HeaderValue::from_static("Bearer a"));
        let e = single(&h, "authorization").unwrap_err();
        assert_eq!(e, Repeated("authorization".into()));
        assert_eq!(Failure::from(e).code, ErrorCode::RepeatedHeader);
    }
}
