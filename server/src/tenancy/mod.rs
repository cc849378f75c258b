//! Registries as tenants: the model, its persistence as tenancy rows, and the admin service
//! that changes it (used by both the `signet-server` admin commands and `/admin/v1/`).

mod audit_filter;
mod error;
mod gate_admin;
pub mod model;
mod names;
pub mod service;
mod spec;

pub use model::{
    IdentityKind, Principal, Registry, Role, RoleAssignment, Sku, Tenancy, TrustAccess,
    TrustPolicy, TrustStatus,
};
pub use service::{AdminError, AdminService};

use crate::store::{StoreError, TenancyRow, TenancyRows, TenancyStore};
use model::Identity;

pub(crate) const KIND_REGISTRY: &str = "registry";
pub(crate) const KIND_IDENTITY: &str = "identity";
pub(crate) const KIND_ASSIGNMENT: &str = "assignment";

/// Builds the in-memory model from stored rows. A row that no longer parses is skipped
/// with an error log rather than taking the whole server down.
pub fn from_rows(rows: TenancyRows) -> Tenancy {
    let (mut registries, mut identities, mut assignments) = (Vec::new(), Vec::new(), Vec::new());
    for TenancyRow { kind, name, doc } in rows.rows {
        let parsed = match kind.as_str() {
            KIND_REGISTRY => serde_json::from_str::<Registry>(&doc).map(|r| registries.push(r)),
            KIND_IDENTITY => serde_json::from_str::<Identity>(&doc).map(|i| identities.push(i)),
            KIND_ASSIGNMENT => {
                serde_json::from_str::<RoleAssignment>(&doc).map(|a| assignments.push(a))
            }
            _ => Ok(()),
        };
        if let Err(e) = parsed {
            tracing::error!(kind, name, error = %e, "unreadable tenancy row skipped");
        }
    }
    Tenancy::new(rows.generation, registries, identities, assignments)
}

pub fn load(store: &dyn TenancyStore) -> Result<Tenancy, StoreError> {
    Ok(from_rows(store.tenancy_load()?))
}

/// argon2id PHC string for a secret.
pub fn hash_secret(secret: &str) -> Result<String, AdminError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AdminError::Internal(format!("hashing a secret: {e}")))
}

/// Checks a secret against a stored PHC string (constant time inside argon2).
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Authenticates a user name and password against the identities and the registries' admin
/// accounts (named like their registry; the names never collide, the service sees to it).
pub fn authenticate(t: &Tenancy, user: &str, password: &str) -> Option<Principal> {
    if let Some(id) = t.identities.get(user) {
        return verify_secret(password, &id.secret_hash)
            .then(|| Principal::Identity(id.name.clone()));
    }
    let reg = t.registries.get(user)?;
    let hash = reg.admin_password_hash.as_deref()?;
    (reg.admin_user_enabled && verify_secret(password, hash)).then(|| Principal::Admin {
        registry: reg.name.clone(),
    })
}
