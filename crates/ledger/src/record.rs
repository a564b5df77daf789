//! The audit record: one leaf of the ledger. Written by the data plane (decision before forwarding,
//! outcome after), stored by the audit plane, covered by the canonical encoding in `canonical.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the canonical record encoding the gateway writes; bumped when covered fields or
/// their forms change. Version 2 added `facts`; version 1 records (without it) still verify.
pub const RECORD_VERSION: u16 = 2;

/// Every version a record may carry.
pub const RECORD_VERSIONS: [u16; 2] = [1, 2];

/// What a record states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// The gateway's decision on a call, written before anything is forwarded.
    Decision,
    /// What happened after an allowed call was forwarded.
    Outcome,
    /// A change an operator made to the gateway's controls (a kill switch set or lifted).
    Control,
}

impl RecordKind {
    /// The name in the canonical encoding and in the store's `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Decision => "decision",
            RecordKind::Outcome => "outcome",
            RecordKind::Control => "control",
        }
    }
}

/// The ledger's decision vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
    DryRun,
    PendingApproval,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::DryRun => "dry_run",
            Decision::PendingApproval => "pending_approval",
        }
    }
}

/// One ledger record. `seq` is the leaf index, assigned by the store when the record is appended.
/// Optional fields are absent (not null) in the canonical encoding when `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Canonical encoding version (`RECORD_VERSION` when written).
    pub version: u16,
    /// Leaf index in the ledger, 0-based.
    pub seq: u64,
    /// Unix time in milliseconds when the record was made.
    pub time_ms: i64,
    pub kind: RecordKind,
    /// Same id as in the HTTP response and the logs.
    pub correlation_id: String,
    pub tenant: String,
    pub agent: String,
    /// Id of the credential (API key id, ...) that authenticated the call.
    pub credential_id: String,
    /// JSON-RPC method, e.g. `tools/call`.
    pub method: String,
    /// Namespaced tool name (`upstream.tool`), if the call names a tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `read`, `write` or `destructive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_class: Option<String>,
    /// Set on decision records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Stable error code of a denial or a failed outcome (`docs/errors.md`); `ok` for a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Lower-case hex SHA-256 of the arguments' JSON as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_hash: Option<String>,
    /// Redacted, size-capped preview of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_preview: Option<String>,
    /// Wall time from receipt to outcome, in microseconds (outcome records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// What else the gateway established about the request (how the caller authenticated,
    /// where a refused request came from, ...), by name. Version 2 and later; absent when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
}
