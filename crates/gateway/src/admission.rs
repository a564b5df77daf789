//! Admission, before any JSON-RPC is read: the ingress guards that need no identity (Host,
//! Origin, a repeated dry-run switch), then the identity chain. `/mcp`, `/api/*` and the ledger
//! API admit alike.

use axum::http::HeaderMap;
use portcullis_identity::Principal;

use crate::ingress;
use crate::respond::Failure;
use crate::state::AppState;

pub async fn admit(st: &AppState, headers: &HeaderMap) -> Result<Principal, Failure> {
    ingress::check_host(headers, &st.config.server.allowed_hosts)?;
    ingress::check_origin(headers, &st.config.server.allowed_origins)?;
    // Read again (once) by tools/call; a repeat is refused here, before any JSON-RPC exchange.
    ingress::single(headers, crate::methods::tools::DRY_RUN_HEADER)?;
    st.identity.authenticate(headers, st.clock.now_ms()).await
}
