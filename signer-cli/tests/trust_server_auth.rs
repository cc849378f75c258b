//! `signet` against the reference notary-server with token auth switched on: the 401
//! challenge is answered with a token obtained with docker's credentials for the registry,
//! asking for `pull` to read and `push,pull` to publish.

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;
use signet_interop::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

const REPO: &str = "192.0.2.1:5000/locked";
const DIGEST: &str = "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
const ISSUER: &str = "signet-test-issuer";
const SERVICE: &str = "notary-server";

/// One request the token service saw: its query string and whether the right password came.
#[derive(Debug, Clone)]
struct TokenRequest {
    query: String,
    authenticated: bool,
}

/// A token service on loopback that hands out ES256 JWTs (x5c = its self-signed cert) for
/// whatever scope is asked, to alice with the right password only.
struct TokenService {
    realm: String,
    bundle: std::path::PathBuf,
    seen: Arc<Mutex<Vec<TokenRequest>>>,
    _dir: tempfile::TempDir,
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
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TokenService {
    fn start() -> TokenService {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "token signer");
        let cert = params.self_signed(&key).unwrap();
        let bundle = dir.path().join("token-ca.pem");
        std::fs::write(&bundle, cert.pem()).unwrap();
        let signing = p256::ecdsa::SigningKey::from_pkcs8_der(&key.serialize_der()).unwrap();
        let x5c = B64.encode(cert.der());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut auth = String::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("authorization") {
                            auth = v.trim().to_string();
                        }
                    }
                }
                let query = target
                    .split_once('?')
                    .map(|x| x.1)
                    .unwrap_or("")
                    .to_string();
                let ok = auth == format!("Basic {}", B64.encode("alice:wonderland"));
                log.lock().unwrap().push(TokenRequest {
                    query: percent_decode(&query),
                    authenticated: ok,
                });
                let (status, body) = if ok {
                    let scope = percent_decode(&query)
                        .split('&')
                        .find_map(|p| p.strip_prefix("scope=").map(str::to_string))
                        .unwrap_or_default();
                    // repository:<name, may hold a port>:<actions>
                    let (name, actions) = scope
                        .strip_prefix("repository:")
                        .and_then(|r| r.rsplit_once(':'))
                        .unwrap_or(("", ""));
                    let actions: Vec<&str> = actions.split(',').collect();
                    let now = time::OffsetDateTime::now_utc().unix_timestamp();
                    let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "x5c": [x5c]});
                    let claims = serde_json::json!({
                        "iss": ISSUER, "sub": "alice", "aud": SERVICE,
                        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}{}", log.lock().unwrap().len()),
                        "access": [{"type": "repository", "name": name, "actions": actions}],
                    });
                    let input = format!(
                        "{}.{}",
                        B64URL.encode(header.to_string()),
                        B64URL.encode(claims.to_string())
                    );
                    let sig: p256::ecdsa::Signature = signing.sign(input.as_bytes());
                    let jwt = format!("{input}.{}", B64URL.encode(sig.to_bytes()));
                    ("200 OK", serde_json::json!({"token": jwt}).to_string())
                } else {
                    ("401 Unauthorized", "{}".to_string())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenService {
            realm,
            bundle,
            seen,
            _dir: dir,
        }
    }
}

/// notary-server (memory storage, notary-signer over mutual TLS) with token auth.
struct LockedNotary {
    url: String,
    ca_path: std::path::PathBuf,
    _server: Proc,
    _signer: Proc,
    _ca: TestCa,
}

