//! Ingress guards: the cheap refusals that need no identity. Host allowlist and Origin check
//! (DNS-rebinding defence), media types, and the body size cap.

pub mod connections;
mod guards;
pub mod headers;
pub mod tls;

pub use guards::{Accepts, check_accept, check_content_type, check_host, check_origin, read_body};
pub use headers::{Repeated, single};
