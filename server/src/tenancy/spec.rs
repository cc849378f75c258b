//! What the admin surfaces send to create or change a registry, and what they get back
//! (including what clients do after a repository reset).

use super::model::Registry;

/// A new registry as the operator describes it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistrySpec {
    pub name: String,
    pub login_server: String,
    pub sku: String,
    #[serde(default)]
    pub cmk_key_id: Option<String>,
    #[serde(default)]
    pub admin_user_enabled: bool,
    #[serde(default)]
    pub anonymous_pull_enabled: bool,
}

/// Changes to an existing registry; absent fields stay as they are.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryUpdate {
    pub sku: Option<String>,
    pub admin_user_enabled: Option<bool>,
    pub anonymous_pull_enabled: Option<bool>,
    /// Refused: encryption is fixed at creation. Accepted here only to say so clearly.
    pub cmk_key_id: Option<String>,
    /// Generate a new admin password (admin user must be or become enabled).
    #[serde(default)]
    pub regenerate_admin_password: bool,
}

/// A registry as created or updated, with the admin password when one was just generated
/// (shown once, stored only as a hash).
#[derive(Debug)]
pub struct RegistryOutcome {
    pub registry: Registry,
    pub admin_password: Option<String>,
}

impl RegistryOutcome {
    pub fn view(&self) -> serde_json::Value {
        let mut v = self.registry.view();
        if let (Some(p), Some(obj)) = (&self.admin_password, v.as_object_mut()) {
            obj.insert(
                "adminCredentials".into(),
                serde_json::json!({"username": self.registry.name, "password": p}),
            );
        }
        v
    }
}

/// What signers and readers do after a repository reset (the CLI prints it, the admin API
/// returns it, the README quotes it).
pub fn after_reset(gun: &str) -> String {
    format!(
        "Clients keep their own copy of the old trust data. Signers: remove it (rm -rf ~/.docker/trust/tuf/{gun}, or ~/.notary/tuf/{gun} for notary; private keys stay) and sign again: `docker trust signer add` or `notary init` creates the new root. Readers: remove the same directory before the next pull, because they pinned the old root and refuse the new one."
    )
}
