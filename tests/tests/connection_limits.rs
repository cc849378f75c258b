//! Connections that hold a slot without sending a request are closed after the configured
//! deadlines, and a normal client is served throughout.

use signet_interop::{https_agent, SignetServer};
use signet_server::http::listener::Limits;
use signet_server::http::HttpConfig;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const IDLE_TLS: usize = 200;
const SLOW_HEADERS: usize = 10;
const SILENT_TCP: usize = 20;
const DEADLINE: Duration = Duration::from_secs(2);

fn client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection with the handshake done and nothing sent.
fn open_tls(addr: SocketAddr, cfg: &Arc<rustls::ClientConfig>) -> Tls {
    let tcp = TcpStream::connect(addr).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(cfg.clone(), name).unwrap();
    let mut tcp2 = tcp.try_clone().unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp2).unwrap();
    }
    rustls::StreamOwned::new(conn, tcp)
}

/// Whether the server has closed the connection (EOF or reset), waiting up to `wait`.
fn closed(stream: &mut impl Read, tcp: &TcpStream, wait: Duration) -> bool {
    tcp.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn idle_and_slow_connections_are_dropped_while_a_normal_client_is_served() {
    let http = HttpConfig {
        connections: Limits {
            handshake_timeout: DEADLINE,
            header_read_timeout: DEADLINE,
            idle_timeout: DEADLINE,
            ..Limits::default()
        },
        ..HttpConfig::default()
    };
    let srv = SignetServer::start_with(tempfile::tempdir().unwrap(), http, vec![]);
    let agent = https_agent(&srv.ca_path);
    let ping = format!("{}/v2/", srv.url);
    let mut baseline = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(
            agent.get(&ping).call().unwrap().into_string().unwrap(),
            "{}"
        );
        baseline.push(t.elapsed());
    }
    let fds_before = open_descriptors();

    // A normal client polls throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (stop, agent, ping) = (stop.clone(), agent.clone(), ping.clone());
        std::thread::spawn(move || {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let body = agent.get(&ping).call().map(|r| r.into_string());
                assert!(
                    matches!(&body, Ok(Ok(b)) if b == "{}"),
                    "normal client refused: {body:?}"
                );
                latencies.push(t.elapsed());
                std::thread::sleep(Duration::from_millis(20));
            }
            latencies
        })
    };

    let cfg = client_config(&srv.ca_path);
    let mut idle: Vec<Tls> = (0..IDLE_TLS).map(|_| open_tls(srv.addr, &cfg)).collect();
    let silent: Vec<TcpStream> = (0..SILENT_TCP)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    let slow: Vec<_> = (0..SLOW_HEADERS)
        .map(|_| {
            let mut s = open_tls(srv.addr, &cfg);
            std::thread::spawn(move || {
                let request = b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
                let started = Instant::now();
                for b in request.iter() {
                    if s.write_all(&[*b]).and_then(|()| s.flush()).is_err() {
                        return started.elapsed();
                    }
                    std::thread::sleep(Duration::from_millis(250));
                    if started.elapsed() > DEADLINE * 5 {
                        break;
                    }
                }
                // The whole request went out: the server must not have answered it.
                let tcp = s.get_ref().try_clone().unwrap();
                let mut out = Vec::new();
                tcp.set_read_timeout(Some(DEADLINE)).unwrap();
                let _ = s.read_to_end(&mut out);
                assert!(
                    !String::from_utf8_lossy(&out).contains("200 OK"),
                    "a one-byte-a-second request was answered"
                );
                started.elapsed()
            })
        })
        .collect();

    // Everything idle is closed once the deadline has passed.
    std::thread::sleep(DEADLINE + Duration::from_millis(500));
    for (i, s) in idle.iter_mut().enumerate() {
        let tcp = s.get_ref().try_clone().unwrap();
        assert!(
            closed(s, &tcp, DEADLINE * 2),
            "idle TLS connection {i} still open"
        );
    }
    for (i, mut s) in silent.into_iter().enumerate() {
        let tcp = s.try_clone().unwrap();
        assert!(
            closed(&mut s, &tcp, DEADLINE * 2),
            "silent TCP connection {i} still open"
        );
    }
    for (i, t) in slow.into_iter().enumerate() {
        let took = t.join().unwrap();
        assert!(
            took < DEADLINE * 4,
            "slow-header connection {i} kept for {took:?}"
        );
    }
    drop(idle);
    stop.store(true, Ordering::Relaxed);
    let during = poller.join().unwrap();
    assert!(
        during.len() > 20,
        "the normal client made {} requests",
        during.len()
    );
    let (base, under_attack) = (median(baseline), median(during.clone()));
    let worst = during.iter().max().copied().unwrap_or_default();
    eprintln!(
        "normal client: median {base:?} before, {under_attack:?} during ({} requests, worst {worst:?})",
        during.len()
    );
    assert!(
        under_attack < base + Duration::from_millis(50),
        "median latency {under_attack:?} under attack vs {base:?} before"
    );
    assert!(worst < DEADLINE, "a normal request waited {worst:?}");
    // Descriptors come back.
    std::thread::sleep(Duration::from_millis(200));
    let fds_after = open_descriptors();
    assert!(
        fds_after <= fds_before + 8,
        "{fds_before} descriptors before, {fds_after} after"
    );
}

/// Reads one `GET /v2/` answer (`{}` with its Content-Length) off a keep-alive connection.
fn read_ping_answer(s: &mut Tls) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "connection closed mid-answer"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(String::from)
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    format!(
        "{}{}",
        head.lines().next().unwrap_or_default(),
        String::from_utf8_lossy(&body)
    )
}

/// The header deadline times one request head, not the connection: a keep-alive connection
/// that keeps sending requests for several header timeouts, or pauses between requests for
/// longer than one (but less than the idle timeout), is served on the same connection.
#[test]
fn the_header_deadline_times_each_head_not_the_connection() {
    const HEADER: Duration = Duration::from_millis(600);
    let http = HttpConfig {
        connections: Limits {
            header_read_timeout: HEADER,
            idle_timeout: Duration::from_secs(10),
            ..Limits::default()
        },
        ..HttpConfig::default()
    };
    let srv = SignetServer::start_with(tempfile::tempdir().unwrap(), http, vec![]);
    let mut s = open_tls(srv.addr, &client_config(&srv.ca_path));
    let request = b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let started = Instant::now();
    let mut answered = 0;
    // Requests back to back for four header timeouts.
    while started.elapsed() < HEADER * 4 {
        s.write_all(request).unwrap();
        assert_eq!(read_ping_answer(&mut s), "HTTP/1.1 200 OK{}");
        answered += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    // Then quiet for two header timeouts, twice.
    for _ in 0..2 {
        std::thread::sleep(HEADER * 2);
        s.write_all(request).unwrap();
        assert_eq!(read_ping_answer(&mut s), "HTTP/1.1 200 OK{}");
        answered += 1;
    }
    assert!(answered > 10, "{answered} answers");
    // A head that stalls half-way is still cut off, on this same connection.
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: 1").unwrap();
    let t = Instant::now();
    let tcp = s.get_ref().try_clone().unwrap();
    assert!(closed(&mut s, &tcp, HEADER * 4), "a stalled head was kept");
    assert!(
        t.elapsed() >= HEADER / 2 && t.elapsed() < HEADER * 3,
        "stalled head closed after {:?}",
        t.elapsed()
    );
}
