//! TUF public keys in the Notary dialect and signature verification.

use crate::certificate::{Certificate, CertificateError};
use crate::key_id::KeyId;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::fmt;
use thiserror::Error;

/// The `keytype` of a TUF key object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    Ecdsa,
    EcdsaX509,
    Ed25519,
    Rsa,
    RsaX509,
    /// Kept so that metadata with such keys still parses; such a key never verifies.
    Unknown(String),
}

impl KeyType {
    pub fn as_str(&self) -> &str {
        match self {
            KeyType::Ecdsa => "ecdsa",
            KeyType::EcdsaX509 => "ecdsa-x509",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa => "rsa",
            KeyType::RsaX509 => "rsa-x509",
            KeyType::Unknown(s) => s,
        }
    }

    /// Never fails: unrecognised names become [`KeyType::Unknown`] (notary keeps them too).
    pub fn parse(s: &str) -> KeyType {
        match s {
            "ecdsa" => KeyType::Ecdsa,
            "ecdsa-x509" => KeyType::EcdsaX509,
            "ed25519" => KeyType::Ed25519,
            "rsa" => KeyType::Rsa,
            "rsa-x509" => KeyType::RsaX509,
            other => KeyType::Unknown(other.to_string()),
        }
    }

    pub fn is_x509(&self) -> bool {
        matches!(self, KeyType::EcdsaX509 | KeyType::RsaX509)
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("key type {0} cannot verify signatures")]
    UnsupportedKeyType(String),
    #[error("signature method {method:?} does not fit a {key_type} key")]
    MethodMismatch { method: String, key_type: String },
    #[error("malformed {key_type} public key: {reason}")]
    MalformedPublicKey { key_type: String, reason: String },
    #[error("signature is malformed: {0}")]
    MalformedSignature(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("RSA key of {0} bits is too short (2048 required)")]
    RsaTooShort(usize),
    #[error("certificate: {0}")]
    Certificate(#[from] CertificateError),
    #[error("signing failed: {0}")]
    Signing(String),
}

/// A public key as it appears in TUF metadata: its type and the decoded `keyval.public` bytes
/// (DER SubjectPublicKeyInfo, raw Ed25519, or the PEM text of a certificate bundle).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    key_type: KeyType,
    public: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.key_type, self.id())
    }
}

impl PublicKey {
    pub fn new(key_type: KeyType, public: Vec<u8>) -> Self {
        PublicKey { key_type, public }
    }

    /// From the JSON fields `keytype` and `keyval.public` (standard base64).
    pub fn from_b64(key_type: &str, public_b64: &str) -> Result<Self, KeyError> {
        let public = B64
            .decode(public_b64)
            .map_err(|e| KeyError::MalformedPublicKey {
                key_type: key_type.to_string(),
                reason: format!("keyval.public is not base64: {e}"),
            })?;
        Ok(PublicKey::new(KeyType::parse(key_type), public))
    }

    pub fn key_type(&self) -> &KeyType {
        &self.key_type
    }

    pub fn public_bytes(&self) -> &[u8] {
        &self.public
    }

    pub fn public_b64(&self) -> String {
        B64.encode(&self.public)
    }

    /// The key ID used in metadata.
    pub fn id(&self) -> KeyId {
        KeyId::of_key_object(self.key_type.as_str(), &self.public_b64())
    }

    /// The "canonical" ID: for certificate keys the ID of the bare key inside the leaf
    /// certificate (the private key's file name); otherwise [`PublicKey::id`].
    pub fn canonical_id(&self) -> Result<KeyId, KeyError> {
        if self.key_type.is_x509() {
            Ok(self.leaf_certificate()?.public_key().id())
        } else {
            Ok(self.id())
        }
    }

    /// The first certificate of an `*-x509` key's PEM bundle (notary requires the leaf first).
    pub fn leaf_certificate(&self) -> Result<Certificate, KeyError> {
        let mut chain = Certificate::parse_pem_chain(&self.public)?;
        if chain.is_empty() {
            return Err(CertificateError::Empty.into());
        }
        Ok(chain.swap_remove(0))
    }

