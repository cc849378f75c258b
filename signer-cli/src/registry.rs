//! Resolving a tag to its manifest digest and size through the Registry HTTP API v2, with
//! docker's credentials (`~/.docker/config.json` auths and credential helpers) and the
//! registry token flow.

use crate::auth;
use crate::error::CliError;
use crate::tls_roots;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
pub const MANIFEST_LIMIT: u64 = 4 << 20;

pub struct Manifest {
    pub sha256: [u8; 32],
    pub size: i64,
}

fn err(host: &str, reason: impl std::fmt::Display) -> CliError {
    CliError::Registry {
        host: host.to_string(),
        reason: reason.to_string(),
    }
}

/// Digest and size of `<gun>:<tag>`'s manifest. `ca` (`--tlscacert`) is trusted besides the
/// system store and the registry's CA folders (see [`crate::tls_roots`]), for the registry
/// and for its token service.
pub fn resolve(
    gun: &str,
    tag: &str,
    ca: Option<&Path>,
    timeout: Duration,
) -> Result<Manifest, CliError> {
    let (host, path) = gun
        .split_once('/')
        .ok_or_else(|| CliError::Usage(format!("{gun}: no registry host")))?;
    let api_host = if host == "docker.io" {
        "registry-1.docker.io"
    } else {
        host
    };
    let agent = tls_roots::builder_for(api_host, ca, timeout)?
        .redirects(0)
        .build();
    let peer = auth::Peer::Registry {
        host: api_host.to_string(),
        timeout,
    };
    // Like docker, a registry on this machine may be plain HTTP; HTTPS is tried first and a
    // certificate problem is reported as such rather than hidden behind the HTTP attempt.
    let mut result = fetch(&agent, &peer, ca, host, api_host, "https", path, tag);
    if auth::is_loopback_host(api_host) {
        if let Err(Attempt::Unreachable(_)) = result {
            result = fetch(&agent, &peer, ca, host, api_host, "http", path, tag);
        }
    }
    result.map_err(|a| match a {
        Attempt::Unreachable(e) | Attempt::Failed(e) => e,
    })
}

/// A failed manifest request: `Unreachable` when no HTTPS conversation took place (refused
/// connection, a plain-HTTP port), `Failed` otherwise.
enum Attempt {
    Unreachable(CliError),
    Failed(CliError),
}

fn is_certificate_error(e: &ureq::Error) -> bool {
    let s = e.to_string();
    s.contains("invalid peer certificate") || s.contains("UnknownIssuer")
}

// ureq's error carries the whole response; it is matched on at once, never propagated.
#[allow(clippy::result_large_err, clippy::too_many_arguments)]
fn fetch(
    agent: &ureq::Agent,
    peer: &auth::Peer,
    ca: Option<&Path>,
    registry: &str,
    host: &str,
    scheme: &str,
    path: &str,
    tag: &str,
) -> Result<Manifest, Attempt> {
    let url = format!("{scheme}://{host}/v2/{path}/manifests/{tag}");
    let timeout = peer.timeout();
    let failed = |reason: String| Attempt::Failed(err(host, reason));
    let get = |auth: Option<&str>| {
        let mut req = agent.get(&url).set("Accept", ACCEPT);
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
                .ok_or_else(|| failed("401 without a usable challenge".into()))?;
            let creds = auth::credentials(registry);
            let auth = auth::authorize(
                peer,
                ca,
                &challenge,
                &format!("repository:{path}:pull"),
                creds.as_ref(),
            )
            .map_err(Attempt::Failed)?;
            match get(Some(&auth)) {
                Ok(r) => r,
                Err(ureq::Error::Status(code, _)) => {
                    return Err(failed(format!(
                        "manifest request refused after login (HTTP {code})"
                    )))
                }
                Err(e) => {
                    return Err(failed(tls_roots::describe_transport_error(
                        host, &e, timeout,
                    )))
                }
            }
        }
        Err(ureq::Error::Status(404, _)) => {
            return Err(failed(format!("no manifest for {path}:{tag} ({url})")))
        }
        Err(ureq::Error::Status(code, _)) => return Err(failed(format!("HTTP {code} for {url}"))),
        Err(e) if is_certificate_error(&e) => {
            return Err(failed(tls_roots::describe_transport_error(
                host, &e, timeout,
            )))
        }
        Err(e) => {
            return Err(Attempt::Unreachable(err(
                host,
                tls_roots::describe_transport_error(host, &e, timeout),
            )))
        }
    };
    let header_digest = resp.header("Docker-Content-Digest").map(str::to_string);
    let mut body = Vec::new();
    resp.into_reader()
        .take(MANIFEST_LIMIT)
        .read_to_end(&mut body)
        .map_err(|e| failed(e.to_string()))?;
    let sha: [u8; 32] = Sha256::digest(&body).into();
    if let Some(d) = header_digest {
        if d != format!("sha256:{}", hex::encode(sha)) {
            return Err(failed(format!(
                "manifest digest {d} does not match its content"
            )));
        }
    }
    Ok(Manifest {
        sha256: sha,
        size: body.len() as i64,
    })
}
