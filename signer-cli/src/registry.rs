//! Resolving a tag to its manifest digest and size through the Registry HTTP API v2, with
//! docker's credentials (`~/.docker/config.json` auths and credential helpers) and the
//! registry token flow.

use crate::error::CliError;
use crate::remote::docker_config_dir;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
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

fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    h == "localhost" || h.starts_with("127.") || h == "[::1]"
}

/// `(user, secret)` from docker's credential store for a registry host.
fn credentials(host: &str) -> Option<(String, String)> {
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(docker_config_dir().join("config.json")).ok()?)
            .ok()?;
    let helper = cfg["credHelpers"][host]
        .as_str()
        .or_else(|| cfg["credsStore"].as_str());
    if let Some(helper) = helper {
        let mut child = std::process::Command::new(format!("docker-credential-{helper}"))
            .arg("get")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(host.as_bytes()).ok()?;
        let out = child.wait_with_output().ok()?;
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            return Some((
                v["Username"].as_str()?.to_string(),
                v["Secret"].as_str()?.to_string(),
            ));
        }
    }
    let auth = cfg["auths"][host]["auth"].as_str()?;
    let decoded = String::from_utf8(B64.decode(auth).ok()?).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_string(), p.to_string()))
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

/// Parses `Bearer realm="…",service="…",scope="…"`.
fn challenge(header: &str) -> Option<(String, Vec<(String, String)>)> {
    let (scheme, rest) = header.split_once(' ')?;
    let mut params = Vec::new();
    for part in rest.split(',') {
        let (k, v) = part.split_once('=')?;
        params.push((
            k.trim().to_ascii_lowercase(),
            v.trim().trim_matches('"').to_string(),
        ));
    }
    Some((scheme.to_ascii_lowercase(), params))
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
    let schemes: &[&str] = if is_loopback(api_host) {
        &["https", "http"]
    } else {
        &["https"]
    };
    let mut last = None;
    for scheme in schemes {
        let url = format!("{scheme}://{api_host}/v2/{path}/manifests/{tag}");
        match fetch(&agent, api_host, &url, path) {
            Ok(m) => return Ok(m),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| err(api_host, "unreachable")))
}

// ureq's error carries the whole response; it is matched on at once, never propagated.
#[allow(clippy::result_large_err)]
fn fetch(agent: &ureq::Agent, host: &str, url: &str, path: &str) -> Result<Manifest, CliError> {
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
            let header = r.header("WWW-Authenticate").unwrap_or("").to_string();
            let auth = authorize(agent, host, &header, path)?;
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

fn authorize(
    agent: &ureq::Agent,
    host: &str,
    header: &str,
    path: &str,
) -> Result<String, CliError> {
    let creds = credentials(host);
    let (scheme, params) =
        challenge(header).ok_or_else(|| err(host, "401 without a usable challenge"))?;
    let basic = creds
        .as_ref()
        .map(|(u, p)| format!("Basic {}", B64.encode(format!("{u}:{p}"))));
    if scheme == "basic" {
        return basic.ok_or_else(|| err(host, "login required (docker login)"));
    }
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let realm = param("realm").ok_or_else(|| err(host, "challenge without realm"))?;
    let mut req = agent.get(&realm).query(
        "scope",
        &param("scope").unwrap_or_else(|| format!("repository:{path}:pull")),
    );
    if let Some(service) = param("service") {
        req = req.query("service", &service);
    }
    if let Some(b) = &basic {
        req = req.set("Authorization", b);
    }
    let mut text = String::new();
    req.call()
        .map_err(|e| err(host, format!("token request failed: {e}")))?
        .into_reader()
        .take(1 << 20)
        .read_to_string(&mut text)
        .map_err(|e| err(host, format!("token response: {e}")))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| err(host, format!("token response: {e}")))?;
    let token = v["access_token"]
        .as_str()
        .or_else(|| v["token"].as_str())
        .ok_or_else(|| err(host, "token response without a token"))?;
    Ok(format!("Bearer {token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let (s, p) = challenge(r#"Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull""#).unwrap();
        assert_eq!(s, "bearer");
        assert_eq!(
            p[0],
            (
                "realm".to_string(),
                "https://auth.example/token".to_string()
            )
        );
        assert!(
            is_loopback("127.0.0.1:5000")
                && is_loopback("localhost:80")
                && !is_loopback("registry.test:5000")
        );
    }
}
