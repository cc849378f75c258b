//! PKCS#8 as notary writes it, and the PBES2 encryption around it.
//!
//! Notary's layout is non-standard (EC keys carry version 1 without a public key field, RSA
//! keys have no NULL parameter, Ed25519 uses a private OID and a raw 96-byte body), so both
//! directions are done by hand. Reading also accepts standard PKCS#8 as OpenSSL writes it.

use crate::asn1::{self, oid, Reader, TAG_BIT_STRING, TAG_NULL, TAG_OCTET_STRING, TAG_OID};
use crate::private_key::PrivateKey;
use aes::cipher::{
    block_padding::{NoPadding, Pkcs7},
    BlockDecryptMut, BlockEncryptMut, KeyIvInit,
};
use rand::RngCore;
use thiserror::Error;
use zeroize::Zeroizing;

/// PBKDF2 iteration count notary uses; files with other counts are still read.
pub const PBKDF2_ITERATIONS: u32 = 2048;
// Bound on what a file may ask for, so a hostile key file cannot stall a reader.
const MAX_PBKDF2_ITERATIONS: u64 = 10_000_000;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum Pkcs8Error {
    #[error("malformed PKCS#8 structure: {0}")]
    Malformed(String),
    #[error("unsupported key algorithm (OID {0})")]
    UnsupportedAlgorithm(String),
    #[error("unsupported elliptic curve (OID {0}); only P-256 is supported")]
    UnsupportedCurve(String),
    #[error("unsupported key encryption: {0}")]
    UnsupportedEncryption(String),
    /// The decrypted bytes are not a private key: in practice a wrong passphrase.
    #[error("incorrect passphrase")]
    IncorrectPassphrase,
}

impl From<asn1::Asn1Error> for Pkcs8Error {
    fn from(e: asn1::Asn1Error) -> Self {
        Pkcs8Error::Malformed(e.to_string())
    }
}

fn oid_string(der_value: &[u8]) -> String {
    const_oid::ObjectIdentifier::from_bytes(der_value)
        .map(|o| o.to_string())
        .unwrap_or_else(|_| hex::encode(der_value))
}

/// The unencrypted PrivateKeyInfo in notary's layout.
pub fn encode_notary(key: &PrivateKey) -> Zeroizing<Vec<u8>> {
    match key {
        PrivateKey::Ecdsa(k) => {
            let sec1 = ec_private_key_der(k);
            let alg = asn1::sequence(&[
                &asn1::tlv(TAG_OID, oid::EC_PUBLIC_KEY),
                &asn1::tlv(TAG_OID, oid::P256),
            ]);
            Zeroizing::new(asn1::sequence(&[
                &asn1::small_uint(1),
                &alg,
                &asn1::tlv(TAG_OCTET_STRING, &sec1),
            ]))
        }
        PrivateKey::Ed25519(k) => {
            let public = k.verifying_key().to_bytes();
            let mut raw = Zeroizing::new(Vec::with_capacity(96));
            raw.extend_from_slice(&public);
            raw.extend_from_slice(k.as_bytes());
            raw.extend_from_slice(&public);
            let alg = asn1::sequence(&[&asn1::tlv(TAG_OID, oid::ED25519_NOTARY)]);
            Zeroizing::new(asn1::sequence(&[
                &asn1::small_uint(0),
                &alg,
                &asn1::tlv(TAG_OCTET_STRING, &raw),
            ]))
        }
        PrivateKey::Rsa(k) => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let pkcs1 = k
                .to_pkcs1_der()
                .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
                .unwrap_or_default();
            let alg = asn1::sequence(&[&asn1::tlv(TAG_OID, oid::RSA)]);
            Zeroizing::new(asn1::sequence(&[
                &asn1::small_uint(0),
                &alg,
                &asn1::tlv(TAG_OCTET_STRING, &pkcs1),
            ]))
        }
    }
}

