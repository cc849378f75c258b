//! The admin service's one error type, with the stable codes the CLI and the admin API show.

use crate::store::StoreError;
use thiserror::Error;

/// Why an admin request was refused. `code()` is the stable machine-readable name.
#[derive(Debug, Error)]
pub enum AdminError {
    #[error("{what} '{name}' not found")]
    NotFound { what: &'static str, name: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("Policies are only supported for managed registries in Premium SKU.")]
    PremiumRequired,
    #[error("registry '{0}' has content trust enabled: Policies are only supported for managed registries in Premium SKU. Disable content trust before changing the SKU.")]
    DowngradeWithTrust(String),
    #[error("Content trust is not supported when encryption with a customer-managed key is enabled on registry '{0}'.")]
    BlockedForEncryptionEnabledRegistry(String),
    #[error("encryption with a customer-managed key can only be chosen when a registry is created and can never be removed")]
    EncryptionImmutable,
    #[error("the admin user of registry '{0}' can never be granted signing (AcrImageSigner); assign roles to users or service principals")]
    AdminCannotSign(String),
    #[error("the admin user of registry '{0}' cannot be assigned roles: it already has pull, push and delete on its registry, and never signing")]
    AdminNoRoles(String),
    #[error("the configuration kept changing underneath; try again")]
    Busy,
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl AdminError {
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::NotFound { .. } => "NotFound",
            AdminError::Conflict(_) => "Conflict",
            AdminError::Invalid(_) => "InvalidRequest",
            AdminError::PremiumRequired | AdminError::DowngradeWithTrust(_) => {
                "PolicyNotSupportedForSku"
            }
            AdminError::BlockedForEncryptionEnabledRegistry(_) => {
                "BlockedForEncryptionEnabledRegistry"
            }
            AdminError::EncryptionImmutable => "EncryptionImmutable",
            AdminError::AdminCannotSign(_) => "AdminUserCannotSign",
            AdminError::AdminNoRoles(_) => "AdminUserNoRoles",
            AdminError::Busy => "Busy",
            AdminError::Store(_) | AdminError::Internal(_) => "InternalError",
        }
    }

    /// HTTP status for the admin API.
    pub fn status(&self) -> u16 {
        match self {
            AdminError::NotFound { .. } => 404,
            AdminError::Conflict(_) | AdminError::Busy => 409,
            AdminError::Store(_) | AdminError::Internal(_) => 500,
            _ => 400,
        }
    }
}