    /// All certificates of an `*-x509` key's PEM bundle, leaf first.
    pub fn certificate_chain(&self) -> Result<Vec<Certificate>, KeyError> {
        Ok(Certificate::parse_pem_chain(&self.public)?)
    }

    /// The bare key that signatures are checked with.
    fn verification_key(&self) -> Result<PublicKey, KeyError> {
        match &self.key_type {
            KeyType::EcdsaX509 | KeyType::RsaX509 => Ok(self.leaf_certificate()?.public_key()),
            _ => Ok(self.clone()),
        }
    }

    /// Verifies `sig` over `msg` with the given TUF signature method (compared lower-cased).
    pub fn verify(&self, method: &str, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let method = method.to_ascii_lowercase();
        let key = self.verification_key()?;
        let mismatch = || KeyError::MethodMismatch {
            method: method.clone(),
            key_type: self.key_type.to_string(),
        };
        match key.key_type {
            KeyType::Ecdsa => {
                if method != "ecdsa" {
                    return Err(mismatch());
                }
                verify_ecdsa_p256(&key.public, msg, sig)
            }
            KeyType::Ed25519 => {
                if method != "eddsa" {
                    return Err(mismatch());
                }
                verify_ed25519(&key.public, msg, sig)
            }
            KeyType::Rsa => match method.as_str() {
                "rsapss" | "pycrypto-pkcs#1 pss" => verify_rsa(&key.public, msg, sig, true),
                "rsapkcs1v15" => verify_rsa(&key.public, msg, sig, false),
                _ => Err(mismatch()),
            },
            ref other => Err(KeyError::UnsupportedKeyType(other.to_string())),
        }
    }
}

/// The fixed DER prefix of a P-256 SubjectPublicKeyInfo with an uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// DER SubjectPublicKeyInfo of a P-256 key, as Go's `x509.MarshalPKIXPublicKey` writes it.
pub(crate) fn p256_spki(key: &p256::PublicKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let point = key.to_encoded_point(false);
    let mut out = P256_SPKI_PREFIX.to_vec();
    out.extend_from_slice(point.as_bytes());
    out
}

pub(crate) fn p256_from_spki(spki: &[u8]) -> Result<p256::PublicKey, KeyError> {
    use p256::pkcs8::DecodePublicKey;
    p256::PublicKey::from_public_key_der(spki).map_err(|e| KeyError::MalformedPublicKey {
        key_type: "ecdsa".into(),
        reason: format!("not a P-256 SubjectPublicKeyInfo: {e}"),
    })
}

fn verify_ecdsa_p256(spki: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
    // Notary encodes r||s at fixed width; DER signatures are rejected like the Go verifier does.
    if sig.len() != 64 {
        return Err(KeyError::MalformedSignature(format!(
            "ECDSA P-256 signature must be 64 bytes of r||s, got {}",
            sig.len()
        )));
    }
    // ring's fixed-width P-256 verifier takes r||s as is and is several times faster than a
    // pure-Rust one; every publish and every client fetch verifies signatures. ring checks
    // the point itself; other SPKI encodings (compressed points) go through p256 first.
    let point = match spki.strip_prefix(&P256_SPKI_PREFIX[..]) {
        Some(p) if p.len() == 65 && p[0] == 4 => p.to_vec(),
        _ => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            p256_from_spki(spki)?
                .to_encoded_point(false)
                .as_bytes()
                .to_vec()
        }
    };
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point)
        .verify(msg, sig)
        .map_err(|_| KeyError::BadSignature)
}

