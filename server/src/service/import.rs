//! The handover's import (`POST /v2/<gun>/_trust/signet/import`): a signer who holds the
//! repository's root key brings its trust data from another Notary server (or a client's
//! cache) when the operator has not imported it. Each part is one stored file named
//! `<version>.<role>.json`; the set is verified like every import (`crate::import`) and
//! stored verbatim. Allowed only into a repository that does not exist yet, for a caller
//! whose token covers `repository:<gun>:*` (signing plus a delete-capable role) or the
//! operator credential.

use super::{Caller, Need, ServiceError, TrustService};
use crate::import::chain::{History, SourceFile};
use crate::import::{Importer, Outcome};
use crate::multipart::Part;
use crate::service::names::{parse_meta_file, MetaFile};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// The actor recorded for an import made with the operator credential.
pub const OPERATOR_ACTOR: &str = "operator";

impl TrustService {
    /// The import needs `repository:<gun>:*`, or the operator credential as the bearer.
    pub fn authorize_import(
        &self,
        gun: &str,
        bearer: Option<&str>,
    ) -> Result<Caller, ServiceError> {
        if let (Some(expected), Some(presented)) = (&self.auth.operator_token, bearer) {
            if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
                return Ok(Caller {
                    actor: Some(OPERATOR_ACTOR.to_string()),
                    tenancy: self.tenancy(),
                });
            }
        }
        self.authorize(Some(gun), Need::All, bearer)
    }

    /// Verifies and stores the uploaded history of `gun`; returns the import's report.
    pub async fn import_uploaded(
        self: &Arc<Self>,
        caller: &Caller,
        gun: &str,
        parts: Vec<Part>,
    ) -> Result<serde_json::Value, ServiceError> {
        let now = OffsetDateTime::now_utc();
        let mut files = Vec::with_capacity(parts.len());
        for p in parts {
            let name = p.filename.unwrap_or_default();
            let Some(MetaFile::Version(role, version)) = parse_meta_file(&name) else {
                return Err(ServiceError::ImportRefused(format!(
                    "upload part {name:?}: each part is one file named <version>.<role>.json"
                )));
            };
            files.push(SourceFile {
                role,
                version,
                bytes: p.body,
                recorded_sha256: None,
                created_at: now,
            });
        }
        if files.is_empty() {
            return Err(ServiceError::ImportRefused(
                "the upload holds no files".into(),
            ));
        }
        let _guard = self.gun_locks.get(gun).lock().await;
        let service = self.clone();
        let g = gun.to_string();
        let actor = caller
            .actor
            .clone()
            .unwrap_or_else(|| "anonymous".to_string());
        let tenancy = caller.tenancy.clone();
        let result = self
            .blocking(move || {
                if service.store.latest(&g, "root")?.is_some() {
                    return Err(ServiceError::ImportRefused(format!(
                        "{g} already has trust data in Signet: only a repository that does not exist yet can be imported this way (the operator imports over existing data with signet-server import)"
                    )));
                }
                let importer = Importer {
                    store: service.store.as_ref(),
                    signer: &service.signer,
                    tenancy: &tenancy,
                    actor,
                    source: "upload (signet migrate)".into(),
                    history: History::Partial,
                };
                let report = importer.import(&g, files, None);
                if report.outcome == Outcome::Refused {
                    return Err(ServiceError::ImportRefused(
                        report.reason.clone().unwrap_or_default(),
                    ));
                }
                serde_json::to_value(&report).map_err(|e| ServiceError::Internal(e.to_string()))
            })
            .await;
        self.cache.invalidate(gun);
        result
    }
}