/// SEC1 ECPrivateKey with curve parameters and public key, as Go's `MarshalECPrivateKey`.
fn ec_private_key_der(k: &p256::SecretKey) -> Zeroizing<Vec<u8>> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let d = Zeroizing::new(k.to_bytes().to_vec());
    let point = k.public_key().to_encoded_point(false);
    let mut bits = vec![0u8];
    bits.extend_from_slice(point.as_bytes());
    Zeroizing::new(asn1::sequence(&[
        &asn1::small_uint(1),
        &asn1::tlv(TAG_OCTET_STRING, &d),
        &asn1::tlv(0xa0, &asn1::tlv(TAG_OID, oid::P256)),
        &asn1::tlv(0xa1, &asn1::tlv(TAG_BIT_STRING, &bits)),
    ]))
}

/// Parses a PrivateKeyInfo, notary's layout or the standard one.
pub fn decode(der: &[u8]) -> Result<PrivateKey, Pkcs8Error> {
    let mut outer = Reader::new(der);
    let mut info = outer.sequence()?;
    let _version = info.small_uint()?;
    let mut alg = info.sequence()?;
    let alg_oid = alg.expect(TAG_OID)?;
    let body = info.expect(TAG_OCTET_STRING)?;
    // Anything after the key (attributes, public key) is ignored, as notary's parser does.
    if alg_oid == oid::EC_PUBLIC_KEY {
        if let Some(TAG_OID) = alg.peek_tag() {
            let curve = alg.expect(TAG_OID)?;
            if curve != oid::P256 {
                return Err(Pkcs8Error::UnsupportedCurve(oid_string(curve)));
            }
        }
        decode_sec1(body)
    } else if alg_oid == oid::ED25519_NOTARY {
        decode_notary_ed25519(body)
    } else if alg_oid == oid::ED25519_RFC8410 {
        let seed = Reader::new(body).expect(TAG_OCTET_STRING)?;
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            seed.try_into()
                .map_err(|_| Pkcs8Error::Malformed("Ed25519 seed must be 32 bytes".into()))?,
        );
        Ok(PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(
            &seed,
        )))
    } else if alg_oid == oid::RSA {
        if let Some(tag) = alg.peek_tag() {
            if tag != TAG_NULL {
                return Err(Pkcs8Error::Malformed(
                    "unexpected RSA algorithm parameters".into(),
                ));
            }
        }
        decode_pkcs1(body)
    } else {
        Err(Pkcs8Error::UnsupportedAlgorithm(oid_string(alg_oid)))
    }
}

/// Notary's raw 96-byte Ed25519 form: public(32) ‖ seed(32) ‖ public(32) (Go's 64-byte
/// private key after the public key). Also the body of legacy `ED25519 PRIVATE KEY` blocks.
pub fn decode_notary_ed25519(body: &[u8]) -> Result<PrivateKey, Pkcs8Error> {
    if body.len() != 96 {
        return Err(Pkcs8Error::Malformed(format!(
            "notary Ed25519 key must be 96 bytes, got {}",
            body.len()
        )));
    }
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
        body[32..64]
            .try_into()
            .map_err(|_| Pkcs8Error::Malformed("Ed25519 seed".into()))?,
    );
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    if key.verifying_key().to_bytes()[..] != body[..32] {
        return Err(Pkcs8Error::Malformed(
            "Ed25519 public half does not match the private key".into(),
        ));
    }
    Ok(PrivateKey::Ed25519(key))
}

/// The algorithm of an unencrypted PrivateKeyInfo (`ecdsa`, `ed25519`, `rsa`) without
/// decoding the key; `None` if the structure or OID is not one of ours.
pub fn algorithm_of(der: &[u8]) -> Option<&'static str> {
    let mut outer = Reader::new(der);
    let mut info = outer.sequence().ok()?;
    info.small_uint().ok()?;
    let mut alg = info.sequence().ok()?;
    let alg_oid = alg.expect(TAG_OID).ok()?;
    if alg_oid == oid::EC_PUBLIC_KEY {
        Some("ecdsa")
    } else if alg_oid == oid::ED25519_NOTARY || alg_oid == oid::ED25519_RFC8410 {
        Some("ed25519")
    } else if alg_oid == oid::RSA {
        Some("rsa")
    } else {
        None
    }
}

