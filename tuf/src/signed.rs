//! The signed envelope `{"signed":…,"signatures":[…]}`: parsing that keeps the raw bytes,
//! signature checks over `canonical(parse(signed))`, and the Go-identical producer.

use crate::canonical::to_canonical;
use crate::error::TufError;
use crate::go_json;
use crate::go_time::GoTime;
use crate::root::RoleKeySet;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use signet_keys::{KeyId, PrivateKey};
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// One entry of `signatures`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub keyid: String,
    /// Lower-cased on parse, as Go does.
    pub method: String,
    pub sig: Vec<u8>,
}

/// A parsed metadata file: raw bytes as received, the generic `signed` value, signatures.
#[derive(Clone, Debug)]
pub struct Envelope {
    raw: Vec<u8>,
    signed: Value,
    signatures: Vec<Signature>,
}

impl Envelope {
    /// Parses a metadata file. `role` only names the file in errors.
    pub fn parse(role: &str, raw: &[u8]) -> Result<Envelope, TufError> {
        let v: Value = serde_json::from_slice(raw).map_err(|e| TufError::malformed(role, e))?;
        let Value::Object(mut obj) = v else {
            return Err(TufError::malformed(role, "not a JSON object"));
        };
        let signed = obj
            .remove("signed")
            .filter(Value::is_object)
            .ok_or_else(|| TufError::malformed(role, "no \"signed\" object"))?;
        let mut signatures = Vec::new();
        match obj.remove("signatures") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    signatures.push(parse_signature(role, &item)?);
                }
            }
            Some(_) => return Err(TufError::malformed(role, "\"signatures\" is not a list")),
        }
        Ok(Envelope {
            raw: raw.to_vec(),
            signed,
            signatures,
        })
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn signed_value(&self) -> &Value {
        &self.signed
    }

    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// `_type` of the signed value, if a string.
    pub fn type_name(&self) -> Option<&str> {
        self.signed.get("_type").and_then(Value::as_str)
    }

    /// `version`, if an integer.
    pub fn version(&self) -> Option<i64> {
        self.signed.get("version").and_then(Value::as_i64)
    }

    /// The bytes signatures are made over.
    pub fn canonical_signed(&self, role: &str) -> Result<Vec<u8>, TufError> {
        to_canonical(&self.signed).map_err(|e| TufError::Canonical {
            role: role.to_string(),
            reason: e.to_string(),
        })
    }

    /// Checks signatures against a role's keys (notary's `VerifySignatures`): unknown key IDs,
    /// unknown methods and bad signatures are skipped; a listed key that does not hash to its
    /// ID is a hard error; several signatures by one key count once. Returns the number of
    /// distinct keys with a valid signature.
    pub fn verify_threshold(&self, keys: &RoleKeySet) -> Result<usize, TufError> {
        let role = keys.role.as_str();
        if self.signatures.is_empty() {
            return Err(TufError::NoSignatures {
                role: role.to_string(),
            });
        }
        if keys.threshold < 1 {
            return Err(TufError::InvalidThreshold {
                role: role.to_string(),
                threshold: keys.threshold,
            });
        }
        let msg = self.canonical_signed(role)?;
        let mut valid = BTreeSet::new();
        for s in &self.signatures {
            let Some(key) = keys.keys.get(&s.keyid) else {
                continue;
            };
            if key.id().as_str() != s.keyid {
                return Err(TufError::InvalidKeyId {
                    role: role.to_string(),
                    key_id: s.keyid.clone(),
                });
            }
            if key.verify(&s.method, &msg, &s.sig).is_ok() {
                valid.insert(s.keyid.as_str());
            }
        }
        let need = keys.threshold as usize;
        if valid.len() < need {
            return Err(TufError::ThresholdNotMet {
                role: role.to_string(),
                have: valid.len(),
                need,
            });
        }
        Ok(valid.len())
    }

    /// Decodes the signed value into a typed role.
    pub fn decode<T: DeserializeOwned>(&self, role: &str) -> Result<T, TufError> {
        T::deserialize(&self.signed).map_err(|e| TufError::malformed(role, e))
    }
}

fn parse_signature(role: &str, v: &Value) -> Result<Signature, TufError> {
    let field = |name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| TufError::malformed(role, format!("signature without {name:?}")))
    };
    let sig = B64
        .decode(field("sig")?)
        .map_err(|e| TufError::malformed(role, format!("signature is not base64: {e}")))?;
    Ok(Signature {
        keyid: field("keyid")?.to_string(),
        method: field("method")?.to_ascii_lowercase(),
        sig,
    })
}

/// What every role type shares.
pub trait Role: Serialize + DeserializeOwned {
    /// The `_type` value (`Root`, `Targets`, `Snapshot`, `Timestamp`).
    const TYPE: &'static str;
    fn version(&self) -> i64;
    fn expires(&self) -> &GoTime;
    fn type_name(&self) -> &str;
    /// Role-specific structure rules checked when the file is loaded.
    fn check_structure(&self, role: &str) -> Result<(), TufError>;
}

