//! Administrators: admin keys (`pca_…`, kept apart from agent keys) and the least-privilege
//! roles of the admin API.

use serde::{Deserialize, Serialize};

use crate::apikey::{KeyStatus, ParsedKey, check_key};

/// What an administrator may do. Each role includes the ones below it: `auditor` reads the
/// ledger, its checkpoints, proofs and exports; `approver` also decides approvals; `admin`
/// does everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    Auditor,
    Approver,
    Admin,
}

impl AdminRole {
    pub const ALL: [AdminRole; 3] = [AdminRole::Auditor, AdminRole::Approver, AdminRole::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Auditor => "auditor",
            AdminRole::Approver => "approver",
            AdminRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<AdminRole> {
        AdminRole::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// True if this role may do what `needed` may.
    pub fn includes(self, needed: AdminRole) -> bool {
        self >= needed
    }
}

/// An admin key as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminKeyRecord {
    pub id: String,
    /// Who holds it (a person or a pipeline), recorded with every act.
    pub name: String,
    pub role: AdminRole,
    /// An auditor key may be limited to one tenant's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Lower-case hex SHA-256 of the whole key.
    pub hash_hex: String,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

impl AdminKeyRecord {
    /// Check a presented admin key against this record at `now_ms`.
    pub fn check(&self, presented: &ParsedKey, now_ms: i64) -> KeyStatus {
        check_key(
            &self.hash_hex,
            self.expires_ms,
            self.revoked_ms,
            presented,
            now_ms,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GeneratedKey;

    #[test]
    fn roles_include_the_ones_below_them_only() {
        use AdminRole::*;
        assert!(Admin.includes(Approver) && Admin.includes(Auditor) && Admin.includes(Admin));
        assert!(Approver.includes(Auditor) && !Approver.includes(Admin));
        assert!(!Auditor.includes(Approver) && !Auditor.includes(Admin));
        for r in AdminRole::ALL {
            assert_eq!(AdminRole::parse(r.as_str()), Some(r));
        }
        for bad in ["", "Admin", "root", "admin "] {
            assert_eq!(AdminRole::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn admin_keys_check_like_agent_keys() {
        let k = GeneratedKey::admin();
        let p = ParsedKey::parse_admin(&k.token).unwrap();
        let mut r = AdminKeyRecord {
            id: k.id.clone(),
            name: "ops".into(),
            role: AdminRole::Auditor,
            tenant: None,
            hash_hex: hex::encode(k.hash),
            created_ms: 0,
            expires_ms: Some(100),
            revoked_ms: None,
        };
        assert_eq!(r.check(&p, 1), KeyStatus::Valid);
        assert_eq!(r.check(&p, 100), KeyStatus::Expired);
        r.revoked_ms = Some(2);
        assert_eq!(r.check(&p, 3), KeyStatus::Revoked);
        let other = ParsedKey::parse_admin(&GeneratedKey::admin().token).unwrap();
        assert_eq!(r.check(&other, 1), KeyStatus::Mismatch);
    }
}
