//! Image references to GUNs and tags, normalised as docker does (`alpine` is
//! `docker.io/library/alpine`), and the default trust server for a registry.

use crate::error::CliError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub gun: String,
    pub tag: Option<String>,
}

pub fn parse(reference: &str) -> Result<ImageRef, CliError> {
    let bad = |why: &str| CliError::Usage(format!("invalid image reference {reference:?}: {why}"));
    if reference.is_empty()
        || reference.contains('@')
        || reference.chars().any(|c| c.is_whitespace() || c == '*')
    {
        return Err(bad("use NAME[:TAG] without a digest"));
    }
    let last_slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            Some(reference[last_slash + i + 1..].to_string()),
        ),
        None => (reference, None),
    };
    if tag.as_deref() == Some("") || name.is_empty() || name.split('/').any(str::is_empty) {
        return Err(bad("empty name component or tag"));
    }
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let gun = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    Ok(ImageRef { gun, tag })
}

/// docker's default trust server: notary.docker.io for Docker Hub, else the registry host.
pub fn default_server(gun: &str) -> String {
    let host = gun.split('/').next().unwrap_or(gun);
    if host == "docker.io" {
        "https://notary.docker.io".into()
    } else {
        format!("https://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        assert_eq!(
            parse("alpine").unwrap(),
            ImageRef {
                gun: "docker.io/library/alpine".into(),
                tag: None
            }
        );
        assert_eq!(parse("me/app:1.0").unwrap().gun, "docker.io/me/app");
        let r = parse("192.0.2.1:5000/app:v1").unwrap();
        assert_eq!(
            (r.gun.as_str(), r.tag.as_deref()),
            ("192.0.2.1:5000/app", Some("v1"))
        );
        assert_eq!(parse("registry.test:5000/team/app").unwrap().tag, None);
        assert!(parse("app@sha256:abc").is_err());
        assert!(parse("app:").is_err());
        assert_eq!(
            default_server("docker.io/library/alpine"),
            "https://notary.docker.io"
        );
        assert_eq!(
            default_server("192.0.2.1:5000/app"),
            "https://192.0.2.1:5000"
        );
    }
}