/// A typed metadata file together with its envelope (and so its raw bytes).
#[derive(Clone, Debug)]
pub struct Signed<T> {
    pub envelope: Envelope,
    pub signed: T,
}

pub type SignedRoot = Signed<crate::Root>;
pub type SignedTargets = Signed<crate::Targets>;
pub type SignedSnapshot = Signed<crate::Snapshot>;
pub type SignedTimestamp = Signed<crate::Timestamp>;

impl<T: Role> Signed<T> {
    /// Parses and checks `_type`, `version ≥ 1` and the role's structure rules. Signatures and
    /// expiry are checked separately ([`Envelope::verify_threshold`], [`Signed::check_expiry`]).
    pub fn from_bytes(role: &str, raw: &[u8]) -> Result<Self, TufError> {
        let envelope = Envelope::parse(role, raw)?;
        let found = envelope.type_name().unwrap_or("").to_string();
        if found != T::TYPE {
            return Err(TufError::WrongType {
                role: role.to_string(),
                expected: T::TYPE,
                found,
            });
        }
        let signed: T = envelope.decode(role)?;
        if signed.version() < 1 {
            return Err(TufError::InvalidVersion {
                role: role.to_string(),
                version: signed.version(),
            });
        }
        signed.check_structure(role)?;
        Ok(Signed { envelope, signed })
    }

    pub fn raw(&self) -> &[u8] {
        self.envelope.raw()
    }

    pub fn version(&self) -> i64 {
        self.signed.version()
    }

    /// Expired means `expires` is before `now` (Go's `Before`).
    pub fn check_expiry(&self, role: &str, now: OffsetDateTime) -> Result<(), TufError> {
        let exp = self.signed.expires();
        if exp.instant() < now {
            return Err(TufError::Expired {
                role: role.to_string(),
                expires: exp.as_str().to_string(),
            });
        }
        Ok(())
    }

    pub fn verify_threshold(&self, keys: &RoleKeySet) -> Result<usize, TufError> {
        self.envelope.verify_threshold(keys)
    }

    /// The bytes Go writes when it re-serialises this file (typed struct + same signatures).
    pub fn reserialize(&self, role: &str) -> Result<Vec<u8>, TufError> {
        let body = canonical_of(role, &self.signed)?;
        Ok(envelope_bytes(&body, self.envelope.signatures()))
    }
}

fn canonical_of<T: Serialize>(role: &str, typed: &T) -> Result<Vec<u8>, TufError> {
    let v = serde_json::to_value(typed).map_err(|e| TufError::Canonical {
        role: role.to_string(),
        reason: e.to_string(),
    })?;
    to_canonical(&v).map_err(|e| TufError::Canonical {
        role: role.to_string(),
        reason: e.to_string(),
    })
}

/// `{"signed":<escaped canonical body>,"signatures":[{"keyid","method","sig"},…]}`.
pub fn envelope_bytes(canonical_body: &[u8], signatures: &[Signature]) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical_body.len() + 160 * signatures.len() + 32);
    out.extend_from_slice(b"{\"signed\":");
    out.extend_from_slice(&go_json::html_escape(canonical_body));
    out.extend_from_slice(b",\"signatures\":[");
    for (i, s) in signatures.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"keyid\":");
        out.extend_from_slice(go_json::string(&s.keyid).as_bytes());
        out.extend_from_slice(b",\"method\":");
        out.extend_from_slice(go_json::string(&s.method).as_bytes());
        out.extend_from_slice(b",\"sig\":\"");
        out.extend_from_slice(B64.encode(&s.sig).as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"]}");
    out
}

/// Signs a typed role and writes it exactly as a Go producer would. Each signer is the key
/// ID as the role lists it (for root: the certificate key ID) and the private key.
pub fn sign_and_serialize<T: Role>(
    role: &str,
    typed: &T,
    signers: &[(&KeyId, &PrivateKey)],
) -> Result<Vec<u8>, TufError> {
    let body = canonical_of(role, typed)?;
    let mut signatures = Vec::with_capacity(signers.len());
    for (id, key) in signers {
        let s = key.sign(&body).map_err(|e| TufError::Signing {
            role: role.to_string(),
            reason: e.to_string(),
        })?;
        signatures.push(Signature {
            keyid: id.to_string(),
            method: s.method.to_string(),
            sig: s.sig,
        });
    }
    Ok(envelope_bytes(&body, &signatures))
}

/// Signs with externally produced signatures (e.g. a server-side signer): `sign` receives the
/// canonical body once per call and returns all signatures.
pub fn serialize_with<T: Role, E>(
    role: &str,
    typed: &T,
    sign: impl FnOnce(&[u8]) -> Result<Vec<Signature>, E>,
) -> Result<Result<Vec<u8>, E>, TufError> {
    let body = canonical_of(role, typed)?;
    Ok(sign(&body).map(|sigs| envelope_bytes(&body, &sigs)))
}
