//! Checks of the harness pieces the token-service interop tests build on: a registry with
//! `auth: token`, dockerd trusting Signet's CA through `SSL_CERT_FILE`, `DockerCli::login`
//! and `NotaryCli::with_auth`.
//!
//! What dockerd verifies: a registry whose name resolves into 127.0.0.0/8 (or is given with
//! `--insecure-registry`) is insecure, and dockerd fetches its tokens through that
//! registry's transport, which skips certificate verification — so a realm on Signet is
//! reached with or without the CA. The CA matters for a secure registry, one on a
//! non-loopback address: there dockerd verifies against the system roots, which
//! `SSL_CERT_FILE` replaces.

use signet_interop::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

const SERVICE: &str = "signet-registry";
const ISSUER: &str = "signet";
/// Signet's answer to a path it does not serve (its 404 `METADATA_NOT_FOUND` body).
const SIGNET_404: &str = "You have requested metadata that does not exist.";
const UNKNOWN_CA: &str = "x509: certificate signed by unknown authority";

fn token_auth(realm: &str, bundle: &std::path::Path) -> TokenAuth {
    TokenAuth {
        realm: realm.to_string(),
        service: SERVICE.to_string(),
        issuer: ISSUER.to_string(),
        root_cert_bundle: bundle.to_path_buf(),
    }
}

/// GET over plain HTTP: status, `WWW-Authenticate`, body.
fn http_get(url: &str) -> (u16, Option<String>, String) {
    let resp = match ureq::get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = resp.status();
    let challenge = resp.header("WWW-Authenticate").map(str::to_string);
    (status, challenge, resp.into_string().unwrap_or_default())
}

#[test]
fn registry_with_token_auth_challenges_with_signet_realm() {
    if !require_binaries(&["docker-registry"]) {
        return;
    }
    // Without auth the registry answers /v2/ (the shared start code is unchanged).
    let open = Registry::start();
    let (status, challenge, _) = http_get(&format!("http://127.0.0.1:{}/v2/", open.port));
    assert_eq!((status, challenge), (200, None));

    let srv = SignetServer::start();
    let realm = format!("https://127.0.0.1:{}/oauth2/token", srv.addr.port());
    let reg = Registry::start_with_token_auth(&token_auth(&realm, &srv.ca_path));
    let (status, challenge, body) = http_get(&format!("http://127.0.0.1:{}/v2/", reg.port));
    assert_eq!(status, 401, "{body}\n{}", reg.log_tail());
    assert_eq!(
        challenge.as_deref(),
        Some(format!(r#"Bearer realm="{realm}",service="{SERVICE}""#).as_str())
    );
    let errors: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
    assert_eq!(errors["errors"][0]["code"], "UNAUTHORIZED", "{body}");

    // A repository request names the scope a token needs.
    let (status, challenge, _) = http_get(&format!(
        "http://127.0.0.1:{}/v2/team/app/manifests/v1",
        reg.port
    ));
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(
            format!(
                r#"Bearer realm="{realm}",service="{SERVICE}",scope="repository:team/app:pull""#
            )
            .as_str()
        )
    );
}

/// One request a [`Capture`] server saw.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: String,
    authorization: Option<String>,
}

/// A plain-HTTP stand-in for a token-auth server: `/token…` answers 404, anything else 401
/// with a Bearer challenge whose realm is its own `/token`. Records every request.
struct Capture {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Capture {
    fn start() -> Capture {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = Vec::new();
                if reader.read_until(b'\n', &mut line).is_err() {
                    continue;
                }
                let line = String::from_utf8_lossy(&line).into_owned();
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut authorization = None;
                loop {
                    let mut h = Vec::new();
                    if reader.read_until(b'\n', &mut h).unwrap_or(0) == 0 {
                        break;
                    }
                    let h = String::from_utf8_lossy(&h);
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("authorization") {
                            authorization = Some(v.trim().to_string());
                        }
                    }
                }
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let (path, query) = (path.to_string(), percent_decode(query));
                let is_token = path.starts_with("/token");
                log.lock().unwrap().push(Seen {
                    path,
                    query,
                    authorization,
                });
                let (status, extra, body) = if is_token {
                    (
                        "404 Not Found",
                        String::new(),
                        r#"{"errors":[{"code":"NOT_FOUND","message":"capture has no tokens"}]}"#,
                    )
                } else {
                    (
                        "401 Unauthorized",
                        format!(
                            "WWW-Authenticate: Bearer realm=\"http://{addr}/token\",service=\"capture\"\r\n"
                        ),
                        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                    )
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Capture { addr, seen }
    }

