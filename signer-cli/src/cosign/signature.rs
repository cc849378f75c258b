//! cosign key-pair signatures: ECDSA P-256 over SHA-256 of the payload, ASN.1 DER, standard
//! base64 (what cosign writes into the layer annotation), and the PKIX `PUBLIC KEY` PEM a
//! cosign verifier takes (`cosign.pub`).

use super::CosignError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use signet_keys::{KeyType, PrivateKey, PublicKey};

/// A private key cosign can sign with: only ECDSA P-256 keys (docker's and notary's default
/// for delegations) have a cosign key-pair equivalent here.
pub fn signing_key(key: &PrivateKey) -> Result<SigningKey, CosignError> {
    match key {
        PrivateKey::Ecdsa(k) => Ok(SigningKey::from(k)),
        other => Err(CosignError::UnsupportedKey {
            key_id: other.id().to_string(),
            algorithm: other.algorithm(),
        }),
    }
}

/// The base64 DER signature of `payload`, as the `dev.cosignproject.cosign/signature`
/// annotation holds it.
pub fn sign(key: &SigningKey, payload: &[u8]) -> String {
    let sig: Signature = key.sign(payload);
    B64.encode(sig.to_der().as_bytes())
}

/// Checks an annotation's signature over `payload`. DER is what cosign writes; the raw
/// 64-byte r‖s form is accepted too, as recent verifiers do.
pub fn verify(key: &VerifyingKey, payload: &[u8], annotation: &str) -> Result<(), CosignError> {
    let raw = B64
        .decode(annotation.trim())
        .map_err(|_| CosignError::BadSignature("signature annotation is not base64".into()))?;
    let sig = Signature::from_der(&raw)
        .or_else(|_| Signature::from_slice(&raw))
        .map_err(|_| CosignError::BadSignature("not an ECDSA signature".into()))?;
    key.verify(payload, &sig)
        .map_err(|_| CosignError::BadSignature("does not verify with the key".into()))
}

/// The P-256 verifying key of a Notary public key (a bare `ecdsa` key or the key of an
/// `ecdsa-x509` certificate).
pub fn verifying_key(key: &PublicKey) -> Result<VerifyingKey, CosignError> {
    let unsupported = |k: &PublicKey| CosignError::UnsupportedKey {
        key_id: k.id().to_string(),
        algorithm: match k.key_type() {
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa | KeyType::RsaX509 => "rsa",
            _ => "unknown",
        },
    };
    let bare = match key.key_type() {
        KeyType::Ecdsa => key.clone(),
        KeyType::EcdsaX509 => key
            .leaf_certificate()
            .map_err(|e| CosignError::Key(e.to_string()))?
            .public_key(),
        _ => return Err(unsupported(key)),
    };
    VerifyingKey::from_public_key_der(bare.public_bytes()).map_err(|_| unsupported(key))
}

/// `-----BEGIN PUBLIC KEY-----` PEM (PKIX SubjectPublicKeyInfo), no headers: `cosign.pub`.
pub fn public_key_pem(key: &VerifyingKey) -> Result<String, CosignError> {
    key.to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .map_err(|e| CosignError::Key(e.to_string()))
}

/// Reads a cosign public key file (PKIX `PUBLIC KEY` PEM, P-256).
pub fn parse_public_key_pem(pem: &[u8]) -> Result<VerifyingKey, CosignError> {
    let block = signet_keys::pem::parse_one(pem).map_err(|e| CosignError::Key(e.to_string()))?;
    if block.label != "PUBLIC KEY" {
        return Err(CosignError::Key(format!(
            "expected a PUBLIC KEY PEM, found {}",
            block.label
        )));
    }
    VerifyingKey::from_public_key_der(&block.data)
        .map_err(|_| CosignError::Key("not an ECDSA P-256 public key".into()))
}

/// A short name of a verifying key for messages: the first 12 hex digits of its Notary key ID.
pub fn key_label(key: &VerifyingKey) -> String {
    key.to_public_key_der()
        .map(|der| {
            let id = PublicKey::new(KeyType::Ecdsa, der.as_bytes().to_vec()).id();
            id.to_string().chars().take(12).collect()
        })
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_and_raw_signatures_verify_and_others_do_not() {
        let private = PrivateKey::generate_ecdsa();
        let key = signing_key(&private).unwrap();
        let verifying = verifying_key(&private.public_key()).unwrap();
        let b64 = sign(&key, b"payload");
        // DER: a SEQUENCE of two INTEGERs.
        assert_eq!(B64.decode(&b64).unwrap()[0], 0x30);
        verify(&verifying, b"payload", &b64).unwrap();
        let raw: Signature = key.sign(b"payload");
        verify(&verifying, b"payload", &B64.encode(raw.to_bytes())).unwrap();
        assert!(verify(&verifying, b"payloaD", &b64).is_err());
        assert!(verify(&verifying, b"payload", "%%%").is_err());
        let other = verifying_key(&PrivateKey::generate_ecdsa().public_key()).unwrap();
        assert!(verify(&other, b"payload", &b64).is_err());
    }

    #[test]
    fn public_key_pem_round_trips_and_matches_the_notary_key() {
        let private = PrivateKey::generate_ecdsa();
        let verifying = verifying_key(&private.public_key()).unwrap();
        let pem = public_key_pem(&verifying).unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert_eq!(parse_public_key_pem(pem.as_bytes()).unwrap(), verifying);
        assert_eq!(key_label(&verifying), &private.id().to_string()[..12]);
        assert!(signing_key(&PrivateKey::generate_ed25519())
            .unwrap_err()
            .to_string()
            .contains("ed25519"));
        assert!(parse_public_key_pem(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )
        .is_err());
    }
}
