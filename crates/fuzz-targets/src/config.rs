//! The config file (`portcullis serve --config`, `portcullis check-config`).

use std::net::SocketAddr;
use std::path::Path;

use portcullis_control::Config;
use portcullis_policy::Mode;
use portcullis_protocol::mcp;
use sha2::{Digest, Sha256};

/// Whether validating `text` could look a host name up: `server.listen` is a `host:port` that
/// is not an IP address. Such inputs are skipped, so fuzzing never sends a DNS query.
fn would_resolve(text: &str) -> bool {
    let Ok(doc) = toml::from_str::<toml::Table>(text) else {
        // Not TOML: the config parser refuses it before validating anything.
        return false;
    };
    doc.get("server")
        .and_then(|s| s.get("listen"))
        .and_then(|l| l.as_str())
        .is_some_and(|l| l.contains(':') && l.parse::<SocketAddr>().is_err())
}

/// `Config::from_bytes`: any input is refused with errors that each say what is wrong, or becomes
/// a config whose hash is the file's SHA-256, whose upstreams have valid, distinct names, and
/// that is read-only whenever `demo_mode` is on. Validating twice gives the same answer.
pub fn config(data: &[u8]) {
    if std::str::from_utf8(data).is_ok_and(would_resolve) {
        return;
    }
    let base = Path::new("/nonexistent/portcullis-fuzz");
    match Config::from_bytes(data, base) {
        Ok(c) => {
            assert_eq!(c.hash, hex::encode(Sha256::digest(data)));
            let mut names: Vec<&str> = c.upstreams.iter().map(|u| u.name.as_str()).collect();
            assert!(names.iter().all(|n| mcp::is_valid_upstream_name(n)));
            names.sort_unstable();
            let count = names.len();
            names.dedup();
            assert_eq!(names.len(), count, "duplicate upstream names");
            if c.demo_mode {
                assert_eq!(c.effective_mode(), Mode::ReadOnly);
            }
            let again = Config::from_bytes(data, base).expect("validation is deterministic");
            assert_eq!(again.hash, c.hash);
        }
        Err(e) => {
            let errors = e.errors();
            assert!(!errors.is_empty());
            // The field may be "" when the file has an empty key (`['']`): it is that key.
            assert!(errors.iter().all(|f| !f.message.is_empty()));
        }
    }
}