    fn token_requests(&self) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.path.starts_with("/token"))
            .cloned()
            .collect()
    }
}

/// This host's non-loopback IPv4 address (the source of its default route), if any.
fn host_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("198.51.100.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Forwards TCP connections from `ip:<free port>` to `to` (TLS passes through untouched).
fn forward(ip: IpAddr, to: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).expect("bind forwarder");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(upstream) = TcpStream::connect(to) else {
                continue;
            };
            let pipe = |mut a: TcpStream, mut b: TcpStream| {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = a.read(&mut buf) {
                        if n == 0 || b.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = b.shutdown(std::net::Shutdown::Write);
                });
            };
            pipe(
                client.try_clone().expect("clone"),
                upstream.try_clone().expect("clone"),
            );
            pipe(upstream, client);
        }
    });
    addr
}

fn pull(cli: &DockerCli, daemon: &Dockerd, reference: &str) -> Run {
    let out = cli
        .command()
        .env("DOCKER_HOST", &daemon.host)
        .env("DOCKER_CONTENT_TRUST", "0")
        .args(["pull", reference])
        .output()
        .expect("docker pull");
    let run = Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.status.success(), "pull {reference} succeeded?");
    run
}

#[test]
fn dockerd_trusts_signet_ca_with_ssl_cert_file_and_sends_login_to_realm() {
    if !require_binaries(&["dockerd", "docker-registry", "unshare", "docker"]) {
        return;
    }
    let ip = host_ip();
    if ip.is_none() {
        eprintln!("note: no non-loopback address; the secure-registry check is skipped");
    }
    let names = ip.iter().map(|ip| ip.to_string()).collect();
    let srv = SignetServer::start_with(
        tempfile::tempdir().expect("tempdir"),
        Default::default(),
        names,
    );
    // A realm path Signet never serves, so its answer stays a 404 whatever token routes it
    // gains: reaching it proves dockerd's TLS connection to Signet succeeded.
    let realm = format!(
        "https://127.0.0.1:{}/harness-unrouted/token",
        srv.addr.port()
    );
    let signet_realm = Registry::start_with_token_auth(&token_auth(&realm, &srv.ca_path));
    let capture = Capture::start();
    let capture_realm = Registry::start_with_token_auth(&token_auth(
        &format!("http://{}/token", capture.addr),
        &srv.ca_path,
    ));
    let trusting = Dockerd::start_trusting(signet_realm.port, Some(&srv.ca_path));
    let plain = Dockerd::start(signet_realm.port);
    let cli = DockerCli::new(&srv.url, None);

    // Token realm on Signet behind an insecure (loopback) registry: reached either way.
    let via_registry = format!("{REGISTRY_NAME}:{}/x:1", signet_realm.port);
    for daemon in [&trusting, &plain] {
        let out = pull(&cli, daemon, &via_registry);
        assert!(
            out.stderr.contains(SIGNET_404) && !out.stderr.contains("x509"),
            "{}\n--- dockerd ---\n{}",
            out.stderr,
            daemon.log_tail()
        );
    }

    // Signet as a secure registry on a non-loopback address: verified against the system
    // roots, so only the daemon with SSL_CERT_FILE gets past TLS (to Signet's 404).
    if let Some(ip) = ip {
        let fwd = forward(ip, srv.addr);
        let secure = format!("{fwd}/x:1");
        let out = pull(&cli, &trusting, &secure);
        assert!(
            out.stderr.contains(SIGNET_404) && !out.stderr.contains("x509"),
            "{}\n--- dockerd ---\n{}",
            out.stderr,
            trusting.log_tail()
        );
        let out = pull(&cli, &plain, &secure);
        assert!(out.stderr.contains(UNKNOWN_CA), "{}", out.stderr);
    }

    // DockerCli::login: the CLI hands the stored credentials to dockerd, which sends them
    // as basic auth to the registry's token realm.
    let host = format!("{REGISTRY_NAME}:{}", capture_realm.port);
    cli.login(&host, "alice", "s3cret pass");
    let out = pull(&cli, &trusting, &format!("{host}/team/app:1"));
    assert!(
        out.stderr.contains("capture has no tokens"),
        "{}",
        out.stderr
    );
    let requests = capture.token_requests();
    assert!(!requests.is_empty(), "no token request: {}", out.stderr);
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Basic {}", basic_auth("alice", "s3cret pass")).as_str()),
            "{r:?}"
        );
        assert!(r.query.contains("scope=repository:team/app:pull"), "{r:?}");
        assert!(r.query.contains(&format!("service={SERVICE}")), "{r:?}");
    }
}

