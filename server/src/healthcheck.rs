//! `signet-server healthcheck`: asks a running server's `/_notary_server/health` over its
//! own TLS (verified against the CA in the data directory, or one given), for container
//! health checks and service monitors that have no HTTP client of their own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum HealthError {
    #[error("connecting to {0}: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("{0}: {1}")]
    Ca(String, String),
    #[error("{0}: {1}")]
    Exchange(SocketAddr, String),
    #[error("{addr} answered {status}")]
    Unhealthy { addr: SocketAddr, status: String },
}

/// The address to ask: a wildcard listen address is reached on loopback.
pub fn probe_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// GETs the health route; `ca` is the PEM CA to verify the server with, `None` for plain
/// HTTP. Returns the status line of a healthy answer.
pub fn check(
    addr: SocketAddr,
    ca: Option<&Path>,
    timeout: Duration,
) -> Result<String, HealthError> {
    let tcp =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| HealthError::Connect(addr, e))?;
    let exchange = |e: std::io::Error| HealthError::Exchange(addr, e.to_string());
    tcp.set_read_timeout(Some(timeout)).map_err(exchange)?;
    tcp.set_write_timeout(Some(timeout)).map_err(exchange)?;
    let request =
        format!("GET /_notary_server/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    match ca {
        None => {
            let mut tcp = tcp;
            tcp.write_all(request.as_bytes()).map_err(exchange)?;
            tcp.read_to_end(&mut response).map_err(exchange)?;
        }
        Some(ca) => {
            let ca_err = |why: String| HealthError::Ca(ca.display().to_string(), why);
            let pem = std::fs::read(ca).map_err(|e| ca_err(e.to_string()))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut pem.as_slice()) {
                let c = c.map_err(|e| ca_err(e.to_string()))?;
                roots.add(c).map_err(|e| ca_err(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(ca_err("no certificate in it".into()));
            }
            let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| ca_err(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let conn = rustls::ClientConnection::new(Arc::new(cfg), name)
                .map_err(|e| HealthError::Exchange(addr, e.to_string()))?;
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            tls.write_all(request.as_bytes()).map_err(exchange)?;
            // The server may close without close_notify; what arrived is enough.
            if let Err(e) = tls.read_to_end(&mut response) {
                if response.is_empty() {
                    return Err(exchange(e));
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&response);
    let status = text.lines().next().unwrap_or("").trim().to_string();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(status)
    } else {
        Err(HealthError::Unhealthy {
            addr,
            status: if status.is_empty() {
                "nothing".into()
            } else {
                status
            },
        })
    }
}