/// SEC1 ECPrivateKey (also the body of legacy `EC PRIVATE KEY` blocks).
pub fn decode_sec1(der: &[u8]) -> Result<PrivateKey, Pkcs8Error> {
    let mut outer = Reader::new(der);
    let mut seq = outer.sequence()?;
    let version = seq.small_uint()?;
    if version != 1 {
        return Err(Pkcs8Error::Malformed(format!(
            "EC private key version {version}"
        )));
    }
    let d = seq.expect(TAG_OCTET_STRING)?;
    if seq.peek_tag() == Some(0xa0) {
        let params = seq.expect(0xa0)?;
        let curve = Reader::new(params).expect(TAG_OID)?;
        if curve != oid::P256 {
            return Err(Pkcs8Error::UnsupportedCurve(oid_string(curve)));
        }
    }
    let key = p256::SecretKey::from_slice(d)
        .map_err(|_| Pkcs8Error::Malformed("EC private scalar out of range".into()))?;
    Ok(PrivateKey::Ecdsa(key))
}

/// PKCS#1 RSAPrivateKey (also the body of legacy `RSA PRIVATE KEY` blocks).
pub fn decode_pkcs1(der: &[u8]) -> Result<PrivateKey, Pkcs8Error> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let key = rsa::RsaPrivateKey::from_pkcs1_der(der)
        .map_err(|e| Pkcs8Error::Malformed(format!("RSA key: {e}")))?;
    Ok(PrivateKey::Rsa(Box::new(key)))
}

fn derive_key(passphrase: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(passphrase, salt, iterations, key.as_mut());
    key
}

/// EncryptedPrivateKeyInfo: PBES2, PBKDF2-HMAC-SHA1 (no PRF field), 2048 iterations, 8-byte
/// salt, AES-256-CBC with a 16-byte IV — exactly what notary and docker write.
pub fn encrypt(plain: &[u8], passphrase: &[u8]) -> Vec<u8> {
    let mut salt = [0u8; 8];
    let mut iv = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let key = derive_key(passphrase, &salt, PBKDF2_ITERATIONS);
    let ciphertext = cbc::Encryptor::<aes::Aes256>::new(key.as_ref().into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plain);
    let kdf = asn1::sequence(&[
        &asn1::tlv(TAG_OID, oid::PBKDF2),
        &asn1::sequence(&[
            &asn1::tlv(TAG_OCTET_STRING, &salt),
            &asn1::small_uint(PBKDF2_ITERATIONS as u64),
        ]),
    ]);
    let enc = asn1::sequence(&[
        &asn1::tlv(TAG_OID, oid::AES256_CBC),
        &asn1::tlv(TAG_OCTET_STRING, &iv),
    ]);
    let alg = asn1::sequence(&[
        &asn1::tlv(TAG_OID, oid::PBES2),
        &asn1::sequence(&[&kdf, &enc]),
    ]);
    asn1::sequence(&[&alg, &asn1::tlv(TAG_OCTET_STRING, &ciphertext)])
}

