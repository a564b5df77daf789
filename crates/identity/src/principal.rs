//! The authenticated caller.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub tenant: String,
    pub agent: String,
    pub role: String,
    /// Id of the credential that authenticated this call (e.g. an API key id).
    pub credential_id: String,
}

impl Principal {
    /// `tenant/agent`, for logs.
    pub fn label(&self) -> String {
        format!("{}/{}", self.tenant, self.agent)
    }
}
