//! Key IDs as notary computes them: the hex SHA-256 of the canonical JSON of the public key object.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A key ID: 64 lower-case hex characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("not a key ID (want 64 lower-case hex characters): {0:?}")]
pub struct InvalidKeyId(pub String);

impl KeyId {
    /// The ID of a TUF public key object `{"keytype":T,"keyval":{"private":null,"public":B64}}`.
    ///
    /// The pre-image is written directly rather than through a JSON encoder: key types and
    /// base64 never contain `"` or `\`, the only characters canonical JSON escapes.
    pub fn of_key_object(key_type: &str, public_b64: &str) -> KeyId {
        let mut h = Sha256::new();
        h.update(br#"{"keytype":""#);
        h.update(escape_canonical(key_type).as_bytes());
        h.update(br#"","keyval":{"private":null,"public":""#);
        h.update(escape_canonical(public_b64).as_bytes());
        h.update(br#""}}"#);
        KeyId(hex::encode(h.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn escape_canonical(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl FromStr for KeyId {
    type Err = InvalidKeyId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(KeyId(s.to_string()))
        } else {
            Err(InvalidKeyId(s.chars().take(80).collect()))
        }
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pre-image and digest verified against notary's Go code (protocol reference §3.8).
    #[test]
    fn matches_notary_vector() {
        let id = KeyId::of_key_object(
            "ecdsa",
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHSmpOzxmmzv+GKOEmtumMlNAOZtt24B+gfRbHQ3FCIH5F2BIJ8TlrZAmDh08/cSggw/7lx9pP2bs4qGd3OykGg==",
        );
        assert_eq!(
            id.as_str(),
            "6b124941e66684dbeb046a57792a3bb1f328bb927b2c250735e0156c8bf13bfc"
        );
    }

    #[test]
    fn parse_rejects_non_ids() {
        assert!("ABC".parse::<KeyId>().is_err());
        assert!(
            "6B124941E66684DBEB046A57792A3BB1F328BB927B2C250735E0156C8BF13BFC"
                .parse::<KeyId>()
                .is_err()
        );
        assert!(
            "6b124941e66684dbeb046a57792a3bb1f328bb927b2c250735e0156c8bf13bfc"
                .parse::<KeyId>()
                .is_ok()
        );
    }
}
