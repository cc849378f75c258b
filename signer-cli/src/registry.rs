//! Resolving a tag to its manifest digest and size through the Registry HTTP API v2, with
//! docker's credentials (`~/.docker/config.json` auths and credential helpers) and the
//! registry token flow.

use crate::auth;
use crate::error::CliError;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
const MANIFEST_LIMIT: u64 = 4 << 20;

pub struct Manifest {
    pub sha256: [u8; 32],
    pub size: i64,
}

fn err(host: &str, reason: impl std::fmt::Display) -> CliError {
    CliError::Server {
        server: format!("registry {host}"),
        reason: reason.to_string(),
    }
}

fn agent() -> Result<ureq::Agent, CliError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::Usage(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(ureq::AgentBuilder::new()
        .tls_config(Arc::new(tls))
        .timeout(Duration::from_secs(60))
        .redirects(0)
        .build())
}

/// Digest and size of `<gun>:<tag>`'s manifest.
pub fn resolve(gun: &str, tag: &str) -> Result<Manifest, CliError> {
    let (host, path) = gun
        .split_once('/')
        .ok_or_else(|| CliError::Usage(format!("{gun}: no registry host")))?;
    let api_host = if host == "docker.io" {
        "registry-1.docker.io"
    } else {
        host
    };
    let agent = agent()?;
    let schemes: &[&str] = if auth::is_loopback_host(api_host) {
        &["https", "http"]
    } else {
        &["https"]
    };
    let mut last = None;
    for scheme in schemes {
        let url = format!("{scheme}://{api_host}/v2/{path}/manifests/{tag}");
        match fetch(&agent, host, api_host, &url, path) {
            Ok(m) => return Ok(m),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| err(api_host, "unreachable")))
}

// ureq's error carries the whole response; it is matched on at once, never propagated.
#[allow(clippy::result_large_err)]
fn fetch(
    agent: &ureq::Agent,
    registry: &str,
    host: &str,
    url: &str,
    path: &str,
) -> Result<Manifest, CliError> {
    let get = |auth: Option<&str>| {
        let mut req = agent.get(url).set("Accept", ACCEPT);
        if let Some(a) = auth {
            req = req.set("Authorization", a);
        }
        req.call()
    };
    let resp = match get(None) {
        Ok(r) => r,
        Err(ureq::Error::Status(401, r)) => {
            let challenge = r
                .header("WWW-Authenticate")
                .and_then(auth::parse_challenge)
                .ok_or_else(|| err(host, "401 without a usable challenge"))?;
            let creds = auth::credentials(registry);
            let auth = auth::authorize(
                agent,
                &format!("registry {host}"),
                &challenge,
                &format!("repository:{path}:pull"),
                creds.as_ref(),
            )?;
            match get(Some(&auth)) {
                Ok(r) => r,
                Err(ureq::Error::Status(code, _)) => {
                    return Err(err(
                        host,
                        format!("manifest request refused after login (HTTP {code})"),
                    ))
                }
                Err(e) => return Err(err(host, e)),
            }
        }
        Err(ureq::Error::Status(404, _)) => {
            return Err(err(host, format!("no manifest for {url}")))
        }
        Err(ureq::Error::Status(code, _)) => {
            return Err(err(host, format!("HTTP {code} for {url}")))
        }
        Err(e) => return Err(err(host, e)),
    };
    let header_digest = resp.header("Docker-Content-Digest").map(str::to_string);
    let mut body = Vec::new();
    resp.into_reader()
        .take(MANIFEST_LIMIT)
        .read_to_end(&mut body)
        .map_err(|e| err(host, e))?;
    let sha: [u8; 32] = Sha256::digest(&body).into();
    if let Some(d) = header_digest {
        if d != format!("sha256:{}", hex::encode(sha)) {
            return Err(err(
                host,
                format!("manifest digest {d} does not match its content"),
            ));
        }
    }
    Ok(Manifest {
        sha256: sha,
        size: body.len() as i64,
    })
}
