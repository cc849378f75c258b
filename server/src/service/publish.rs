//! Publishing and deleting: validate a whole update, store it in one transaction, undo it if
//! content trust was disabled meanwhile, and drop what the read cache held of the GUN.

use super::{Caller, ServiceError, TrustService};
use crate::multipart::Part;
use crate::store::{NewMeta, StoreError};
use crate::tenancy::Tenancy;
use crate::update::{self, Upload};
use signet_tuf::role_name;
use std::sync::Arc;
use time::OffsetDateTime;

/// The parts of an upload as role files: every part named after a role, and JSON.
pub fn uploads_from_parts(parts: Vec<Part>) -> Result<Vec<Upload>, ServiceError> {
    let mut uploads = Vec::with_capacity(parts.len());
    for p in parts {
        let name = p.filename.unwrap_or_default();
        let role = name.strip_suffix(".json").unwrap_or(&name).to_string();
        if role.is_empty() {
            return Err(ServiceError::NoFilename);
        }
        if !role_name::is_valid_role(&role) {
            return Err(ServiceError::InvalidRole(role));
        }
        // The envelope's shape, as notary-server decodes it, and no repeated keys (nothing
        // is built; validation parses the files again).
        if signet_tuf::upload_shape::check(&p.body).is_err() {
            return Err(ServiceError::MalformedJson);
        }
        uploads.push(Upload {
            role,
            bytes: p.body,
        });
    }
    Ok(uploads)
}

impl TrustService {
    /// Publishes an update (the parts of one `POST …/_trust/tuf/`) to `gun`: all of it or
    /// nothing.
    pub async fn publish(
        self: &Arc<Self>,
        caller: &Caller,
        gun: &str,
        parts: Vec<Part>,
    ) -> Result<(), ServiceError> {
        let uploads = uploads_from_parts(parts)?;
        let _guard = self.gun_locks.get(gun).lock().await;
        let service = self.clone();
        let g = gun.to_string();
        let authorised_under = caller.tenancy.clone();
        let result = self
            .blocking(move || {
                let now = OffsetDateTime::now_utc();
                let rows: Vec<NewMeta> = update::plan_update(
                    &g,
                    service.store.as_ref(),
                    &service.signer,
                    &service.validated_roots,
                    uploads,
                    now,
                )
                .map_err(|e| {
                    service.metrics.validation_failure(e.kind());
                    ServiceError::from(e)
                })?;
                service.store.update_many(&g, &rows, now).map_err(|e| {
                    if let StoreError::OldVersion { .. } = e {
                        service.metrics.validation_failure("version");
                    }
                    ServiceError::from(e)
                })?;
                service.undo_if_trust_disabled_meanwhile(&g, &authorised_under)
            })
            .await;
        self.cache.invalidate(gun);
        result.map_err(|e| match e {
            ServiceError::Storage(m) => ServiceError::PublishFailed(m),
            other => other,
        })?;
        self.metrics.publish();
        Ok(())
    }

    /// A publish authorised under one configuration may commit after content trust was
    /// disabled (by this instance, the admin CLI or another instance): the wipe ran before our
    /// commit, so our files would outlive it. The store serialises wipes with commits, so a
    /// wipe that missed our files committed before our commit, and its generation is visible
    /// here; undo the publish then. Blocking.
    fn undo_if_trust_disabled_meanwhile(
        &self,
        gun: &str,
        authorised_under: &Tenancy,
    ) -> Result<(), ServiceError> {
        if authorised_under.is_open() {
            return Ok(());
        }
        let generation = self.store.tenancy_generation()?;
        if generation == authorised_under.generation {
            return Ok(());
        }
        self.reload_tenancy_blocking();
        let now = self.tenancy.get();
        match now.resolve_gun(gun) {
            Some((registry, _)) if registry.trust_enabled() => Ok(()),
            other => {
                self.store.delete_gun(gun, OffsetDateTime::now_utc())?;
                Err(match other {
                    Some((registry, _)) => ServiceError::TrustDisabled {
                        registry: registry.name.clone(),
                        login_server: registry.login_server.clone(),
                    },
                    None => ServiceError::RegistryUnknown { host: None },
                })
            }
        }
    }

    /// Deletes every version of every role of `gun`, and its server keys.
    pub async fn delete(self: &Arc<Self>, gun: &str) -> Result<(), ServiceError> {
        let _guard = self.gun_locks.get(gun).lock().await;
        let (store, g) = (self.store.clone(), gun.to_string());
        let result = self
            .blocking(move || {
                store.delete_gun(&g, OffsetDateTime::now_utc())?;
                Ok(())
            })
            .await;
        self.cache.invalidate(gun);
        result
    }
}
