//! Key objects in metadata: `{"keytype":T,"keyval":{"private":null,"public":B64}}`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use signet_keys::PublicKey;

/// A public key as metadata lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyObject(pub PublicKey);

#[derive(Serialize, Deserialize)]
struct Wire {
    keytype: String,
    keyval: WireVal,
}

#[derive(Serialize, Deserialize)]
struct WireVal {
    // Go writes `"private":null`; it is part of the key ID pre-image.
    private: Option<String>,
    public: String,
}

impl Serialize for KeyObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            keytype: self.0.key_type().as_str().to_string(),
            keyval: WireVal {
                private: None,
                public: self.0.public_b64(),
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for KeyObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        PublicKey::from_b64(&w.keytype, &w.keyval.public)
            .map(KeyObject)
            .map_err(D::Error::custom)
    }
}
