//! Bearer tokens of the docker registry token spec: ES256 JWTs signed by a key the server
//! keeps sealed in its database, carrying `x5c` (a self-signed certificate of that key, for a
//! distribution registry's `rootcertbundle`) and `kid` (the libtrust fingerprint of the key).

use crate::signer::Signer;
use crate::store::{Store, StoreError};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Name under which the sealed key and its certificate live in the database (first writer
/// wins, so instances sharing a database share the key).
const META_NAME: &str = "token_signing_v1";
const SEAL_PURPOSE: &str = "token-signing-key";
/// Clock skew tolerated on `exp` and `nbf`, as distribution allows.
pub const LEEWAY_SECS: i64 = 60;
/// Audience of refresh tokens: never accepted as an access token anywhere.
pub const REFRESH_AUDIENCE: &str = "signet-refresh";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm {0:?} is not accepted (ES256 only)")]
    Algorithm(String),
    #[error("token signature does not verify")]
    Signature,
    #[error("token issuer is not this server")]
    Issuer,
    #[error("token audience is not this service")]
    Audience,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
}

#[derive(Debug, Error)]
pub enum TokenKeyError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("token signing key: {0}")]
    Key(String),
}

/// One grant: `{"type":"repository","name":"<name>","actions":["pull"]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// JWT claims as the registry token spec defines them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default)]
    pub access: Vec<Access>,
    /// Refresh tokens only: fingerprint of the password hash they were issued against, so a
    /// password change ends them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwh: Option<String>,
}

/// `aud` is a string in what we issue; other issuers may send a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, s: &str) -> bool {
        match self {
            Audience::One(a) => a == s,
            Audience::Many(v) => v.iter().any(|a| a == s),
        }
    }
}

impl Claims {
    /// Whether the token grants `action` on `kind:name` (the action `*` only literally).
    pub fn grants(&self, kind: &str, name: &str, action: &str) -> bool {
        self.access
            .iter()
            .any(|a| a.kind == kind && a.name == name && a.actions.iter().any(|x| x == action))
    }
}

/// The signing key with its certificate. Private key bytes live only inside ring's key pair.
pub struct TokenKeys {
    key_pair: EcdsaKeyPair,
    public: Vec<u8>,
    cert_der: Vec<u8>,
    kid: String,
    rng: ring::rand::SystemRandom,
    /// Verified tokens by SHA-256 of the whole token (never by a part of it: a forged body
    /// reusing a good signature must miss), so a hot client is not re-verified each request.
    verified: Mutex<HashMap<[u8; 32], Arc<Claims>>>,
}

const VERIFIED_CACHE_MAX: usize = 4096;

/// DER prefix of a P-256 SubjectPublicKeyInfo before the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// libtrust key ID: SHA-256 of the DER public key, first 240 bits, base32, groups of four.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(spki_der);
    let b32 = base32(&digest[..30]);
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u64, 0u32);
    for &b in data {
        buf = (buf << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Stored layout: u32 big-endian certificate length, certificate DER, sealed PKCS#8.
fn split_blob(blob: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let cert = blob.get(4..4 + len)?;
    Some((cert, &blob[4 + len..]))
}

fn pem(der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The token signing certificate as PEM, if a server has created it (no passphrase needed:
/// the certificate is public).
pub fn stored_certificate_pem(store: &dyn Store) -> Result<Option<String>, StoreError> {
    let Some(blob) = store.signer_meta_get(META_NAME)? else {
        return Ok(None);
    };
    Ok(split_blob(&blob).map(|(cert, _)| pem(cert)))
}

impl TokenKeys {
    /// Loads the signing key from the database, creating it (and its certificate) once.
    pub fn load_or_create(
        store: &dyn Store,
        signer: &Signer,
        issuer: &str,
    ) -> Result<TokenKeys, TokenKeyError> {
        let key_err = |e: &dyn std::fmt::Display| TokenKeyError::Key(e.to_string());
        let fresh = {
            let kp = rcgen::KeyPair::generate().map_err(|e| key_err(&e))?;
            let mut params =
                rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| key_err(&e))?;
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, format!("{issuer} token signing"));
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::hours(1);
            params.not_after = now + time::Duration::days(3650);
            let cert = params.self_signed(&kp).map_err(|e| key_err(&e))?;
            let pkcs8 = zeroize::Zeroizing::new(kp.serialize_der());
            let sealed = signer.seal_secret(SEAL_PURPOSE, &pkcs8);
            let der = cert.der().to_vec();
            let mut blob = Vec::with_capacity(4 + der.len() + sealed.len());
            blob.extend_from_slice(&(der.len() as u32).to_be_bytes());
            blob.extend_from_slice(&der);
            blob.extend_from_slice(&sealed);
            blob
        };
        let blob = store.signer_meta_init(META_NAME, &fresh)?;
        let (cert, sealed) =
            split_blob(&blob).ok_or_else(|| TokenKeyError::Key("stored blob is corrupt".into()))?;
        let pkcs8 = signer
            .open_secret(SEAL_PURPOSE, sealed)
            .ok_or_else(|| TokenKeyError::Key("cannot unseal (wrong signer passphrase?)".into()))?;
        let rng = ring::rand::SystemRandom::new();
        let key_pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
                .map_err(|e| key_err(&e))?;
        let public = key_pair.public_key().as_ref().to_vec();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&public);
        Ok(TokenKeys {
            kid: libtrust_key_id(&spki),
            key_pair,
            public,
            cert_der: cert.to_vec(),
            rng,
            verified: Mutex::new(HashMap::new()),
        })
    }

    pub fn certificate_pem(&self) -> String {
        pem(&self.cert_der)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs claims into a compact JWT.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenKeyError> {
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "kid": self.kid,
            "x5c": [B64.encode(&self.cert_der)],
        });
        let body = serde_json::to_vec(claims).map_err(|e| TokenKeyError::Key(e.to_string()))?;
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(body)
        );
        let sig = self
            .key_pair
            .sign(&self.rng, input.as_bytes())
            .map_err(|e| TokenKeyError::Key(e.to_string()))?;
        Ok(format!("{input}.{}", B64URL.encode(sig.as_ref())))
    }

    /// Verifies signature, algorithm, issuer, audience and validity window.
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: i64,
    ) -> Result<Arc<Claims>, TokenError> {
        let digest: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(token.as_bytes()).into()
        };
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
            .cloned();
        let claims = match cached {
            Some(c) => c,
            None => {
                let c = Arc::new(self.verify_signature(token)?);
                let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= VERIFIED_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(digest, c.clone());
                c
            }
        };
        if claims.iss != issuer {
            return Err(TokenError::Issuer);
        }
        if !claims.aud.contains(audience) {
            return Err(TokenError::Audience);
        }
        if now > claims.exp.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::Expired);
        }
        if now.saturating_add(LEEWAY_SECS) < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(b), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        #[derive(Deserialize)]
        struct Header {
            alg: String,
        }
        let header: Header = B64URL
            .decode(h)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or(TokenError::Malformed)?;
        // Only what we issue: never `none`, never an HMAC keyed with our public key.
        if header.alg != "ES256" {
            return Err(TokenError::Algorithm(header.alg));
        }
        let sig = B64URL.decode(s).map_err(|_| TokenError::Malformed)?;
        let signed_len = h.len() + 1 + b.len();
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.public)
            .verify(&token.as_bytes()[..signed_len], &sig)
            .map_err(|_| TokenError::Signature)?;
        let body = B64URL.decode(b).map_err(|_| TokenError::Malformed)?;
        serde_json::from_slice(&body).map_err(|_| TokenError::Malformed)
    }
}