fn verify_ed25519(raw: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
    let bytes: [u8; 32] = raw.try_into().map_err(|_| KeyError::MalformedPublicKey {
        key_type: "ed25519".into(),
        reason: format!("want 32 bytes, got {}", raw.len()),
    })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| {
        KeyError::MalformedPublicKey {
            key_type: "ed25519".into(),
            reason: e.to_string(),
        }
    })?;
    let sig = ed25519_dalek::Signature::from_slice(sig)
        .map_err(|e| KeyError::MalformedSignature(e.to_string()))?;
    key.verify_strict(msg, &sig)
        .or_else(|_| {
            use ed25519_dalek::Verifier;
            key.verify(msg, &sig)
        })
        .map_err(|_| KeyError::BadSignature)
}

pub(crate) fn rsa_from_spki(spki: &[u8]) -> Result<rsa::RsaPublicKey, KeyError> {
    use rsa::pkcs8::DecodePublicKey;
    rsa::RsaPublicKey::from_public_key_der(spki).map_err(|e| KeyError::MalformedPublicKey {
        key_type: "rsa".into(),
        reason: e.to_string(),
    })
}

fn verify_rsa(spki: &[u8], msg: &[u8], sig: &[u8], pss: bool) -> Result<(), KeyError> {
    use rsa::traits::PublicKeyParts;
    use sha2::{Digest, Sha256};
    let key = rsa_from_spki(spki)?;
    let bits = key.n().bits();
    if bits < 2048 {
        return Err(KeyError::RsaTooShort(bits));
    }
    let digest = Sha256::digest(msg);
    let result = if pss {
        key.verify(rsa::Pss::new_with_salt::<Sha256>(32), &digest, sig)
    } else {
        key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, sig)
    };
    result.map_err(|_| KeyError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrivateKey;

    #[test]
    fn der_ecdsa_signatures_are_rejected() {
        let k = PrivateKey::generate_ecdsa();
        let raw = k.sign(b"msg").unwrap().sig;
        let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
        let der = sig.to_der();
        let err = k
            .public_key()
            .verify("ecdsa", b"msg", der.as_bytes())
            .unwrap_err();
        assert!(matches!(err, KeyError::MalformedSignature(_)), "{err:?}");
        k.public_key().verify("ecdsa", b"msg", &raw).unwrap();
    }

    #[test]
    fn a_method_that_does_not_fit_the_key_type_is_an_error() {
        let ec = PrivateKey::generate_ecdsa();
        let ed = PrivateKey::generate_ed25519();
        let ec_sig = ec.sign(b"m").unwrap().sig;
        let ed_sig = ed.sign(b"m").unwrap().sig;
        let cert = crate::certificate::new_root_certificate(&ec, "example.com/app").unwrap();
        for (key, method, sig) in [
            (ec.public_key(), "eddsa", &ec_sig),
            (ec.public_key(), "rsapss", &ec_sig),
            (cert.clone(), "eddsa", &ec_sig),
            (ed.public_key(), "ecdsa", &ed_sig),
            (ed.public_key(), "ed25519", &ed_sig),
        ] {
            let err = key.verify(method, b"m", sig).unwrap_err();
            assert!(
                matches!(&err, KeyError::MethodMismatch { method: m, .. } if m == method),
                "{method}: {err:?}"
            );
        }
        // The certificate key verifies with the method of the key inside it.
        cert.verify("ecdsa", b"m", &ec_sig).unwrap();
        ed.public_key().verify("EdDSA", b"m", &ed_sig).unwrap();
        let unknown = PublicKey::new(KeyType::parse("dsa"), vec![1, 2, 3]);
        assert!(matches!(
            unknown.verify("dsa", b"m", &ed_sig),
            Err(KeyError::UnsupportedKeyType(t)) if t == "dsa"
        ));
    }

    #[test]
    fn wrong_message_or_key_is_a_bad_signature() {
        let ec = PrivateKey::generate_ecdsa();
        let other = PrivateKey::generate_ecdsa();
        let sig = ec.sign(b"m").unwrap().sig;
        assert!(matches!(
            ec.public_key().verify("ecdsa", b"n", &sig),
            Err(KeyError::BadSignature)
        ));
        assert!(matches!(
            other.public_key().verify("ecdsa", b"m", &sig),
            Err(KeyError::BadSignature)
        ));
    }
}
