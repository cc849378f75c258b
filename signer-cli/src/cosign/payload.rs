//! The simple-signing payload a cosign key-pair signature signs: which image (by manifest
//! digest) under which name. The bytes are what cosign's Go code writes with `json.Marshal`
//! (fields in struct order, no spaces), `"optional": null` included — verifiers that follow
//! containers/image's schema refuse a payload without it.

use super::CosignError;
use serde::{Deserialize, Serialize};

/// `critical.type` of a cosign image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

#[derive(Serialize, Deserialize)]
struct Payload {
    critical: Critical,
    optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// What a payload claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `registry/repository` the signature was made for.
    pub docker_reference: String,
    /// `sha256:<hex>` of the signed manifest.
    pub manifest_digest: String,
}

impl SimpleSigning {
    /// The payload bytes to sign.
    pub fn to_bytes(&self) -> Vec<u8> {
        let p = Payload {
            critical: Critical {
                identity: Identity {
                    docker_reference: self.docker_reference.clone(),
                },
                image: Image {
                    docker_manifest_digest: self.manifest_digest.clone(),
                },
                kind: SIGNATURE_TYPE.to_string(),
            },
            optional: None,
        };
        // Serialising plain strings into JSON cannot fail.
        serde_json::to_vec(&p).unwrap_or_default()
    }

    /// Reads a payload found in a signature layer; anything but a cosign image signature is
    /// refused.
    pub fn parse(bytes: &[u8]) -> Result<SimpleSigning, CosignError> {
        let p: Payload = serde_json::from_slice(bytes)
            .map_err(|e| CosignError::Payload(format!("not a simple-signing payload: {e}")))?;
        if p.critical.kind != SIGNATURE_TYPE {
            return Err(CosignError::Payload(format!(
                "critical.type is {:?}, not {SIGNATURE_TYPE:?}",
                p.critical.kind
            )));
        }
        Ok(SimpleSigning {
            docker_reference: p.critical.identity.docker_reference,
            manifest_digest: p.critical.image.docker_manifest_digest,
        })
    }
}

/// The `docker-reference` cosign writes for a repository: go-containerregistry's name, in
/// which Docker Hub is `index.docker.io`.
pub fn docker_reference(gun: &str) -> String {
    match gun.strip_prefix("docker.io/") {
        Some(rest) => format!("index.docker.io/{rest}"),
        None => gun.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_what_cosign_writes() {
        let p = SimpleSigning {
            docker_reference: "registry.example.com/team/app".into(),
            manifest_digest:
                "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03".into(),
        };
        assert_eq!(
            String::from_utf8(p.to_bytes()).unwrap(),
            r#"{"critical":{"identity":{"docker-reference":"registry.example.com/team/app"},"image":{"docker-manifest-digest":"sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"},"type":"cosign container image signature"},"optional":null}"#
        );
        assert_eq!(SimpleSigning::parse(&p.to_bytes()).unwrap(), p);
    }

    #[test]
    fn other_payloads_are_refused() {
        let other = br#"{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"sha256:00"},"type":"atomic container signature"},"optional":null}"#;
        assert!(SimpleSigning::parse(other)
            .unwrap_err()
            .to_string()
            .contains("atomic container signature"));
        assert!(SimpleSigning::parse(b"{}").is_err());
        // cosign's payloads may carry annotations in `optional`.
        let with_optional = br#"{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"},"optional":{"creator":"x"}}"#;
        assert_eq!(
            SimpleSigning::parse(with_optional).unwrap().manifest_digest,
            "sha256:00"
        );
    }

    #[test]
    fn docker_hub_names_as_go_containerregistry() {
        assert_eq!(
            docker_reference("docker.io/library/alpine"),
            "index.docker.io/library/alpine"
        );
        assert_eq!(docker_reference("localhost:5000/app"), "localhost:5000/app");
    }
}
