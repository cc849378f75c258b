//! Which certificate authorities a connection to a host trusts, from the places docker's
//! client and daemon read them: the public web roots, the system store, `--tlscacert`, and the
//! per-host folders `$DOCKER_CONFIG/tls/<host:port>/` (docker CLI, trust servers),
//! `$DOCKER_CONFIG/certs.d/<host:port>/` and `/etc/docker/certs.d/<host:port>/` (registries).

use crate::docker_config::docker_config_dir;
use crate::error::CliError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The system CA bundles Go's crypto/x509 looks for on Linux, first found wins
/// (`SSL_CERT_FILE` overrides them).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Where the CA certificates for `hostport` may be, in the order they are read.
pub fn host_ca_dirs(hostport: &str) -> Vec<PathBuf> {
    let config = docker_config_dir();
    vec![
        config.join("tls").join(hostport),
        config.join("certs.d").join(hostport),
        Path::new("/etc/docker/certs.d").join(hostport),
    ]
}

/// `*.crt` files of the per-host folders (client certificates, `*.cert`, are not CAs).
fn host_ca_files(hostport: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in host_ca_dirs(hostport) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        out.extend(files);
    }
    out
}

fn system_bundle() -> Option<PathBuf> {
    if let Some(f) = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(f));
    }
    SYSTEM_BUNDLES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn add_pem_file(roots: &mut rustls::RootCertStore, f: &Path, strict: bool) -> Result<(), CliError> {
    let pem = match std::fs::read(f) {
        Ok(p) => p,
        Err(e) if strict => return Err(CliError::file(f, e)),
        Err(_) => return Ok(()),
    };
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        match cert {
            Ok(c) => {
                if let Err(e) = roots.add(c) {
                    if strict {
                        return Err(CliError::file(f, e));
                    }
                }
            }
            Err(e) if strict => return Err(CliError::file(f, e)),
            Err(_) => {}
        }
    }
    Ok(())
}

/// The `host:port` of an `https://` URL.
pub fn url_hostport(url: &str) -> &str {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

/// An HTTPS agent for `hostport`: public web roots, the system store, `explicit`
/// (`--tlscacert`) and the host's CA folders. A CA file the user named or placed for the host
/// that cannot be read is an error; an unreadable system bundle is skipped.
pub fn agent_for(
    hostport: &str,
    explicit: Option<&Path>,
    timeout: Duration,
) -> Result<ureq::Agent, CliError> {
    Ok(builder_for(hostport, explicit, timeout)?.build())
}

/// [`agent_for`] before building, for callers that change more settings.
pub fn builder_for(
    hostport: &str,
    explicit: Option<&Path>,
    timeout: Duration,
) -> Result<ureq::AgentBuilder, CliError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(bundle) = system_bundle() {
        add_pem_file(&mut roots, &bundle, false)?;
    }
    if let Some(f) = explicit {
        add_pem_file(&mut roots, f, true)?;
    }
    for f in host_ca_files(hostport) {
        add_pem_file(&mut roots, &f, true)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::Usage(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(ureq::AgentBuilder::new()
        .tls_config(Arc::new(tls))
        .timeout_connect(timeout)
        .timeout_read(timeout)
        .timeout_write(timeout)
        .user_agent("signet"))
}

/// A transport error in words a user can act on: an untrusted certificate (where its CA
/// goes), no answer within the timeout, a port that does not speak TLS.
pub fn describe_transport_error(hostport: &str, e: &ureq::Error, timeout: Duration) -> String {
    let s = e.to_string();
    if s.contains("UnknownIssuer") || s.contains("invalid peer certificate") {
        format!(
            "TLS certificate of {hostport} not trusted (put its CA in $DOCKER_CONFIG/tls/{hostport}/ or $DOCKER_CONFIG/certs.d/{hostport}/, or pass --tlscacert): {s}"
        )
    } else if s.contains("timed out")
        || s.contains("WouldBlock")
        || s.contains("Resource temporarily unavailable")
    {
        format!(
            "no answer from {hostport} within {}s (is the address right? a slow server needs a longer --timeout)",
            timeout.as_secs()
        )
    } else if s.contains("InvalidContentType") || s.contains("corrupt message") {
        format!(
            "{hostport} does not answer in TLS: is it a plain-HTTP port? Point the https:// URL at the server's TLS port ({s})"
        )
    } else {
        s
    }
}
