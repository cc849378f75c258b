//! The image cosign keeps an image's key-pair signatures in: tag `sha256-<hex>.sig` of the same
//! repository, an OCI image manifest whose layers are the simple-signing payloads, each with
//! its signature in the `dev.cosignproject.cosign/signature` annotation. New signatures are
//! appended after the layers already there, as cosign does; everything else about existing
//! layers (certificates, bundles, other annotations) is kept as it was.

use super::CosignError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// cosign's manifests when `COSIGN_DOCKER_MEDIA_TYPES` is set; read, never written.
const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// cosign refuses signature images with more layers than this.
pub const MAX_LAYERS: usize = 1000;
/// go-containerregistry's zero time, which cosign's configs carry unless asked to record one.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The tag of the signature image for a manifest digest (`sha256:ab…` → `sha256-ab….sig`).
pub fn tag(manifest_digest: &str) -> String {
    format!("{}.sig", manifest_digest.replace(':', "-"))
}

/// An OCI content descriptor, fields in the order go-containerregistry writes them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub size: i64,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    fn new(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            size: bytes.len() as i64,
            digest: crate::registry_client::sha256_digest(bytes),
            data: None,
            urls: None,
            annotations: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// The signature annotation of a simple-signing layer.
    pub fn signature(&self) -> Option<&str> {
        self.annotations
            .as_ref()
            .and_then(|a| a.get(SIGNATURE_ANNOTATION))
            .map(String::as_str)
    }

    pub fn is_simple_signing(&self) -> bool {
        self.media_type == LAYER_MEDIA_TYPE
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
struct ImageManifest {
    schema_version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<Descriptor>,
}

/// A signature image: the layers it holds, and whatever else its manifest says.
#[derive(Clone, Debug)]
pub struct SignatureImage {
    manifest: ImageManifest,
}

/// What to write to the registry for a signature image: the config blob and the manifest.
pub struct Serialized {
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl SignatureImage {
    /// A signature image with no signature yet.
    pub fn empty() -> SignatureImage {
        SignatureImage {
            manifest: ImageManifest {
                schema_version: 2,
                media_type: Some(MANIFEST_MEDIA_TYPE.into()),
                config: Descriptor::new(CONFIG_MEDIA_TYPE, b""),
                layers: Vec::new(),
                annotations: None,
                subject: None,
            },
        }
    }

    /// Reads the manifest found under a `.sig` tag.
    pub fn parse(manifest: &[u8]) -> Result<SignatureImage, CosignError> {
        let m: ImageManifest = serde_json::from_slice(manifest).map_err(|e| {
            CosignError::SignatureImage(format!("manifest is not an image manifest: {e}"))
        })?;
        if m.schema_version != 2 {
            return Err(CosignError::SignatureImage(format!(
                "manifest schemaVersion {} (expected 2)",
                m.schema_version
            )));
        }
        match m.media_type.as_deref() {
            None | Some(MANIFEST_MEDIA_TYPE) | Some(DOCKER_MANIFEST_MEDIA_TYPE) => {}
            Some(other) => {
                return Err(CosignError::SignatureImage(format!(
                    "manifest media type {other} is not an image manifest"
                )))
            }
        }
        Ok(SignatureImage { manifest: m })
    }

    pub fn layers(&self) -> &[Descriptor] {
        &self.manifest.layers
    }

    /// The media type to PUT the manifest with.
    pub fn media_type(&self) -> &str {
        self.manifest
            .media_type
            .as_deref()
            .unwrap_or(MANIFEST_MEDIA_TYPE)
    }

    /// Appends a simple-signing layer (its blob is `payload`) signed with `signature`.
    pub fn append(&mut self, payload: &[u8], signature: String) -> Result<(), CosignError> {
        if self.manifest.layers.len() >= MAX_LAYERS {
            return Err(CosignError::SignatureImage(format!(
                "already holds {MAX_LAYERS} signatures, the most cosign accepts"
            )));
        }
        let mut layer = Descriptor::new(LAYER_MEDIA_TYPE, payload);
        layer.annotations = Some(BTreeMap::from([(
            SIGNATURE_ANNOTATION.to_string(),
            signature,
        )]));
        self.manifest.layers.push(layer);
        Ok(())
    }

    /// The config (an image config whose root filesystem lists each layer, as
    /// go-containerregistry builds it for cosign; signature layers are stored uncompressed, so
    /// their diff IDs are their digests) and the manifest pointing at it.
    pub fn serialize(&self) -> Serialized {
        let diff_ids: Vec<&str> = self
            .manifest
            .layers
            .iter()
            .map(|l| l.digest.as_str())
            .collect();
        let history: Vec<serde_json::Value> = self
            .manifest
            .layers
            .iter()
            .map(|_| serde_json::json!({"created": ZERO_TIME}))
            .collect();
        let config = ConfigFile {
            architecture: "",
            created: ZERO_TIME,
            history,
            os: "",
            rootfs: RootFs {
                kind: "layers",
                diff_ids,
            },
            config: serde_json::Map::new(),
        };
        // Plain strings and maps serialise without error.
        let config = serde_json::to_vec(&config).unwrap_or_default();
        let mut manifest = self.manifest.clone();
        let media_type = if manifest.config.media_type.is_empty() {
            CONFIG_MEDIA_TYPE
        } else {
            manifest.config.media_type.as_str()
        };
        manifest.config = Descriptor::new(media_type, &config);
        let manifest = serde_json::to_vec(&manifest).unwrap_or_default();
        Serialized { config, manifest }
    }
}

/// go-containerregistry's `ConfigFile` as cosign's signature images carry it.
#[derive(Serialize)]
struct ConfigFile<'a> {
    architecture: &'a str,
    created: &'a str,
    history: Vec<serde_json::Value>,
    os: &'a str,
    rootfs: RootFs<'a>,
    config: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: Vec<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_the_signed_digest() {
        assert_eq!(
            tag("sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"),
            "sha256-5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.sig"
        );
    }

    #[test]
    fn a_new_image_is_what_cosign_writes() {
        let mut image = SignatureImage::empty();
        image.append(b"{}", "MEUC".into()).unwrap();
        let out = image.serialize();
        let d = crate::registry_client::sha256_digest(b"{}");
        assert_eq!(
            String::from_utf8(out.config.clone()).unwrap(),
            format!(
                r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{d}"]}},"config":{{}}}}"#
            )
        );
        assert_eq!(
            String::from_utf8(out.manifest).unwrap(),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":2,"digest":"{d}","annotations":{{"dev.cosignproject.cosign/signature":"MEUC"}}}}]}}"#,
                out.config.len(),
                crate::registry_client::sha256_digest(&out.config)
            )
        );
    }

    #[test]
    fn appending_keeps_existing_layers_as_they_were() {
        // A layer cosign wrote with a certificate and a Rekor bundle.
        let existing = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":233,"digest":"sha256:aa"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":10,"digest":"sha256:bb","annotations":{"dev.cosignproject.cosign/certificate":"PEM","dev.cosignproject.cosign/signature":"MEYC","dev.sigstore.cosign/bundle":"{}"}}]}"#;
        let mut image = SignatureImage::parse(existing.as_bytes()).unwrap();
        image.append(b"payload", "MEQC".into()).unwrap();
        let out = image.serialize();
        let v: serde_json::Value = serde_json::from_slice(&out.manifest).unwrap();
        let first: serde_json::Value = serde_json::from_str(existing).unwrap();
        assert_eq!(v["layers"][0], first["layers"][0]);
        assert_eq!(v["layers"][1]["annotations"][SIGNATURE_ANNOTATION], "MEQC");
        let config: serde_json::Value = serde_json::from_slice(&out.config).unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"],
            serde_json::json!([
                "sha256:bb",
                crate::registry_client::sha256_digest(b"payload")
            ])
        );
        assert!(SignatureImage::parse(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#).is_err());
        assert!(SignatureImage::parse(b"[]").is_err());
    }
}
