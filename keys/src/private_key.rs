//! Private signing keys and the raw signature encodings notary uses.

use crate::key_id::KeyId;
use crate::public_key::{p256_spki, KeyError, KeyType, PublicKey};
use std::fmt;
use zeroize::Zeroizing;

/// A private key. Key material is zeroized when dropped (by the underlying types) and is never
/// printed by `Debug`.
pub enum PrivateKey {
    Ecdsa(p256::SecretKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// A signature as it goes into TUF metadata: the method name and the raw signature bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySignature {
    pub method: &'static str,
    pub sig: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({} {})", self.algorithm(), self.id())
    }
}

impl PrivateKey {
    /// A new ECDSA P-256 key (docker's and notary's default).
    pub fn generate_ecdsa() -> Self {
        PrivateKey::Ecdsa(p256::SecretKey::random(&mut rand::rngs::OsRng))
    }

    /// The ECDSA P-256 key with this private scalar (big-endian); `None` when the bytes are
    /// zero or not below the group order. For keys derived from a secret rather than drawn.
    pub fn ecdsa_from_scalar(scalar: &[u8; 32]) -> Option<Self> {
        p256::SecretKey::from_slice(scalar)
            .ok()
            .map(PrivateKey::Ecdsa)
    }

    pub fn generate_ed25519() -> Self {
        PrivateKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// The algorithm name as notary lists it (`ecdsa`, `ed25519`, `rsa`).
    pub fn algorithm(&self) -> &'static str {
        match self {
            PrivateKey::Ecdsa(_) => "ecdsa",
            PrivateKey::Ed25519(_) => "ed25519",
            PrivateKey::Rsa(_) => "rsa",
        }
    }

    /// The bare public key (`ecdsa`, `ed25519` or `rsa` key type).
    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::Ecdsa(k) => PublicKey::new(KeyType::Ecdsa, p256_spki(&k.public_key())),
            PrivateKey::Ed25519(k) => {
                PublicKey::new(KeyType::Ed25519, k.verifying_key().to_bytes().to_vec())
            }
            PrivateKey::Rsa(k) => {
                use rsa::pkcs8::EncodePublicKey;
                // Encoding a well-formed in-memory RSA key cannot fail; fall back to empty bytes
                // (an ID that matches nothing) rather than panic.
                let der = k
                    .to_public_key()
                    .to_public_key_der()
                    .map(|d| d.as_bytes().to_vec())
                    .unwrap_or_default();
                PublicKey::new(KeyType::Rsa, der)
            }
        }
    }

    /// The key ID of the bare public key: the key's file name in the trust directory.
    pub fn id(&self) -> KeyId {
        self.public_key().id()
    }

    /// Signs `msg` (the canonical JSON of a role's `signed` value).
    pub fn sign(&self, msg: &[u8]) -> Result<KeySignature, KeyError> {
        match self {
            PrivateKey::Ecdsa(k) => {
                use p256::ecdsa::signature::Signer;
                let signing = p256::ecdsa::SigningKey::from(k);
                let sig: p256::ecdsa::Signature = signing.sign(msg);
                Ok(KeySignature {
                    method: "ecdsa",
                    sig: sig.to_bytes().to_vec(),
                })
            }
            PrivateKey::Ed25519(k) => {
                use ed25519_dalek::Signer;
                Ok(KeySignature {
                    method: "eddsa",
                    sig: k.sign(msg).to_bytes().to_vec(),
                })
            }
            PrivateKey::Rsa(k) => {
                use sha2::{Digest, Sha256};
                let digest = Sha256::digest(msg);
                let sig = k
                    .sign_with_rng(
                        &mut rand::rngs::OsRng,
                        rsa::Pss::new_with_salt::<Sha256>(32),
                        &digest,
                    )
                    .map_err(|e| KeyError::Signing(e.to_string()))?;
                Ok(KeySignature {
                    method: "rsapss",
                    sig,
                })
            }
        }
    }

    /// Standard PKCS#8 (RFC 5208 v1 / RFC 8410) DER, for libraries that need it (certificate
    /// creation). Not what notary writes to disk: see [`crate::pkcs8`].
    pub fn to_standard_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        use p256::pkcs8::EncodePrivateKey;
        let doc = match self {
            PrivateKey::Ecdsa(k) => k.to_pkcs8_der(),
            PrivateKey::Ed25519(k) => k.to_pkcs8_der(),
            PrivateKey::Rsa(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| KeyError::Signing(e.to_string()))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }
}

/// A private key prepared for repeated signing (a server signs every publish): ECDSA keys
/// are expanded once into ring's form, which signs several times faster.
pub struct PreparedKey {
    key: PrivateKey,
    ring: Option<ring::signature::EcdsaKeyPair>,
}

impl fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Prepared{:?}", self.key)
    }
}

impl PreparedKey {
    pub fn new(key: PrivateKey) -> PreparedKey {
        let ring = match &key {
            PrivateKey::Ecdsa(_) => key.to_standard_pkcs8_der().ok().and_then(|der| {
                ring::signature::EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &der,
                    &ring::rand::SystemRandom::new(),
                )
                .ok()
            }),
            _ => None,
        };
        PreparedKey { key, ring }
    }

    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Same output format as [`PrivateKey::sign`] (raw r||s for ECDSA).
    pub fn sign(&self, msg: &[u8]) -> Result<KeySignature, KeyError> {
        match &self.ring {
            Some(pair) => {
                let sig = pair
                    .sign(&ring::rand::SystemRandom::new(), msg)
                    .map_err(|_| KeyError::Signing("ECDSA signing failed".into()))?;
                Ok(KeySignature {
                    method: "ecdsa",
                    sig: sig.as_ref().to_vec(),
                })
            }
            None => self.key.sign(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_signatures_are_raw_and_verify() {
        let k = PrivateKey::generate_ecdsa();
        let s = k.sign(b"message").unwrap();
        assert_eq!(s.method, "ecdsa");
        assert_eq!(s.sig.len(), 64);
        k.public_key().verify("ecdsa", b"message", &s.sig).unwrap();
        k.public_key().verify("ECDSA", b"message", &s.sig).unwrap();
        assert!(k.public_key().verify("ecdsa", b"other", &s.sig).is_err());
        assert!(k.public_key().verify("eddsa", b"message", &s.sig).is_err());
    }

    #[test]
    fn prepared_keys_sign_like_the_key() {
        let k = PrivateKey::generate_ecdsa();
        let public = k.public_key();
        let p = PreparedKey::new(k);
        let s = p.sign(b"message").unwrap();
        assert_eq!((s.method, s.sig.len()), ("ecdsa", 64));
        public.verify("ecdsa", b"message", &s.sig).unwrap();
        let e = PreparedKey::new(PrivateKey::generate_ed25519());
        let s = e.sign(b"m").unwrap();
        e.key().public_key().verify("eddsa", b"m", &s.sig).unwrap();
    }

    #[test]
    fn ed25519_signatures_verify() {
        let k = PrivateKey::generate_ed25519();
        let s = k.sign(b"m").unwrap();
        assert_eq!(s.method, "eddsa");
        k.public_key().verify("eddsa", b"m", &s.sig).unwrap();
        assert_eq!(k.public_key().public_bytes().len(), 32);
    }

    #[test]
    fn debug_does_not_print_secrets() {
        let k = PrivateKey::generate_ecdsa();
        let d = format!("{k:?}");
        assert!(d.starts_with("PrivateKey(ecdsa "));
        assert_eq!(d.len(), "PrivateKey(ecdsa )".len() + 64);
    }
}
