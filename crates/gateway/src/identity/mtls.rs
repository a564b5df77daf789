//! Client certificates (`[server.tls] client_ca` and `[[identity.certificates]]`): the
//! handshake verified the certificate against the client CA; here its URI SAN (a SPIFFE ID),
//! DNS SAN or CN names the actor, by the first mapping that matches. A request with only its
//! certificate acts as that actor (`auth_method` `mtls`); a request that also carries another
//! credential must name the same tenant and actor with it, else `identity_mismatch`.

use std::collections::BTreeMap;
use std::sync::Arc;

use globset::{Glob, GlobMatcher};
use portcullis_control::{CertField, CertMapping, Config};
use portcullis_identity::{AuthMethod, Principal};

use crate::ingress::tls::ClientCert;

struct Mapping {
    cfg: CertMapping,
    matcher: GlobMatcher,
}

/// The certificate → actor mappings.
pub struct CertActors {
    mappings: Vec<Mapping>,
}

impl CertActors {
    pub fn from_config(config: &Config) -> Option<CertActors> {
        let mappings: Vec<Mapping> = config
            .identity
            .certificates
            .iter()
            .filter_map(|m| {
                let matcher = Glob::new(&m.pattern).ok()?.compile_matcher();
                Some(Mapping {
                    cfg: m.clone(),
                    matcher,
                })
            })
            .collect();
        (!mappings.is_empty()).then_some(CertActors { mappings })
    }

    /// The principal a certificate names, if a mapping matches it.
    pub fn principal(&self, cert: &ClientCert) -> Option<Principal> {
        for m in &self.mappings {
            let candidates: Vec<&str> = match m.cfg.field {
                CertField::Uri => cert.uris.iter().map(String::as_str).collect(),
                CertField::Dns => cert.dns.iter().map(String::as_str).collect(),
                CertField::Cn => cert.cn.iter().map(String::as_str).collect(),
            };
            if let Some(actor) = candidates.into_iter().find(|c| m.matcher.is_match(c)) {
                let mut evidence = BTreeMap::new();
                evidence.insert("certificate_sha256".to_string(), cert.sha256.clone());
                evidence.insert("certificate_name".to_string(), actor.to_string());
                return Some(Principal {
                    tenant: m.cfg.tenant.clone(),
                    agent: actor.to_string(),
                    role: m.cfg.role.clone(),
                    credential_id: format!("cert:{}", cert.sha256),
                    auth_method: AuthMethod::Mtls,
                    evidence: Some(Arc::new(evidence)),
                });
            }
        }
        None
    }
}
