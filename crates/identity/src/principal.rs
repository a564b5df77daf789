//! The authenticated caller.

use serde::Serialize;

/// A tenant, agent or role name: 1-128 characters of A-Z a-z 0-9 `_ - . @`.
pub fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// An API key created by the CLI.
    ApiKey,
    /// A JWT bearer token from a trusted issuer (OIDC).
    Oidc,
    /// A request signed with an actor key (`x-actor-*` headers).
    SignedActor,
    /// A client certificate verified in the TLS handshake.
    Mtls,
    /// No authentication: the loopback-only conformance profile.
    Unauthenticated,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Oidc => "oidc",
            AuthMethod::SignedActor => "signed_actor",
            AuthMethod::Mtls => "mtls",
            AuthMethod::Unauthenticated => "unauthenticated",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub tenant: String,
    pub agent: String,
    pub role: String,
    /// Id of the credential that authenticated this call (e.g. an API key id).
    pub credential_id: String,
    pub auth_method: AuthMethod,
    /// What the credential said beyond the above, for the ledger (a token's issuer, subject,
    /// token id and scopes); recorded as `auth_<name>` facts.
    #[serde(skip)]
    pub evidence: Option<std::sync::Arc<std::collections::BTreeMap<String, String>>>,
}

impl Principal {
    /// `tenant/agent`, for logs.
    pub fn label(&self) -> String {
        format!("{}/{}", self.tenant, self.agent)
    }
}
