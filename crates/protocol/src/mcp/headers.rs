//! Header values that mirror body fields (`Mcp-Name`, `Mcp-Param-*`): plain visible ASCII, or
//! the Base64 sentinel form `=?base64?...?=` for anything else.

use base64::Engine as _;

/// Why a mirrored header value cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderValueError {
    #[error("the header value is not visible ASCII")]
    NotAscii,
    #[error("the header's Base64 value is not valid")]
    BadBase64,
    #[error("the header's Base64 value is not UTF-8")]
    NotUtf8,
}

const PREFIX: &str = "=?base64?";
const SUFFIX: &str = "?=";

/// The text a mirrored header value stands for.
pub fn decode_header_value(raw: &[u8]) -> Result<String, HeaderValueError> {
    if !raw.iter().all(|b| *b == b'\t' || (0x20..=0x7e).contains(b)) {
        return Err(HeaderValueError::NotAscii);
    }
    let text = std::str::from_utf8(raw).map_err(|_| HeaderValueError::NotAscii)?;
    match text
        .strip_prefix(PREFIX)
        .and_then(|t| t.strip_suffix(SUFFIX))
    {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| HeaderValueError::BadBase64)?;
            String::from_utf8(bytes).map_err(|_| HeaderValueError::NotUtf8)
        }
        None => Ok(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_sentinel_values_decode() {
        assert_eq!(decode_header_value(b"us-west1").unwrap(), "us-west1");
        assert_eq!(
            decode_header_value(b"=?base64?SGVsbG8sIOS4lueVjA==?=").unwrap(),
            "Hello, 世界"
        );
        assert_eq!(
            decode_header_value(b"=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=").unwrap(),
            "=?base64?literal?="
        );
    }

    #[test]
    fn hostile_values_are_refused() {
        assert_eq!(
            decode_header_value("é".as_bytes()),
            Err(HeaderValueError::NotAscii)
        );
        assert_eq!(
            decode_header_value(b"a\nb"),
            Err(HeaderValueError::NotAscii)
        );
        assert_eq!(
            decode_header_value(b"=?base64?!!!?="),
            Err(HeaderValueError::BadBase64)
        );
        assert_eq!(
            decode_header_value(b"=?base64?/w==?="),
            Err(HeaderValueError::NotUtf8)
        );
    }
}