/// A random token ID.
pub fn new_jti() -> String {
    let mut raw = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    hex::encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn keys() -> (tempfile::TempDir, Arc<SqliteStore>, Signer, TokenKeys) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let signer = Signer::open(store.clone(), b"pass").unwrap();
        let keys = TokenKeys::load_or_create(store.as_ref(), &signer, "signet").unwrap();
        (dir, store, signer, keys)
    }

    fn claims(aud: &str, exp: i64) -> Claims {
        Claims {
            iss: "signet".into(),
            sub: "alice".into(),
            aud: Audience::One(aud.into()),
            exp,
            nbf: exp - 600,
            iat: exp - 600,
            jti: new_jti(),
            access: vec![Access {
                kind: "repository".into(),
                name: "r.test/app".into(),
                actions: vec!["pull".into()],
            }],
            pwh: None,
        }
    }

    #[test]
    fn issued_tokens_verify_and_tampering_fails() {
        let (_d, store, signer, keys) = keys();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let t = keys.issue(&claims("svc", now + 300)).unwrap();
        let c = keys.verify(&t, "signet", "svc", now).unwrap();
        assert!(c.grants("repository", "r.test/app", "pull"));
        assert!(!c.grants("repository", "r.test/app", "push"));
        assert_eq!(
            keys.verify(&t, "signet", "other", now).unwrap_err(),
            TokenError::Audience
        );
        assert_eq!(
            keys.verify(&t, "evil", "svc", now).unwrap_err(),
            TokenError::Issuer
        );
        assert_eq!(
            keys.verify(&t, "signet", "svc", now + 300 + 61)
                .unwrap_err(),
            TokenError::Expired
        );
        // Claims swapped under the same signature.
        let parts: Vec<&str> = t.split('.').collect();
        let mut forged = claims("svc", now + 300);
        forged.access[0].actions = vec!["push".into(), "pull".into()];
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            B64URL.encode(serde_json::to_vec(&forged).unwrap()),
            parts[2]
        );
        assert_eq!(
            keys.verify(&forged, "signet", "svc", now).unwrap_err(),
            TokenError::Signature
        );
        // alg none with no signature.
        let none = format!(
            "{}.{}.",
            B64URL.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert_eq!(
            keys.verify(&none, "signet", "svc", now).unwrap_err(),
            TokenError::Algorithm("none".into())
        );
        // The same key comes back from the database; the certificate is readable without it.
        let again = TokenKeys::load_or_create(store.as_ref(), &signer, "signet").unwrap();
        assert_eq!(again.kid(), keys.kid());
        assert!(again.verify(&t, "signet", "svc", now).is_ok());
        assert_eq!(
            stored_certificate_pem(store.as_ref()).unwrap().unwrap(),
            keys.certificate_pem()
        );
    }

    #[test]
    fn libtrust_key_id_shape() {
        // 12 groups of 4 base32 characters.
        let id = libtrust_key_id(b"anything");
        assert_eq!(id.len(), 12 * 4 + 11);
        assert!(id.split(':').all(|g| g.len() == 4
            && g.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))));
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }
}