fn start_locked_notary(tokens: &TokenService) -> LockedNotary {
    let ca = TestCa::new(&[]);
    let d = ca.dir.path();
    let signer_port = free_port();
    let port = free_port();
    let signer_cfg = serde_json::json!({
        "server": {"grpc_addr": format!("127.0.0.1:{signer_port}"),
                   "tls_cert_file": ca.cert, "tls_key_file": ca.key, "client_ca_file": ca.ca_cert},
        "logging": {"level": "info"},
        "storage": {"backend": "memory"}
    });
    let server_cfg = serde_json::json!({
        "server": {"http_addr": format!("127.0.0.1:{port}"), "tls_cert_file": ca.cert, "tls_key_file": ca.key},
        "trust_service": {"type": "remote", "hostname": "127.0.0.1", "port": signer_port.to_string(),
                          "tls_ca_file": ca.ca_cert, "key_algorithm": "ecdsa",
                          "tls_client_cert": ca.cert, "tls_client_key": ca.key},
        "auth": {"type": "token", "options": {"realm": tokens.realm, "service": SERVICE,
                 "issuer": ISSUER, "rootcertbundle": tokens.bundle}},
        "logging": {"level": "info"},
        "storage": {"backend": "memory"}
    });
    std::fs::write(d.join("signer.json"), signer_cfg.to_string()).unwrap();
    std::fs::write(d.join("server.json"), server_cfg.to_string()).unwrap();
    let signer = Proc::spawn(
        "notary-signer",
        Command::new("notary-signer")
            .arg("-config")
            .arg(d.join("signer.json")),
        d.join("signer.log"),
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let server = Proc::spawn(
        "notary-server",
        Command::new("notary-server")
            .arg("-config")
            .arg(d.join("server.json")),
        d.join("server.log"),
    );
    let url = format!("https://127.0.0.1:{port}");
    wait_healthy(
        &https_agent(&ca.ca_cert),
        &format!("{url}/_notary_server/health"),
        &[&server, &signer],
    );
    LockedNotary {
        url,
        ca_path: ca.ca_cert.clone(),
        _server: server,
        _signer: signer,
        _ca: ca,
    }
}

fn signet(docker: &DockerCli, args: &[&str]) -> Run {
    let mut c = docker.command();
    c.env_remove("DOCKER_HOST");
    let mut s = Command::new(env!("CARGO_BIN_EXE_signet"));
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            s.env(k, v);
        }
    }
    let o = s
        .stdin(std::process::Stdio::null())
        .args(args)
        .output()
        .unwrap();
    Run {
        status: o.status,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn signs_and_verifies_through_token_auth_with_docker_credentials() {
    if !require_binaries(&["notary-server", "notary-signer"]) {
        return;
    }
    let tokens = TokenService::start();
    let ns = start_locked_notary(&tokens);
    let docker = DockerCli::new(&ns.url, Some(&ns.ca_path));

    // The server really is locked.
    let (status, _) = signet_interop::upload::get(
        &https_agent(&ns.ca_path),
        &format!("{}/v2/{REPO}/_trust/tuf/root.json", ns.url),
    );
    assert_eq!(status, 401);

    // Without credentials for the registry: one line saying so.
    let r = signet(
        &docker,
        &[
            "sign",
            &format!("{REPO}:v1"),
            "--digest",
            DIGEST,
            "--size",
            "3",
        ],
    );
    assert_eq!(r.status.code(), Some(1), "{} {}", r.stdout, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("refused the credentials") || r.stderr.contains("docker login"),
        "{}",
        r.stderr
    );

    // docker login's record for the registry host of the GUN.
    std::fs::write(
        docker.config_dir.path().join("config.json"),
        serde_json::json!({"auths": {"192.0.2.1:5000": {"auth": B64.encode("alice:wonderland")}}})
            .to_string(),
    )
    .unwrap();
    let sign = signet(
        &docker,
        &[
            "--json",
            "sign",
            &format!("{REPO}:v1"),
            "--digest",
            DIGEST,
            "--size",
            "3",
        ],
    );
    if !sign.status.success() {
        panic!(
            "sign through token auth: {}\n--- notary-server ---\n{}",
            sign.stderr,
            ns._server.log_tail()
        );
    }
    let v: serde_json::Value = serde_json::from_str(&sign.stdout).unwrap();
    assert_eq!(v["digest"], DIGEST);
    assert_eq!(v["initialized"], true);
    let verify = signet(&docker, &["verify", &format!("{REPO}:v1")]).ok("verify");
    assert_eq!(verify.stdout, format!("{DIGEST}\n"));

    let seen = tokens.seen.lock().unwrap().clone();
    let scopes: Vec<&str> = seen
        .iter()
        .filter(|t| t.authenticated)
        .filter_map(|t| t.query.split('&').find_map(|p| p.strip_prefix("scope=")))
        .collect();
    assert!(
        scopes.contains(&format!("repository:{REPO}:push,pull").as_str()),
        "{seen:?}"
    );
    assert!(
        scopes.contains(&format!("repository:{REPO}:pull").as_str()),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .filter(|t| t.authenticated)
            .all(|t| t.query.contains("service=notary-server") && t.query.contains("account=alice")),
        "{seen:?}"
    );
}

/// `signet` against Signet's own token service: an AcrImageSigner signs; an AcrPull identity
/// holding the same keys is refused by the server with one line naming the scope, and
/// still verifies.
#[test]
fn signs_through_signets_token_service_by_role() {
    use serde_json::json;
    use signet_interop::admin::AdminClient;
    let srv = SignetServer::start();
    let admin = AdminClient::new(&srv);
    admin.ok(
        "POST",
        "registries",
        json!({"name": "contoso", "loginServer": "192.0.2.1:5000", "sku": "Premium"}),
    );
    admin.ok(
        "PUT",
        "registries/contoso/content-trust",
        json!({"status": "enabled"}),
    );
    for (who, pw, role) in [
        ("alice", "alice-password", "AcrImageSigner"),
        ("bob", "bob-password", "AcrPull"),
    ] {
        admin.ok("POST", "identities", json!({"name": who, "password": pw}));
        admin.ok(
            "POST",
            "role-assignments",
            json!({"registry": "contoso", "identity": who, "role": role}),
        );
    }
    let repo = "192.0.2.1:5000/app";
    let alice = DockerCli::new(&srv.url, Some(&srv.ca_path));
    alice.login("192.0.2.1:5000", "alice", "alice-password");
    let r = signet(
        &alice,
        &[
            "sign",
            &format!("{repo}:1.0"),
            "--digest",
            DIGEST,
            "--size",
            "7",
        ],
    );
    assert!(r.status.success(), "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("Successfully signed {repo}:1.0")),
        "{}",
        r.stdout
    );

    // Same machine and keys, now logged in as bob: the server refuses him signing.
    let bob = alice;
    bob.login("192.0.2.1:5000", "bob", "bob-password");
    let r = signet(&bob, &["verify", &format!("{repo}:1.0")]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(r.stdout.trim(), DIGEST);
    let r = signet(
        &bob,
        &[
            "sign",
            &format!("{repo}:1.1"),
            "--digest",
            DIGEST,
            "--size",
            "7",
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    assert_eq!(
        r.stderr.trim(),
        format!(
            "signet: trust server {}: not authorized for repository:{repo}:push,pull",
            srv.url
        )
    );
}
