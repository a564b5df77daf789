//! TLS for the listener (`[server.tls]`): the certificate chain and key from PEM files, with
//! rustls (TLS 1.2 and 1.3, its safe defaults, ring's algorithms), ALPN `http/1.1`. The files are checked every `reload_every` and loaded again when they changed: new
//! connections get the new certificate, open ones keep theirs; a change that does not load (a
//! half-written file, a key that does not fit) is logged and the previous certificate stays.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use portcullis_control::TlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

/// The certificate in use, replaced when the files change.
pub struct Certificates {
    files: TlsConfig,
    current: RwLock<(Arc<ServerConfig>, Stamp)>,
}

/// When the two files were last modified, to notice a change.
type Stamp = (Option<SystemTime>, Option<SystemTime>);

fn stamp(files: &TlsConfig) -> Stamp {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(&files.cert), modified(&files.key))
}

/// The rustls server config of the PEM files, or what is wrong with them.
pub fn load(files: &TlsConfig) -> Result<Arc<ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("{}: {e}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", files.cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("{}: {e}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in
                CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))?
            {
                let c = c.map_err(|e| format!("{}: {e}", ca.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("{}: not a CA certificate: {e}", ca.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("{}: no CA certificate in it", ca.display()));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| format!("{}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    // HTTP/1.1 only: the ingress guards read the Host header, which HTTP/2 replaces with
    // :authority.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl Certificates {
    /// Load the files now (a failure stops the start).
    pub fn new(files: TlsConfig) -> Result<Certificates, String> {
        let first = load(&files)?;
        let at = stamp(&files);
        Ok(Certificates {
            files,
            current: RwLock::new((first, at)),
        })
    }

    pub fn current(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// Load the files again if they changed since the last load; whether a new certificate
    /// is in use.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamp(&self.files);
        if self.current.read().unwrap_or_else(|p| p.into_inner()).1 == now {
            return false;
        }
        match load(&self.files) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = (config, now);
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate loaded again");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "the changed TLS files could not be loaded; the previous certificate stays in use");
                false
            }
        }
    }

    /// Check the files every `reload_every` until `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.files.reload_every) => {}
            }
            self.reload_if_changed();
        }
    }
}

/// What a client certificate (verified in the handshake) says about its holder: its URI and
/// DNS subject alternative names, its subject CN, and the SHA-256 of its DER.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCert {
    pub uris: Vec<String>,
    pub dns: Vec<String>,
    pub cn: Option<String>,
    pub sha256: String,
}

impl ClientCert {
    /// Read a verified certificate's names; `None` if it cannot be parsed.
    pub fn parse(der: &[u8]) -> Option<ClientCert> {
        use sha2::{Digest, Sha256};
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut out = ClientCert {
            sha256: hex::encode(Sha256::digest(der)),
            ..Default::default()
        };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::URI(u) => out.uris.push(u.to_string()),
                    GeneralName::DNSName(d) => out.dns.push(d.to_string()),
                    _ => {}
                }
            }
        }
        out.cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        Some(out)
    }
}
