//! The trust service's one error type, and how each maps onto notary's error envelope.

use crate::api_error::{ApiError, ErrorCode};
use crate::auth::Denied;
use crate::store::StoreError;
use crate::update::UpdateError;
use serde_json::Value;

/// Why the trust service refused or failed a request.
#[derive(Debug)]
pub enum ServiceError {
    /// No such repository, role, version or checksum (and names the reference's routes would
    /// not match).
    NotFound,
    /// A GUN that would be ambiguous or dangerous as a name.
    InvalidGun,
    /// An upload part without a file name.
    NoFilename,
    /// An upload part named after no role.
    InvalidRole(String),
    /// An upload part that is not JSON.
    MalformedJson,
    /// The multipart body itself is broken.
    MalformedUpload,
    /// The body or one part is larger than configured.
    PayloadTooLarge,
    /// The update does not validate (protocol §2).
    Update(UpdateError),
    /// A version at or below the stored one.
    StaleVersion,
    /// The database failed; the message is logged, never sent. notary-server answers
    /// `UNKNOWN` for this everywhere but in a publish.
    Storage(String),
    /// The database failed while a publish was being validated or stored (notary-server's
    /// `UPDATING`); logged, never sent.
    PublishFailed(String),
    /// Something that cannot happen with valid stored data failed; logged, never sent.
    Internal(String),
    /// A query parameter out of range or unparsable.
    InvalidParameter { name: &'static str, value: String },
    /// The GUN's host is no registry's login server (`None`: it stopped being one meanwhile).
    RegistryUnknown { host: Option<String> },
    /// The registry's content-trust policy is disabled.
    TrustDisabled {
        registry: String,
        login_server: String,
    },
    /// The caller's token does not cover `scope`.
    Unauthorized { scope: String, denied: Denied },
    /// A handover import refused: the repository exists, or its files do not verify.
    ImportRefused(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::OldVersion { .. } => ServiceError::StaleVersion,
            StoreError::Backend(m) => ServiceError::Storage(m),
        }
    }
}

impl From<UpdateError> for ServiceError {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::Store(s) => s.into(),
            other => ServiceError::Update(other),
        }
    }
}

impl ServiceError {
    /// The notary error this answers with (code, status and detail as notary-server sends
    /// them). Failures whose cause the client must not see are logged here.
    pub fn to_api(&self) -> ApiError {
        match self {
            ServiceError::NotFound => ApiError::not_found(),
            ServiceError::InvalidGun => ApiError::with_detail(
                ErrorCode::InvalidGun,
                Value::from("invalid repository name"),
            ),
            ServiceError::NoFilename => ApiError::new(ErrorCode::NoFilename),
            ServiceError::InvalidRole(role) => {
                ApiError::with_detail(ErrorCode::InvalidRole, Value::from(role.as_str()))
            }
            ServiceError::MalformedJson => ApiError::new(ErrorCode::MalformedJson),
            ServiceError::MalformedUpload => ApiError::new(ErrorCode::MalformedUpload),
            ServiceError::PayloadTooLarge => ApiError::new(ErrorCode::PayloadTooLarge),
            ServiceError::Update(e) => {
                match e {
                    UpdateError::Corrupt(m) => {
                        tracing::error!(error = %m, "stored metadata unreadable")
                    }
                    UpdateError::Signer(s) => tracing::error!(error = %s, "signer failure"),
                    _ => tracing::info!(error = %e, "update rejected"),
                }
                let code = match e.api_code() {
                    "VERSION" => ErrorCode::Version,
                    "INVALID_UPDATE" => ErrorCode::InvalidUpdate,
                    "UPDATING" => ErrorCode::Updating,
                    _ => ErrorCode::Unknown,
                };
                ApiError {
                    code,
                    detail: e.detail(),
                }
            }
            ServiceError::StaleVersion => {
                ApiError::with_detail(ErrorCode::Version, serde_json::json!({}))
            }
            ServiceError::Storage(m) => {
                tracing::error!(error = %m, "storage failure");
                ApiError::new(ErrorCode::Unknown)
            }
            ServiceError::PublishFailed(m) => {
                tracing::error!(error = %m, "storage failure during a publish");
                ApiError::new(ErrorCode::Updating)
            }
            ServiceError::Internal(m) => {
                tracing::error!(error = %m, "internal failure");
                ApiError::new(ErrorCode::Unknown)
            }
            ServiceError::InvalidParameter { name, value } => ApiError::with_detail(
                ErrorCode::InvalidParameters,
                Value::from(format!("invalid {name} parameter: {value:?}")),
            ),
            ServiceError::RegistryUnknown { host: Some(host) } => ApiError::with_detail(
                ErrorCode::RegistryUnknown,
                Value::from(format!("no registry has the login server {host:?}")),
            ),
            ServiceError::RegistryUnknown { host: None } => {
                ApiError::new(ErrorCode::RegistryUnknown)
            }
            ServiceError::TrustDisabled {
                registry,
                login_server,
            } => ApiError::with_detail(
                ErrorCode::TrustDisabled,
                crate::auth::trust_disabled_detail(registry, login_server),
            ),
            ServiceError::ImportRefused(m) => {
                ApiError::with_detail(ErrorCode::InvalidUpdate, Value::from(m.as_str()))
            }
            ServiceError::Unauthorized { scope, denied } => {
                if let Denied::Invalid(e) = denied {
                    tracing::info!(error = %e, "token refused");
                }
                ApiError::with_detail(
                    ErrorCode::Unauthorized,
                    Value::from(format!("{scope} required")),
                )
            }
        }
    }
}
