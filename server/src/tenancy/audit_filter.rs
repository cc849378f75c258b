//! Filters of the audit log (registry, identity, action, time), as `audit` and
//! `GET /admin/v1/audit` take them.

use crate::store::AuditRecord;
use time::OffsetDateTime;

/// Which audit records to show; every field that is set must match.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Records about this registry: its own changes, role changes on it, repository
    /// resets under it.
    pub registry: Option<String>,
    /// Records about this identity: its own changes and the roles it was given or lost.
    pub identity: Option<String>,
    /// An action (`role.assign`) or a family (`role`).
    pub action: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

impl AuditFilter {
    pub(super) fn matches(&self, r: &AuditRecord) -> bool {
        let family = r.action.split('.').next().unwrap_or("");
        let registry = match family {
            "registry" | "content-trust" => Some(r.target.as_str()),
            _ => r.detail.get("registry").and_then(|v| v.as_str()),
        };
        let identity = match family {
            "identity" => Some(r.target.as_str()),
            _ => r.detail.get("identity").and_then(|v| v.as_str()),
        };
        self.registry
            .as_deref()
            .is_none_or(|want| registry == Some(want))
            && self
                .identity
                .as_deref()
                .is_none_or(|want| identity == Some(want))
    }
}
