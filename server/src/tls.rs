//! TLS: a self-signed CA and server certificate kept in the data directory, or operator files.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("creating the self-signed certificate: {0}")]
    Generate(String),
    #[error("{path}: no usable {what} in PEM file")]
    Pem { path: String, what: &'static str },
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where the generated CA and server certificate live.
pub struct SelfSigned {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// Creates (once) and reuses `<data-dir>/tls/{ca.crt,ca.key,server.crt,server.key}`. The
/// server certificate names localhost, 127.0.0.1, ::1 and any extra names given.
pub fn ensure_self_signed(data_dir: &Path, extra_names: &[String]) -> Result<SelfSigned, TlsError> {
    let dir = data_dir.join("tls");
    let out = SelfSigned {
        ca_cert: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
    };
    if out.ca_cert.exists() && out.server_cert.exists() && out.server_key.exists() {
        return Ok(out);
    }
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    let gen = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(gen)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(gen)?;
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Signet self-signed CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let now = time::OffsetDateTime::now_utc();
    ca_params.not_before = now - time::Duration::hours(1);
    ca_params.not_after = now + time::Duration::days(3650);
    let ca = ca_params.self_signed(&ca_key).map_err(gen)?;

    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    names.extend(extra_names.iter().cloned());
    let server_key = rcgen::KeyPair::generate().map_err(gen)?;
    let mut params = rcgen::CertificateParams::new(names).map_err(gen)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "signet-server");
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(825);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&server_key, &ca, &ca_key).map_err(gen)?;

    write_private(&dir.join("ca.key"), ca_key.serialize_pem().as_bytes())?;
    write_private(&out.server_key, server_key.serialize_pem().as_bytes())?;
    fs::write(&out.server_cert, cert.pem()).map_err(io(&out.server_cert))?;
    fs::write(&out.ca_cert, ca.pem()).map_err(io(&out.ca_cert))?;
    Ok(out)
}

/// A rustls server config from PEM files, offering HTTP/2 and HTTP/1.1.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        fs::File::open(cert).map_err(io(cert))?,
    ))
    .collect::<Result<_, _>>()
    .map_err(io(cert))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert.display().to_string(),
            what: "certificate",
        });
    }
    let key_der = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        fs::File::open(key).map_err(io(key))?,
    ))
    .map_err(io(key))?
    .ok_or_else(|| TlsError::Pem {
        path: key.display().to_string(),
        what: "private key",
    })?;
    let mut provider = rustls::crypto::ring::default_provider();
    // AES-128-GCM with SHA-256 first, chosen over the client's order: what Go clients
    // (docker, notary) pick anyway, and the cheapest handshake for every other client. ring's
    // SHA-256 uses the CPU's SHA extensions where its SHA-384 does not, and a TLS 1.3
    // handshake hashes its transcript and key schedule many times over; with OpenSSL's
    // preference (AES-256/SHA-384) SHA-512 blocks were a tenth of a new connection's CPU.
    provider.cipher_suites.sort_by_key(|s| {
        use rustls::CipherSuite::*;
        match s.suite() {
            TLS13_AES_128_GCM_SHA256 | TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => 0,
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 1,
            _ => 2,
        }
    });
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    cfg.ignore_client_order = true;
    // docker opens a new connection per request: let clients resume instead of paying for a
    // full handshake (certificate signature and key exchange) each time. Stateless tickets for
    // TLS 1.3 and 1.2, plus a session-ID cache for 1.2 clients without ticket support.
    cfg.ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a handshake in memory and reports whether it resumed a session.
    fn handshake(server: &Arc<rustls::ServerConfig>, client: &Arc<rustls::ClientConfig>) -> bool {
        handshake_suite(server, client).0
    }

    /// Runs a handshake in memory: whether it resumed, and the suite agreed.
    fn handshake_suite(
        server: &Arc<rustls::ServerConfig>,
        client: &Arc<rustls::ClientConfig>,
    ) -> (bool, rustls::CipherSuite) {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut c = rustls::ClientConnection::new(client.clone(), name).unwrap();
        let mut s = rustls::ServerConnection::new(server.clone()).unwrap();
        let mut buf = Vec::new();
        for _ in 0..10 {
            buf.clear();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            s.read_tls(&mut buf.as_slice()).unwrap();
            s.process_new_packets().unwrap();
            buf.clear();
            while s.wants_write() {
                s.write_tls(&mut buf).unwrap();
            }
            c.read_tls(&mut buf.as_slice()).unwrap();
            c.process_new_packets().unwrap();
        }
        assert!(!c.is_handshaking());
        let suite = c.negotiated_cipher_suite().map(|s| s.suite());
        (
            c.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            suite.unwrap_or(rustls::CipherSuite::Unknown(0)),
        )
    }

    fn client_trusting(
        ca: &Path,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(ca).unwrap();
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(c.unwrap()).unwrap();
        }
        // rustls' own client order puts AES-256/SHA-384 first, as OpenSSL's does.
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
        )
    }

    #[test]
    fn aes_128_gcm_sha256_is_chosen_over_the_clients_preference() {
        let dir = tempfile::tempdir().unwrap();
        let ss = ensure_self_signed(dir.path(), &[]).unwrap();
        let server = server_config(&ss.server_cert, &ss.server_key).unwrap();
        let client13 = client_trusting(&ss.ca_cert, &rustls::version::TLS13);
        assert_eq!(
            client13.crypto_provider().cipher_suites[0].suite(),
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
        );
        assert_eq!(
            handshake_suite(&server, &client13).1,
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        );
        let client12 = client_trusting(&ss.ca_cert, &rustls::version::TLS12);
        assert_eq!(
            handshake_suite(&server, &client12).1,
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        );
    }

    #[test]
    fn new_connections_resume_their_tls_session() {
        let dir = tempfile::tempdir().unwrap();
        let ss = ensure_self_signed(dir.path(), &[]).unwrap();
        let server = server_config(&ss.server_cert, &ss.server_key).unwrap();
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let client = client_trusting(&ss.ca_cert, version);
            assert!(!handshake(&server, &client), "first handshake is full");
            assert!(
                handshake(&server, &client),
                "second one resumes ({version:?})"
            );
        }
    }
}
