//! The server-held timestamp and snapshot keys a client asks for (`<role>.key`).

use super::{ServiceError, TrustService};
use crate::signer::ServerRole;
use crate::store::Store;
use signet_keys::PublicKey;
use std::sync::Arc;

impl TrustService {
    /// GET `<role>.key` (`rotate` false: the key in use or a pending one) or POST (`rotate`
    /// true: a new pending key). Serialised per GUN like publishes.
    pub async fn server_key(
        self: &Arc<Self>,
        gun: &str,
        role: ServerRole,
        rotate: bool,
    ) -> Result<PublicKey, ServiceError> {
        let _guard = self.gun_locks.get(gun).lock().await;
        let (service, g) = (self.clone(), gun.to_string());
        self.blocking(move || {
            let ids = root_key_ids(service.store.as_ref(), &g, role)?;
            let key = if rotate {
                service.signer.rotate(&g, role, &ids)
            } else {
                service.signer.get_or_create(&g, role, &ids)
            };
            key.map_err(|e| ServiceError::Internal(format!("server key: {e}")))
        })
        .await
    }
}

/// The key IDs the stored root lists for `role` (none before the first publish).
fn root_key_ids(
    store: &dyn Store,
    gun: &str,
    role: ServerRole,
) -> Result<Vec<String>, ServiceError> {
    let Some(root) = store.latest(gun, "root")? else {
        return Ok(Vec::new());
    };
    let root = signet_tuf::SignedRoot::from_bytes("root", &root.bytes)
        .map_err(|e| ServiceError::Internal(format!("stored root unreadable: {e}")))?;
    Ok(root
        .signed
        .role_entry(role.as_str())
        .map(|r| r.key_ids().to_vec())
        .unwrap_or_default())
}

/// The body of a key response, field order as notary's struct encoder writes it: public
/// before private.
pub fn key_json(key: &PublicKey) -> String {
    format!(
        "{{\"keytype\":\"{}\",\"keyval\":{{\"public\":\"{}\",\"private\":null}}}}",
        key.key_type().as_str(),
        key.public_b64()
    )
}
