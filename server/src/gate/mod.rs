//! The signed-only registry gate's domain: which manifest reads a registry may serve.
//!
//! - [`policy`]: a registry's gate mode (enforce, audit, off), required signers, exempt globs;
//! - [`trusted`]: a repository's trust data verified as a client verifies it, answering which
//!   digest a tag is signed with;
//! - [`children`]: the manifests a signed index or manifest list names, so a multi-platform
//!   pull of a signed tag can fetch its platform's manifest by digest.
//!
//! The service layer (`service::gate`) puts them together over the read cache; the HTTP layer
//! (`http::gate`) is the reverse proxy.

pub mod children;
pub mod policy;
pub mod trusted;

pub use policy::{GateMode, GatePolicy};
pub use trusted::{SignedManifest, TrustFiles, TrustedTargets};

/// What a manifest request names after `/manifests/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest([u8; 32]),
    /// A digest of another algorithm: never signed (notary signs sha256).
    OtherDigest(String),
}

impl Reference {
    /// Parses a tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) or a digest (`algorithm:hex`);
    /// `None` for anything else.
    pub fn parse(s: &str) -> Option<Reference> {
        if let Some((alg, hex_part)) = s.split_once(':') {
            if alg == "sha256" {
                let mut d = [0u8; 32];
                return hex::decode_to_slice(hex_part, &mut d)
                    .ok()
                    .filter(|()| hex_part.bytes().all(|b| !b.is_ascii_uppercase()))
                    .map(|()| Reference::Digest(d));
            }
            let ok = !alg.is_empty()
                && alg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && !hex_part.is_empty()
                && hex_part.bytes().all(|b| b.is_ascii_hexdigit());
            return ok.then(|| Reference::OtherDigest(s.to_string()));
        }
        let first_ok = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        let ok = first_ok
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        ok.then(|| Reference::Tag(s.to_string()))
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Tag(t) => f.write_str(t),
            Reference::Digest(d) => write!(f, "sha256:{}", hex::encode(d)),
            Reference::OtherDigest(d) => f.write_str(d),
        }
    }
}

/// A repository name as distribution accepts it: lowercase path components of
/// `[a-z0-9]+([._-][a-z0-9]+)*` separated by `/`.
pub fn valid_repository(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            Reference::parse("v1.0"),
            Some(Reference::Tag("v1.0".into()))
        );
        assert_eq!(Reference::parse(".x"), None);
        assert_eq!(Reference::parse(""), None);
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(Reference::parse(&d), Some(Reference::Digest([0xab; 32])));
        assert_eq!(Reference::parse(&d).unwrap().to_string(), d);
        assert_eq!(Reference::parse("sha256:abc"), None);
        assert_eq!(
            Reference::parse(&format!("sha256:{}", "AB".repeat(32))),
            None
        );
        assert!(matches!(
            Reference::parse(&format!("sha512:{}", "ab".repeat(64))),
            Some(Reference::OtherDigest(_))
        ));
        assert!(valid_repository("library/alpine"));
        assert!(!valid_repository("Library/alpine"));
        assert!(!valid_repository("a//b"));
        assert!(!valid_repository("../b"));
    }
}
