//! Setting a registry's gate policy (`signet-server registry gate`, `/admin/v1/`), audited.

use super::service::{AdminService, Plan};
use super::{AdminError, KIND_REGISTRY};
use crate::gate::policy::check_policy;
use crate::gate::GatePolicy;
use crate::store::{TenancyChange, TenancyRow};

impl AdminService {
    /// Stores `policy` as the registry's gate policy; returns it.
    pub fn set_gate_policy(
        &self,
        name: &str,
        policy: &GatePolicy,
    ) -> Result<GatePolicy, AdminError> {
        check_policy(policy).map_err(AdminError::Invalid)?;
        self.apply(|t| {
            let mut reg = Self::registry(t, name)?.clone();
            reg.gate = Some(policy.clone());
            Ok(Plan {
                changes: vec![TenancyChange::Put(TenancyRow {
                    kind: KIND_REGISTRY.into(),
                    name: reg.name.clone(),
                    doc: serde_json::to_string(&reg)
                        .map_err(|e| AdminError::Internal(e.to_string()))?,
                })],
                wipe: None,
                action: "gate.set",
                target: reg.name.clone(),
                detail: serde_json::json!({"gatePolicy": policy.view()}),
                result: policy.clone(),
            })
        })
        .map(|(p, _)| p)
    }

    /// The policy in force for a registry (stored, or the default its content trust implies).
    pub fn gate_policy(&self, name: &str) -> Result<GatePolicy, AdminError> {
        Ok(Self::registry(&self.snapshot()?, name)?.gate_policy())
    }
}