#[test]
fn docker_login_merges_into_config_json() {
    let cli = DockerCli::new("https://127.0.0.1:1", None);
    let path = cli.config_dir.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"psFormat":"table {{.ID}}","auths":{"other:5000":{"auth":"b3RoZXI6cHc="}}}"#,
    )
    .unwrap();
    cli.login("registry.test:5000", "bob", "first");
    cli.login("registry.test:5000", "alice", "pa:ss");
    cli.login("127.0.0.1:4443", "carol", "pw");
    let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        cfg,
        serde_json::json!({
            "psFormat": "table {{.ID}}",
            "auths": {
                "other:5000": {"auth": "b3RoZXI6cHc="},
                "registry.test:5000": {"auth": "YWxpY2U6cGE6c3M="},
                "127.0.0.1:4443": {"auth": "Y2Fyb2w6cHc="},
            }
        })
    );
    // Without a config.json, login creates one.
    let fresh = DockerCli::new("https://127.0.0.1:1", None);
    fresh.login("h:1", "u", "p");
    let cfg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fresh.config_dir.path().join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg, serde_json::json!({"auths": {"h:1": {"auth": "dTpw"}}}));
}

#[test]
fn notary_with_auth_sends_basic_credentials_to_the_token_realm() {
    let ca = TestCa::new(&[]);
    let plain = NotaryCli::new("https://127.0.0.1:1", &ca.ca_cert);
    let envs = |c: &NotaryCli| -> Vec<(String, String)> {
        c.command()
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
            .collect()
    };
    assert!(!envs(&plain).iter().any(|(k, _)| k == "NOTARY_AUTH"));
    let authed =
        NotaryCli::new("https://127.0.0.1:1", &ca.ca_cert).with_auth("alice", "s3cret pass");
    assert!(envs(&authed).contains(&("NOTARY_AUTH".into(), "YWxpY2U6czNjcmV0IHBhc3M=".into())));

    if !require_binaries(&["notary"]) {
        return;
    }
    // Against a token-auth stand-in, `notary init` (read-write) fetches a token with
    // basic auth from NOTARY_AUTH.
    let capture = Capture::start();
    let cli = NotaryCli::new(&format!("http://{}", capture.addr), &ca.ca_cert)
        .with_auth("alice", "s3cret pass");
    let out = cli.run(&["init", "example.com/app"]);
    assert!(!out.status.success(), "{}", out.stdout);
    let requests = capture.token_requests();
    assert!(
        !requests.is_empty(),
        "no token request:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Basic {}", basic_auth("alice", "s3cret pass")).as_str()),
            "{r:?}"
        );
        assert!(
            r.query.contains("scope=repository:example.com/app:"),
            "{r:?}"
        );
    }
}