/// Decrypts an EncryptedPrivateKeyInfo and parses the key inside.
pub fn decrypt(der: &[u8], passphrase: &[u8]) -> Result<PrivateKey, Pkcs8Error> {
    let mut outer = Reader::new(der);
    let mut epki = outer.sequence()?;
    let mut alg = epki.sequence()?;
    let scheme = alg.expect(TAG_OID)?;
    if scheme != oid::PBES2 {
        return Err(Pkcs8Error::UnsupportedEncryption(format!(
            "scheme {} (only PBES2)",
            oid_string(scheme)
        )));
    }
    let mut params = alg.sequence()?;
    let mut kdf = params.sequence()?;
    let kdf_oid = kdf.expect(TAG_OID)?;
    if kdf_oid != oid::PBKDF2 {
        return Err(Pkcs8Error::UnsupportedEncryption(format!(
            "key derivation {} (only PBKDF2)",
            oid_string(kdf_oid)
        )));
    }
    let mut kdf_params = kdf.sequence()?;
    let salt = kdf_params.expect(TAG_OCTET_STRING)?;
    let iterations = kdf_params.small_uint()?;
    if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
        return Err(Pkcs8Error::UnsupportedEncryption(format!(
            "PBKDF2 iteration count {iterations}"
        )));
    }
    if kdf_params.peek_tag() == Some(asn1::TAG_INTEGER) {
        let key_len = kdf_params.small_uint()?;
        if key_len != 32 {
            return Err(Pkcs8Error::UnsupportedEncryption(format!(
                "key length {key_len}"
            )));
        }
    }
    if !kdf_params.is_empty() {
        let mut prf = kdf_params.sequence()?;
        let prf_oid = prf.expect(TAG_OID)?;
        if prf_oid != oid::HMAC_SHA1 {
            return Err(Pkcs8Error::UnsupportedEncryption(format!(
                "PBKDF2 PRF {} (only HMAC-SHA1)",
                oid_string(prf_oid)
            )));
        }
    }
    let mut enc = params.sequence()?;
    let enc_oid = enc.expect(TAG_OID)?;
    if enc_oid != oid::AES256_CBC {
        return Err(Pkcs8Error::UnsupportedEncryption(format!(
            "cipher {} (only AES-256-CBC)",
            oid_string(enc_oid)
        )));
    }
    let iv: [u8; 16] = enc
        .expect(TAG_OCTET_STRING)?
        .try_into()
        .map_err(|_| Pkcs8Error::Malformed("AES IV must be 16 bytes".into()))?;
    let ciphertext = epki.expect(TAG_OCTET_STRING)?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(Pkcs8Error::Malformed(
            "ciphertext is not whole AES blocks".into(),
        ));
    }
    let key = derive_key(passphrase, salt, iterations as u32);
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let decryptor = cbc::Decryptor::<aes::Aes256>::new(key.as_ref().into(), &iv.into());
    // Notary neither checks nor strips the padding: it relies on the ASN.1 parse failing for
    // a wrong passphrase and ignores trailing bytes. Decrypting without unpadding and parsing
    // the first structure accepts exactly what notary accepts.
    let plain = decryptor
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| Pkcs8Error::IncorrectPassphrase)?;
    let padded_well = has_pkcs7_padding(plain);
    decode(plain).map_err(|e| match e {
        // Bad padding makes any parse failure (even an "unknown OID" from random bytes) a
        // wrong passphrase; with good padding only a structural failure is one.
        _ if !padded_well => Pkcs8Error::IncorrectPassphrase,
        Pkcs8Error::Malformed(_) => Pkcs8Error::IncorrectPassphrase,
        other => other,
    })
}

fn has_pkcs7_padding(plain: &[u8]) -> bool {
    match plain.last() {
        Some(&n) if (1..=16).contains(&n) && plain.len() >= n as usize => {
            plain[plain.len() - n as usize..].iter().all(|&b| b == n)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_notary_layout_has_version_1_and_no_public_key_field() {
        let k = PrivateKey::generate_ecdsa();
        let der = encode_notary(&k);
        let mut r = Reader::new(&der);
        let mut info = r.sequence().unwrap();
        assert_eq!(info.small_uint().unwrap(), 1);
        info.sequence().unwrap();
        info.expect(TAG_OCTET_STRING).unwrap();
        assert!(info.is_empty());
        assert_eq!(decode(&der).unwrap().id(), k.id());
    }

    #[test]
    fn encrypt_decrypt_round_trip_and_wrong_passphrase() {
        for k in [PrivateKey::generate_ecdsa(), PrivateKey::generate_ed25519()] {
            let enc = encrypt(&encode_notary(&k), b"correct horse");
            assert_eq!(decrypt(&enc, b"correct horse").unwrap().id(), k.id());
            assert_eq!(
                decrypt(&enc, b"wrong").err(),
                Some(Pkcs8Error::IncorrectPassphrase)
            );
        }
    }
}
