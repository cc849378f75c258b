//! The bridge to Sigstore: cosign key-pair signatures made with the same ECDSA keys that sign
//! the Notary v1 trust data, stored where cosign stores them (the `sha256-<hex>.sig` tag of
//! the image's own repository), so that cosign, Kyverno, policy-controller and
//! containers/image verifiers accept the image with the delegation's public key.
//!
//! - [`payload`]: the simple-signing payload;
//! - [`signature`]: ECDSA signatures and `cosign.pub` keys;
//! - [`signature_image`]: the `.sig` image's manifest and config;
//! - this module: reading, appending and verifying signatures in a registry.

pub mod payload;
pub mod signature;
pub mod signature_image;

use crate::registry_client::{RegistryClient, RegistryError};
use p256::ecdsa::{SigningKey, VerifyingKey};
use payload::SimpleSigning;
use signature_image::SignatureImage;
use thiserror::Error;

/// Payloads are a few hundred bytes; cosign's with annotations stay far below this.
const PAYLOAD_LIMIT: u64 = 1 << 20;

#[derive(Debug, Error)]
pub enum CosignError {
    #[error("simple-signing payload: {0}")]
    Payload(String),
    #[error("signature: {0}")]
    BadSignature(String),
    #[error("key {key_id} is {algorithm}: cosign signatures are made with ECDSA P-256 keys only")]
    UnsupportedKey {
        key_id: String,
        algorithm: &'static str,
    },
    #[error("public key: {0}")]
    Key(String),
    #[error("signature image: {0}")]
    SignatureImage(String),
    #[error("{image}@{digest}: no cosign signature verifies with key {key}: {reason}")]
    NotSigned {
        image: String,
        digest: String,
        key: String,
        reason: String,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// One simple-signing layer of a signature image, with its payload when it could be read.
pub struct StoredSignature {
    pub layer: signature_image::Descriptor,
    pub payload: Result<(Vec<u8>, SimpleSigning), String>,
}

impl StoredSignature {
    /// Whether this layer is a signature of `digest` that verifies with `key`.
    pub fn verifies(&self, digest: &str, key: &VerifyingKey) -> Result<(), String> {
        let (bytes, claims) = self.payload.as_ref().map_err(Clone::clone)?;
        if claims.manifest_digest != digest {
            return Err(format!(
                "layer {} signs {}, not {digest}",
                self.layer.digest, claims.manifest_digest
            ));
        }
        let sig = self
            .layer
            .signature()
            .ok_or_else(|| format!("layer {} has no signature annotation", self.layer.digest))?;
        signature::verify(key, bytes, sig).map_err(|e| format!("layer {}: {e}", self.layer.digest))
    }
}

/// The signature image of a manifest digest, if the repository has one, with the payload of
/// every simple-signing layer (each checked against its layer digest).
pub fn read(
    client: &mut RegistryClient,
    digest: &str,
) -> Result<Option<(SignatureImage, Vec<StoredSignature>)>, CosignError> {
    let Some(manifest) = client.manifest(&signature_image::tag(digest))? else {
        return Ok(None);
    };
    let image = SignatureImage::parse(&manifest.bytes)?;
    let mut stored = Vec::new();
    for layer in image.layers().iter().filter(|l| l.is_simple_signing()) {
        let payload = match client.blob(&layer.digest, PAYLOAD_LIMIT) {
            Ok(bytes) => SimpleSigning::parse(&bytes)
                .map(|claims| (bytes, claims))
                .map_err(|e| format!("layer {}: {e}", layer.digest)),
            // A layer that is missing or altered counts as no signature, not as a failure of
            // the whole image (cosign skips such layers too).
            Err(
                e @ (RegistryError::Status { status: 404, .. }
                | RegistryError::DigestMismatch { .. }),
            ) => Err(e.to_string()),
            Err(e) => return Err(e.into()),
        };
        stored.push(StoredSignature {
            layer: layer.clone(),
            payload,
        });
    }
    Ok(Some((image, stored)))
}

/// What [`attach`] did for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attached {
    /// A new layer was appended.
    Added,
    /// A signature by this key for this digest was there already.
    Present,
}

/// Signs `digest` of `gun` with every key that has no signature there yet and appends the new
/// layers to the signature image (creating it when there is none). The result follows
/// `keys`' order.
pub fn attach(
    client: &mut RegistryClient,
    gun: &str,
    digest: &str,
    keys: &[SigningKey],
) -> Result<Vec<Attached>, CosignError> {
    let (mut image, stored) =
        read(client, digest)?.unwrap_or_else(|| (SignatureImage::empty(), Vec::new()));
    let payload = SimpleSigning {
        docker_reference: payload::docker_reference(gun),
        manifest_digest: digest.to_string(),
    }
    .to_bytes();
    let mut outcome = Vec::new();
    for key in keys {
        let verifying = key.verifying_key();
        if stored.iter().any(|s| s.verifies(digest, verifying).is_ok()) {
            outcome.push(Attached::Present);
            continue;
        }
        image.append(&payload, signature::sign(key, &payload))?;
        outcome.push(Attached::Added);
    }
    if outcome.contains(&Attached::Added) {
        let out = image.serialize();
        client.upload_blob(&payload)?;
        client.upload_blob(&out.config)?;
        client.put_manifest(
            &signature_image::tag(digest),
            image.media_type(),
            &out.manifest,
        )?;
    }
    Ok(outcome)
}

/// A signature that verified.
pub struct Verified {
    /// The layer holding it.
    pub layer_digest: String,
    /// The repository its payload names.
    pub docker_reference: String,
}

/// Checks that `digest` has a cosign signature that verifies with `key`.
pub fn verify(
    client: &mut RegistryClient,
    image: &str,
    digest: &str,
    key: &VerifyingKey,
) -> Result<Verified, CosignError> {
    let not_signed = |reason: String| CosignError::NotSigned {
        image: image.to_string(),
        digest: digest.to_string(),
        key: signature::key_label(key),
        reason,
    };
    let Some((_, stored)) = read(client, digest)? else {
        return Err(not_signed(format!(
            "the repository has no signature image {}",
            signature_image::tag(digest)
        )));
    };
    let mut reasons = Vec::new();
    for s in &stored {
        match s.verifies(digest, key) {
            Ok(()) => {
                let docker_reference = s
                    .payload
                    .as_ref()
                    .map(|(_, c)| c.docker_reference.clone())
                    .unwrap_or_default();
                return Ok(Verified {
                    layer_digest: s.layer.digest.clone(),
                    docker_reference,
                });
            }
            Err(e) => reasons.push(e),
        }
    }
    if reasons.is_empty() {
        reasons.push(format!(
            "{} holds no simple-signing layer",
            signature_image::tag(digest)
        ));
    }
    Err(not_signed(reasons.join("; ")))
}
