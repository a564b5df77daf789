//! Control plane: the typed configuration, loaded from TOML and validated once into domain
//! types. Later: admin API, reload, tenants and quotas.
#![forbid(unsafe_code)]

pub mod config;
pub mod secret;

pub use config::{
    ActorAlgorithm, ActorKey, ActorKeyMaterial, AuditConfig, BreakerConfig, CertField, CertMapping,
    Config, ConfigError, DuplicatesConfig, IdempotencyConfig, IdentityConfig, JwksSource,
    OidcIssuer, Overrides, Oversize, QuotaRule, QuotaScope, QuotaWindow, RateRule, RateScope,
    ResultsArgument, ServerConfig, StoreConfig, TlsConfig, ToolRule, Transport, UpstreamConfig,
};
pub use secret::SecretRef;
