//! A new TLS connection per request, the way docker's trust client (Go 1.24's crypto/tls,
//! no session cache) makes them: a full handshake every time, TLS 1.3 with AES-128-GCM, an
//! X25519 key share, `Accept-Encoding: gzip`. wrk cannot model this client: OpenSSL keeps its
//! session across `SSL_clear`, so wrk's "new connection" requests resume their TLS session.
//! With `resume` the same client keeps a session cache, like wrk, for comparison.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Checks the server's handshake signature but not its certificate chain: the load
/// generator shares the two cores with the server, so it does the client work that wrk
/// (OpenSSL with `SSL_VERIFY_NONE`) does, and no more.
#[derive(Debug)]
struct SignatureOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for SignatureOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Go's client preferences where a server can see them: AES-128-GCM first among the TLS 1.3
/// suites (Go's order on CPUs with AES instructions), X25519 as the key share (Go 1.24 also
/// offers X25519MLKEM768, which neither ring nor OpenSSL 3.0 servers take).
fn go_like_config(resume: bool) -> Arc<ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.sort_by_key(|s| {
        use rustls::CipherSuite::*;
        match s.suite() {
            TLS13_AES_128_GCM_SHA256 => 0,
            TLS13_AES_256_GCM_SHA384 => 1,
            _ => 2,
        }
    });
    let provider = Arc::new(provider);
    let mut cfg = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SignatureOnly(provider)))
        .with_no_client_auth();
    if !resume {
        cfg.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(cfg)
}

/// Requests made, failures, and their latencies in milliseconds.
pub struct Outcome {
    pub ok: u64,
    pub errors: u64,
    pub latencies_ms: Vec<f64>,
    pub seconds: f64,
}

/// `conns` clients, each making one request per TLS connection for `duration`, to a path
/// chosen by `path(random)`; `resume` lets them resume their TLS session.
pub fn run(
    url: &str,
    conns: u32,
    duration: u64,
    resume: bool,
    path: &(dyn Fn(u64) -> String + Sync),
) -> Outcome {
    let addr = url
        .strip_prefix("https://")
        .expect("an https URL")
        .trim_end_matches('/')
        .to_string();
    let cfg = go_like_config(resume);
    let stop = AtomicBool::new(false);
    let errors = AtomicU64::new(0);
    let lat: Mutex<Vec<f64>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..conns {
            let (cfg, addr, stop, errors, lat) = (cfg.clone(), &addr, &stop, &errors, &lat);
            s.spawn(move || {
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (u64::from(c) << 32 | 7);
                let mut mine = Vec::new();
                let mut buf = Vec::with_capacity(4096);
                while !stop.load(Ordering::Relaxed) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let t0 = Instant::now();
                    match one_request(&cfg, addr, &path(rng), &mut buf) {
                        Ok(()) => mine.push(t0.elapsed().as_secs_f64() * 1000.0),
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                lat.lock().unwrap().extend(mine);
            });
        }
        std::thread::sleep(Duration::from_secs(duration));
        stop.store(true, Ordering::Relaxed);
    });
    let seconds = started.elapsed().as_secs_f64();
    let latencies_ms = lat.into_inner().unwrap();
    Outcome {
        ok: latencies_ms.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        latencies_ms,
        seconds,
    }
}

fn one_request(
    cfg: &Arc<ClientConfig>,
    addr: &str,
    path: &str,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from("localhost").expect("server name");
    let conn = ClientConnection::new(cfg.clone(), name).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: signet-bench (docker-like)\r\n\
         Accept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )?;
    tls.flush()?;
    buf.clear();
    // The server closes after the answer; one that ends without close_notify still answered.
    match tls.read_to_end(buf) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(e) => return Err(e),
    }
    if buf.starts_with(b"HTTP/1.1 200 ") {
        Ok(())
    } else {
        Err(std::io::Error::other("not a 200 answer"))
    }
}
