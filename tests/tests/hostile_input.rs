//! Hostile input against a real Signet over HTTPS: malformed HTTP, names, multipart bodies,
//! JSON, TUF semantics, tokens and the admin API. Every case asserts the status, the error
//! code (empty where the answer has no JSON envelope) and that no state changed: the
//! changefeed, the seeded repository's files and, on the server with registries, the admin
//! API's view of registries, identities and role assignments.
//!
//! Requests are written byte by byte over TLS so that nothing on the client side normalises
//! the path, the headers or the body on the way.

use serde_json::{json, Value};
use signet_interop::admin::AdminClient;
use signet_interop::upload::{self, RepoKeys};
use signet_interop::{basic_auth, https_agent, SignetServer};
use signet_keys::{PrivateKey, PublicKey};
use signet_tuf::{FileMeta, GoTime, Root, Snapshot, Targets};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

const SEEDED: &str = "example.com/seeded";

/// GUNs no docker image reference can contain, as written in a request path.
const UNSTORABLE_GUNS: &[&str] = &[
    "example.com/a%20b",
    "example.com/a%22b",
    "example.com/a%22,%20realm=%22evil.test",
    "example.com/a'b",
    "example.com/a%3Cb%3E",
    "example.com/a;b",
    "example.com/a%00b",
    "example.com/a%1Bb",
    "example.com/a%5Cb",
    // Right-to-left override, zero-width space, left-to-right isolate, byte order mark.
    "example.com/a%E2%80%AEb",
    "example.com/a%E2%80%8Bb",
    "example.com/a%E2%81%A6b",
    "example.com/%EF%BB%BFa",
    "ex%E2%80%8Dample.com/a",
    "example.com/caf%C3%A9",
    "example.com/%EF%AC%81",
    "example.com/App",
    "example.com/a..b",
    "example.com/a._b",
    "example.com/-a",
    "example.com/a_",
    "example.com:x/a",
    "-example.com/a",
    "example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

/// GUNs with empty or dot segments. notary-server's router (gorilla/mux) answers these with a
/// 301 to the cleaned path, i.e. to another repository; Signet treats them as the names they
/// are, which cannot exist.
const DOT_SEGMENT_GUNS: &[&str] = &[
    "example.com//a",
    "example.com/./a",
    "example.com/a/../b",
    "example.com/%2E%2E/seeded",
    "example.com/a/",
];

/// `%XX` escapes decoded, as the server decodes the path.
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            s.get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
const BOUNDARY: &str = "hostileboundary42";

/// A TLS client that sends requests exactly as given.
struct Raw {
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error code: the notary/registry envelope's `errors[0].code` or the admin API's
    /// `error.code`; empty when the body is not such an envelope.
    fn code(&self) -> String {
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        v["errors"][0]["code"]
            .as_str()
            .or(v["error"]["code"].as_str())
            .unwrap_or("")
            .to_string()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(400)]).into_owned()
    }
}

impl Raw {
    fn new(server: &SignetServer) -> Raw {
        Raw::to(server.addr, &server.ca_path)
    }

    fn to(addr: SocketAddr, ca_path: &std::path::Path) -> Raw {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(ca_path).expect("CA");
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(c.expect("CA pem")).expect("add CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("tls versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Raw {
            addr,
            tls: Arc::new(cfg),
        }
    }

    fn send(&self, request: &[u8]) -> Reply {
        let tcp = TcpStream::connect(self.addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).ok();
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(self.tls.clone(), name).expect("tls");
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        // The server may answer and close before reading everything (e.g. 413): a write
        // error then is not the test's concern, the answer is.
        let _ = stream.write_all(request);
        let _ = stream.flush();
        let mut raw = Vec::new();
        let mut buf = [0u8; 16384];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        parse_reply(&raw)
    }

    fn get(&self, path: &str) -> Reply {
        self.send(&request("GET", path, &[], b""))
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Reply {
            status: 0,
            headers: vec![],
            body: raw.to_vec(),
        };
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = body.as_slice();
        while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..i])
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim(),
                16,
            )
            .unwrap_or(0);
            if size == 0 || rest.len() < i + 2 + size {
                break;
            }
            out.extend_from_slice(&rest[i + 2..i + 2 + size]);
            rest = &rest[(i + 4 + size).min(rest.len())..];
        }
        body = out;
    }
    Reply {
        status,
        headers,
        body,
    }
}

/// A request with `Host`, `Content-Length` (when there is a body or it is a POST/PUT/PATCH)
/// and `Connection: close`; `headers` come first and may replace none of them.
fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("Connection: close\r\n\r\n");
    let mut out = r.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A multipart body from (Content-Disposition parameters, content) pairs.
fn multipart(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (disposition, data) in parts {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn file(role: &str) -> String {
    format!("name=\"files\"; filename=\"{role}\"")
}

/// A publish to `gun` of one part per (role, content).
fn publish(gun: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
    let dispositions: Vec<String> = parts.iter().map(|(r, _)| file(r)).collect();
    let parts: Vec<(&str, &[u8])> = dispositions
        .iter()
        .zip(parts)
        .map(|(d, (_, b))| (d.as_str(), *b))
        .collect();
    publish_body(gun, &multipart(&parts))
}

fn publish_body(gun: &str, body: &[u8]) -> Vec<u8> {
    request(
        "POST",
        &format!("/v2/{gun}/_trust/tuf/"),
        &[(
            "Content-Type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )],
        body,
    )
}

struct Case {
    name: String,
    request: Vec<u8>,
    status: u16,
    code: &'static str,
    /// `detail.Name` of a validation error, when the case names one.
    detail: Option<&'static str>,
}

fn case(name: impl Into<String>, request: Vec<u8>, status: u16, code: &'static str) -> Case {
    Case {
        name: name.into(),
        request,
        status,
        code,
        detail: None,
    }
}

fn invalid(name: impl Into<String>, request: Vec<u8>, detail: &'static str) -> Case {
    Case {
        name: name.into(),
        request,
        status: 400,
        code: "INVALID_UPDATE",
        detail: Some(detail),
    }
}

/// Runs every case, checking the answer and that `state` reads the same before and after.
fn run(raw: &Raw, cases: Vec<Case>, state: &dyn Fn() -> Vec<Vec<u8>>) -> usize {
    let before = state();
    let mut failures = Vec::new();
    for c in &cases {
        let reply = raw.send(&c.request);
        let detail = serde_json::from_slice::<Value>(&reply.body)
            .ok()
            .and_then(|v| {
                v["errors"][0]["detail"]["Name"]
                    .as_str()
                    .map(str::to_string)
            });
        // An error with a code is a JSON envelope, and says so.
        let json_typed = reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"));
        if reply.status != c.status
            || reply.code() != c.code
            || (!c.code.is_empty() && !json_typed)
            || (c.detail.is_some() && detail.as_deref() != c.detail)
        {
            failures.push(format!(
                "{}: expected {} {} {:?}, got {} {:?} {}",
                c.name,
                c.status,
                c.code,
                c.detail,
                reply.status,
                reply.code(),
                reply.text()
            ));
            continue;
        }
        if state() != before {
            failures.push(format!("{}: state changed", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

/// The changefeed and the seeded repository's current files, as read over HTTPS.
fn trust_state(raw: &Raw) -> Vec<Vec<u8>> {
    let mut out = vec![
        raw.get("/v2/_trust/changefeed?change_id=0&records=1000")
            .body,
    ];
    for role in [
        "root",
        "targets",
        "snapshot",
        "timestamp",
        "targets/releases",
    ] {
        let r = raw.get(&format!("/v2/{SEEDED}/_trust/tuf/{role}.json"));
        out.push(format!("{} ", r.status).into_bytes());
        out.push(r.body);
    }
    out
}

fn future(days: i64) -> GoTime {
    GoTime::from_instant(OffsetDateTime::now_utc() + time::Duration::days(days))
}

/// The seeded repository: root v1 with a `targets/releases` delegation, targets v2.
struct Seeded {
    keys: RepoKeys,
    timestamp: PublicKey,
    snapshot: PublicKey,
    releases: PrivateKey,
    stored_root: Vec<u8>,
}

impl Seeded {
    fn signed_targets(&self, t: &Targets, key: &PrivateKey) -> Vec<u8> {
        let id = key.id();
        signet_tuf::sign_and_serialize("targets", t, &[(&id, key)]).expect("sign")
    }

    fn targets_with(&self, version: i64, edit: impl FnOnce(&mut Targets)) -> Vec<u8> {
        let mut t = self.base_targets(version);
        edit(&mut t);
        self.signed_targets(&t, &self.keys.targets)
    }

    fn base_targets(&self, version: i64) -> Targets {
        let mut t = Targets::new(future(365));
        t.version = version;
        t.targets
            .get_or_insert_with(Default::default)
            .insert("v1".into(), FileMeta::from_bytes(b"image one"));
        t.add_delegation_keys(
            "targets/releases",
            vec![self.releases.public_key()],
            vec![String::new()],
        );
        t
    }

    fn root_with(&self, version: i64, edit: impl FnOnce(&mut Root)) -> Vec<u8> {
        let mut r = Root::new(future(3650));
        r.version = version;
        r.set_role_keys("root", vec![self.keys.root_cert.clone()], 1);
        r.set_role_keys("targets", vec![self.keys.targets.public_key()], 1);
        r.set_role_keys("snapshot", vec![self.snapshot.clone()], 1);
        r.set_role_keys("timestamp", vec![self.timestamp.clone()], 1);
        edit(&mut r);
        let id = self.keys.root_cert.id();
        signet_tuf::sign_and_serialize("root", &r, &[(&id, &self.keys.root)]).expect("sign root")
    }
}

fn seed(server: &SignetServer) -> Seeded {
    let agent = https_agent(&server.ca_path);
    let timestamp = upload::server_key(&agent, &server.url, SEEDED, "timestamp");
    let snapshot = upload::server_key(&agent, &server.url, SEEDED, "snapshot");
    let seeded = Seeded {
        keys: RepoKeys::new(SEEDED),
        timestamp,
        snapshot,
        releases: PrivateKey::generate_ecdsa(),
        stored_root: Vec::new(),
    };
    let root = seeded.root_with(1, |_| {});
    let (s, body) = upload::post_update(
        &agent,
        &server.url,
        SEEDED,
        &[
            ("root", &root),
            ("targets", &seeded.targets_with(1, |_| {})),
        ],
    );
    assert_eq!(s, 200, "{body}");
    let (s, body) = upload::post_update(
        &agent,
        &server.url,
        SEEDED,
        &[("targets", &seeded.targets_with(2, |_| {}))],
    );
    assert_eq!(s, 200, "{body}");
    Seeded {
        stored_root: root,
        ..seeded
    }
}

/// Bodies that are not the envelope notary-server decodes, or repeat a key.
fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let sig = r#"[{"keyid":"ab","method":"ecdsa","sig":"AAEC"}]"#;
    let signed = r#"{"_type":"Targets","expires":"2030-01-01T00:00:00Z","version":3,"targets":{}}"#;
    let mut v: Vec<(&'static str, String)> = vec![
        ("empty", String::new()),
        ("truncated", "{\"signed\":".into()),
        ("bare word", "hello".into()),
        ("list", "[]".into()),
        ("string", "\"x\"".into()),
        ("number", "7".into()),
        ("boolean", "true".into()),
        ("two documents", "{}{}".into()),
        ("trailing garbage", format!("{{\"signed\":{signed}}} x")),
        ("signed a list", "{\"signed\":[]}".into()),
        ("signed a string", "{\"signed\":\"x\"}".into()),
        ("signed a number", "{\"signed\":1}".into()),
        ("_type a number", "{\"signed\":{\"_type\":1}}".into()),
        ("_type a list", "{\"signed\":{\"_type\":[]}}".into()),
        ("version a string", "{\"signed\":{\"version\":\"3\"}}".into()),
        ("version a fraction", "{\"signed\":{\"version\":3.5}}".into()),
        ("version an exponent", "{\"signed\":{\"version\":3e0}}".into()),
        (
            "version beyond 64 bits",
            "{\"signed\":{\"version\":18446744073709551616}}".into(),
        ),
        ("version an object", "{\"signed\":{\"version\":{}}}".into()),
        ("expires not a time", "{\"signed\":{\"expires\":\"tomorrow\"}}".into()),
        ("expires a number", "{\"signed\":{\"expires\":5}}".into()),
        (
            "expires month 13",
            "{\"signed\":{\"expires\":\"2030-13-01T00:00:00Z\"}}".into(),
        ),
        ("signatures an object", format!("{{\"signed\":{signed},\"signatures\":{{}}}}")),
        ("signatures a string", format!("{{\"signed\":{signed},\"signatures\":\"abc\"}}")),
        ("signature a number", format!("{{\"signed\":{signed},\"signatures\":[1]}}")),
        ("signature a list", format!("{{\"signed\":{signed},\"signatures\":[[]]}}")),
        ("keyid a number", format!("{{\"signed\":{signed},\"signatures\":[{{\"keyid\":7}}]}}")),
        ("method a list", format!("{{\"signed\":{signed},\"signatures\":[{{\"method\":[]}}]}}")),
        (
            "sig not base64",
            format!("{{\"signed\":{signed},\"signatures\":[{{\"sig\":\"not base64!\"}}]}}"),
        ),
        ("sig a number", format!("{{\"signed\":{signed},\"signatures\":[{{\"sig\":12}}]}}")),
        (
            "repeated signed",
            format!("{{\"signed\":{signed},\"signed\":{signed},\"signatures\":{sig}}}"),
        ),
        (
            "repeated signatures",
            format!("{{\"signed\":{signed},\"signatures\":{sig},\"signatures\":[]}}"),
        ),
        (
            "repeated version",
            format!("{{\"signed\":{{\"_type\":\"Targets\",\"version\":3,\"version\":9}},\"signatures\":{sig}}}"),
        ),
        (
            "repeated target",
            "{\"signed\":{\"targets\":{\"app\":{\"length\":1},\"app\":{\"length\":2}}}}".into(),
        ),
        (
            "repeated key in a signature",
            format!("{{\"signed\":{signed},\"signatures\":[{{\"keyid\":\"a\",\"keyid\":\"b\"}}]}}"),
        ),
        (
            "repeated key deep in custom data",
            "{\"signed\":{\"targets\":{\"a\":{\"custom\":{\"x\":[{\"y\":1,\"y\":2}]}}}}}".into(),
        ),
        (
            "repeated key spelled with an escape",
            "{\"signed\":{\"_type\":\"Targets\",\"\\u005ftype\":\"Root\"}}".into(),
        ),
    ];
    let mut out: Vec<(&'static str, Vec<u8>)> =
        v.drain(..).map(|(n, b)| (n, b.into_bytes())).collect();
    out.push((
        "not UTF-8",
        b"{\"signed\":{\"_type\":\"\xff\xfe\"}}".to_vec(),
    ));
    out.push((
        "UTF-16",
        "{}".encode_utf16().flat_map(u16::to_le_bytes).collect(),
    ));
    out
}

#[test]
fn hostile_requests_to_the_trust_routes_change_nothing() {
    let server = SignetServer::start();
    let raw = Raw::new(&server);
    let s = seed(&server);
    let state = || trust_state(&raw);
    let mut cases = Vec::new();

    // HTTP: methods, paths and framing. Unknown routes answer what notary-server's catch-all
    // route does.
    for (method, path, status, code) in [
        ("GET", "/", 404, "METADATA_NOT_FOUND"),
        ("GET", "/v2/_trust", 404, "METADATA_NOT_FOUND"),
        ("GET", "/nothing/here", 404, "METADATA_NOT_FOUND"),
        ("GET", "/v2/x/_trust/tuf", 404, "METADATA_NOT_FOUND"),
        (
            "GET",
            "/v2/example.com/seeded/_trust/tuf/",
            404,
            "METADATA_NOT_FOUND",
        ),
        (
            "PUT",
            "/v2/example.com/seeded/_trust/tuf/",
            404,
            "METADATA_NOT_FOUND",
        ),
        // Methods notary-server's router takes on no route: a bare 405.
        (
            "PATCH",
            "/v2/example.com/seeded/_trust/tuf/root.json",
            405,
            "",
        ),
        (
            "POST",
            "/v2/example.com/seeded/_trust/tuf/root.json",
            404,
            "METADATA_NOT_FOUND",
        ),
        (
            "DELETE",
            "/v2/example.com/seeded/_trust/tuf/root.json",
            404,
            "METADATA_NOT_FOUND",
        ),
        ("POST", "/v2/_trust/changefeed", 404, "METADATA_NOT_FOUND"),
        ("DELETE", "/v2/_trust/changefeed", 404, "METADATA_NOT_FOUND"),
        (
            "OPTIONS",
            "/v2/example.com/seeded/_trust/tuf/root.json",
            405,
            "",
        ),
        ("TRACE", "/v2/", 405, ""),
        ("PATCH", "/nothing/here", 405, ""),
        ("OPTIONS", "/metrics", 405, ""),
        ("POST", "/_notary_server/health", 404, "METADATA_NOT_FOUND"),
    ] {
        cases.push(case(
            format!("http: {method} {path}"),
            request(method, path, &[], b""),
            status,
            code,
        ));
    }
    for (name, bytes, status) in [
        ("garbage request line", b"HELLO\r\n\r\n".to_vec(), 400),
        ("no method", b" / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (
            "unknown HTTP version",
            b"GET / HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "header without colon",
            b"GET /v2/ HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n".to_vec(),
            400,
        ),
        (
            "NUL in a header",
            b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n".to_vec(),
            400,
        ),
        (
            "space in the path",
            b"GET /v2/a b/_trust/tuf/root.json HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "content-length not a number",
            b"POST /v2/x/_trust/tuf/ HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n".to_vec(),
            400,
        ),
        (
            "two different content-lengths",
            b"POST /v2/x/_trust/tuf/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
            400,
        ),
        (
            "unknown transfer coding",
            b"POST /v2/x/_trust/tuf/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            400,
        ),
    ] {
        cases.push(case(format!("http: {name}"), bytes, status, ""));
    }
    // Chunked framing wins over a Content-Length (which is not trusted): an empty body.
    cases.push(case(
        "http: content-length and chunked",
        b"POST /v2/x/_trust/tuf/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
        400,
        "MALFORMED_UPLOAD",
    ));
    // The token realm is built from the Host: one, well formed, or nothing is done.
    for (name, bytes) in [
        (
            "no Host",
            b"GET /v2/ HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(),
        ),
        (
            "two Hosts",
            b"GET /v2/ HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n".to_vec(),
        ),
        (
            "a quote in the Host",
            b"GET /v2/ HTTP/1.1\r\nHost: evil\",realm=\"x\r\nConnection: close\r\n\r\n".to_vec(),
        ),
        (
            "a space in the Host",
            b"GET /v2/ HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n".to_vec(),
        ),
        (
            "a port out of range",
            b"GET /v2/ HTTP/1.1\r\nHost: a:70000\r\nConnection: close\r\n\r\n".to_vec(),
        ),
        (
            "a publish without Host",
            b"POST /v2/x/_trust/tuf/ HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_vec(),
        ),
    ] {
        cases.push(case(
            format!("http: {name}"),
            bytes,
            400,
            "INVALID_PARAMETERS",
        ));
    }
    let many_headers: Vec<(String, String)> =
        (0..200).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many_headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    cases.push(case(
        "http: 200 headers",
        request("GET", "/v2/", &many, b""),
        431,
        "",
    ));

    // Names: what no route matches, what the name rules refuse, what does not exist.
    let tuf = |gun: &str, file: &str| format!("/v2/{gun}/_trust/tuf/{file}");
    for file in [
        "foo.json",
        "root",
        "root.jsonx",
        "ROOT.json",
        "root.key",
        "targets.key",
        "targets/releases.key",
        "1.root",
        ".json",
        "-1.root.json",
        "1.foo.json",
        "root.abc.json",
        "root.0123456789abcdef.json",
        "targets/.json",
        "targets//x.json",
        "targets/a%20b.json",
        "..%2froot.json",
        "%zz.json",
    ] {
        cases.push(case(
            format!("names: GET {file}"),
            request("GET", &tuf(SEEDED, file), &[], b""),
            404,
            "METADATA_NOT_FOUND",
        ));
    }
    for file in [
        "0.root.json",
        "99.root.json",
        "99999999999999999999999.root.json",
        "3.targets.json",
        "1.targets/releases.json",
        "targets/releases.json",
        "targets/other.json",
        &format!("root.{}.json", "0".repeat(64)),
        &format!("snapshot.{}.json", "f".repeat(64)),
        &format!("timestamp.{}.json", "a".repeat(128)),
    ] {
        cases.push(case(
            format!("names: GET {file}"),
            request("GET", &tuf(SEEDED, file), &[], b""),
            404,
            "METADATA_NOT_FOUND",
        ));
    }
    for gun in ["example.com/never", "x", "a/b/c/d/e/f/g/h"] {
        for file in ["root.json", "targets.json", "timestamp.json", "1.root.json"] {
            cases.push(case(
                format!("names: GET {gun} {file}"),
                request("GET", &tuf(gun, file), &[], b""),
                404,
                "METADATA_NOT_FOUND",
            ));
        }
    }
    for path in [
        "/v2/*/_trust/tuf/root.json",
        "/v2/a*b/_trust/tuf/root.json",
        "/v2//_trust/tuf/root.json",
    ] {
        cases.push(case(
            format!("names: GET {path}"),
            request("GET", path, &[], b""),
            404,
            "METADATA_NOT_FOUND",
        ));
    }
    // Names no image reference can have: nothing can be stored under them, so reads find
    // nothing (as in notary-server) and whatever would store something is refused.
    for gun in UNSTORABLE_GUNS.iter().chain(DOT_SEGMENT_GUNS) {
        let checksum = format!("root.{}.json", "a".repeat(64));
        for file in ["root.json", "timestamp.json", "1.targets.json", &checksum] {
            cases.push(case(
                format!("names: GET {gun} {file}"),
                request("GET", &tuf(gun, file), &[], b""),
                404,
                "METADATA_NOT_FOUND",
            ));
        }
        for (method, file) in [("GET", "timestamp.key"), ("POST", "snapshot.key")] {
            cases.push(case(
                format!("names: {method} {gun} {file}"),
                request(method, &tuf(gun, file), &[], b""),
                400,
                "INVALID_GUN",
            ));
        }
        cases.push(case(
            format!("names: publish to {gun}"),
            publish(gun, &[("targets", &s.targets_with(1, |_| {}))]),
            400,
            "INVALID_GUN",
        ));
        cases.push(case(
            format!("names: DELETE {gun}"),
            request("DELETE", &tuf(gun, ""), &[], b""),
            400,
            "INVALID_GUN",
        ));
    }
    for (query, status, code) in [
        ("change_id=abc&records=10", 400, "INVALID_PARAMETERS"),
        ("change_id=0&records=abc", 400, "INVALID_PARAMETERS"),
        (
            "change_id=0&records=99999999999999999999",
            400,
            "INVALID_PARAMETERS",
        ),
    ] {
        cases.push(case(
            format!("names: changefeed {query}"),
            request("GET", &format!("/v2/_trust/changefeed?{query}"), &[], b""),
            status,
            code,
        ));
    }

    // Multipart framing.
    let ct = |v: &str| vec![("Content-Type", v.to_string())];
    let targets3 = s.targets_with(3, |_| {});
    let good_part = multipart(&[(&file("targets"), &targets3)]);
    for (name, content_type, body) in [
        ("no content type", None, good_part.clone()),
        (
            "JSON content type",
            Some("application/json".to_string()),
            good_part.clone(),
        ),
        (
            "multipart/mixed",
            Some(format!("multipart/mixed; boundary={BOUNDARY}")),
            good_part.clone(),
        ),
        (
            "no boundary",
            Some("multipart/form-data".to_string()),
            good_part.clone(),
        ),
        (
            "empty boundary",
            Some("multipart/form-data; boundary=".to_string()),
            good_part.clone(),
        ),
        (
            "boundary of 71 characters",
            Some(format!("multipart/form-data; boundary={}", "b".repeat(71))),
            good_part.clone(),
        ),
        (
            "boundary not in the body",
            Some("multipart/form-data; boundary=other".to_string()),
            good_part.clone(),
        ),
        (
            "empty body",
            Some(format!("multipart/form-data; boundary={BOUNDARY}")),
            Vec::new(),
        ),
        (
            "garbage body",
            Some(format!("multipart/form-data; boundary={BOUNDARY}")),
            b"garbage".to_vec(),
        ),
        (
            "part never ends",
            Some(format!("multipart/form-data; boundary={BOUNDARY}")),
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; {}\r\n\r\n{{}}",
                file("targets")
            )
            .into_bytes(),
        ),
        (
            "part headers never end",
            Some(format!("multipart/form-data; boundary={BOUNDARY}")),
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; {}\r\n",
                file("targets")
            )
            .into_bytes(),
        ),
        (
            "boundary without line break",
            Some(format!("multipart/form-data; boundary={BOUNDARY}")),
            format!("--{BOUNDARY}xx\r\n\r\n{{}}\r\n--{BOUNDARY}--").into_bytes(),
        ),
        (
            "part headers not UTF-8",
            Some(format!("multipart/form-data; boundary={BOUNDARY}")),
            [
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; filename=\"").into_bytes(),
                b"\xff\xfe\"\r\n\r\n{}\r\n".to_vec(),
                format!("--{BOUNDARY}--\r\n").into_bytes(),
            ]
            .concat(),
        ),
    ] {
        let headers: Vec<(&str, String)> = content_type.map(|c| ct(&c)).unwrap_or_default();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        cases.push(case(
            format!("multipart: {name}"),
            request(
                "POST",
                &format!("/v2/{SEEDED}/_trust/tuf/"),
                &headers,
                &body,
            ),
            400,
            "MALFORMED_UPLOAD",
        ));
    }
    for (name, disposition) in [
        ("no filename", "name=\"files\"".to_string()),
        (
            "empty filename",
            "name=\"files\"; filename=\"\"".to_string(),
        ),
        (
            "filename .json",
            "name=\"files\"; filename=\".json\"".to_string(),
        ),
        (
            "two filenames",
            "name=\"files\"; filename=\"root.json\"; filename=\"targets.json\"".to_string(),
        ),
        (
            "two filenames, different case",
            "name=\"files\"; FILENAME=\"targets\"; filename=\"targets\"".to_string(),
        ),
        (
            "unterminated filename",
            "name=\"files\"; filename=\"targets".to_string(),
        ),
        (
            "junk after the filename",
            "filename=\"targets\" junk".to_string(),
        ),
        (
            "parameter without value",
            "name; filename=\"targets\"".to_string(),
        ),
    ] {
        cases.push(case(
            format!("multipart: {name}"),
            publish_body(SEEDED, &multipart(&[(&disposition, &targets3)])),
            400,
            "NO_FILENAME",
        ));
    }
    for role in [
        "foo",
        "Root",
        "TARGETS",
        "targets/",
        "targets//a",
        "/targets",
        "../root",
        "root.json.json",
        "targets/a b",
        "snapshot/x",
        "timestamps",
        "targets\\releases",
    ] {
        cases.push(case(
            format!("multipart: role {role:?}"),
            publish(SEEDED, &[(role, &targets3)]),
            400,
            "INVALID_ROLE",
        ));
    }
    cases.push(case(
        "multipart: a part above the part limit",
        publish(SEEDED, &[("targets", &vec![b' '; (32 << 20) + 1])]),
        413,
        "MALFORMED_UPLOAD",
    ));

    // JSON: shapes notary-server's decoder refuses, and repeated keys, in every role.
    for (name, body) in malformed_bodies() {
        for role in ["targets", "root"] {
            cases.push(case(
                format!("json: {role}: {name}"),
                publish(SEEDED, &[(role, &body)]),
                400,
                "MALFORMED_JSON",
            ));
        }
    }
    for (name, body) in malformed_bodies().into_iter().step_by(4) {
        for role in ["snapshot", "timestamp", "targets/releases"] {
            cases.push(case(
                format!("json: {role}: {name}"),
                publish(SEEDED, &[(role, &body)]),
                400,
                "MALFORMED_JSON",
            ));
        }
    }
    // A good first part does not carry a malformed second one.
    cases.push(case(
        "json: valid targets then a malformed snapshot",
        publish(SEEDED, &[("targets", &targets3), ("snapshot", b"[]")]),
        400,
        "MALFORMED_JSON",
    ));

    // TUF semantics: well-formed files that are not a valid update.
    let stranger = PrivateKey::generate_ecdsa();
    let mut t3 = s.base_targets(3);
    let by_stranger = s.signed_targets(&t3, &stranger);
    t3.version = 3;
    let unsigned = {
        let bytes = s.targets_with(3, |_| {});
        let mut v: Value = serde_json::from_slice(&bytes).unwrap();
        v["signatures"] = json!([]);
        serde_json::to_vec(&v).unwrap()
    };
    let tampered = {
        let bytes = s.targets_with(3, |_| {});
        let mut v: Value = serde_json::from_slice(&bytes).unwrap();
        v["signed"]["targets"]["v1"]["length"] = json!(1);
        serde_json::to_vec(&v).unwrap()
    };
    for (name, body) in [
        ("signed by a stranger", by_stranger),
        ("no signatures", unsigned),
        ("signature over other content", tampered),
        ("expired", s.targets_with(3, |t| t.expires = future(-1))),
        ("version 0", s.targets_with(0, |_| {})),
        ("negative version", s.targets_with(-3, |_| {})),
        (
            "_type Root",
            s.targets_with(3, |t| t.type_name = "Root".into()),
        ),
        (
            "_type empty",
            s.targets_with(3, |t| t.type_name = String::new()),
        ),
        (
            "a negative length",
            s.targets_with(3, |t| {
                t.targets
                    .get_or_insert_with(Default::default)
                    .insert("neg".into(), FileMeta::from_sha256([1; 32], -5));
            }),
        ),
        (
            "a delegation listed twice",
            s.targets_with(3, |t| {
                let roles = t.delegations.roles.get_or_insert_with(Vec::new);
                let again = roles[0].clone();
                roles.push(again);
            }),
        ),
        (
            "a delegation that is not a child",
            s.targets_with(3, |t| {
                t.delegations.roles.get_or_insert_with(Vec::new)[0].name =
                    "targets/releases/deep".into()
            }),
        ),
        (
            "a delegation named like a base role",
            s.targets_with(3, |t| {
                t.delegations.roles.get_or_insert_with(Vec::new)[0].name = "snapshot".into()
            }),
        ),
        (
            "a delegation with threshold 0",
            s.targets_with(3, |t| {
                t.delegations.roles.get_or_insert_with(Vec::new)[0].threshold = 0
            }),
        ),
        (
            "a delegation with an unknown key",
            s.targets_with(3, |t| {
                t.delegations.roles.get_or_insert_with(Vec::new)[0].keyids =
                    Some(vec!["0".repeat(64)])
            }),
        ),
        ("a hash that is not base64", {
            let bytes = s.targets_with(3, |_| {});
            let mut v: Value = serde_json::from_slice(&bytes).unwrap();
            v["signed"]["targets"]["v1"]["hashes"]["sha256"] = json!("%%%");
            serde_json::to_vec(&v).unwrap()
        }),
    ] {
        cases.push(invalid(
            format!("tuf: targets {name}"),
            publish(SEEDED, &[("targets", &body)]),
            "ErrBadTargets",
        ));
    }
    cases.push(case(
        "tuf: targets not newer than stored",
        publish(SEEDED, &[("targets", &s.targets_with(2, |_| {}))]),
        400,
        "VERSION",
    ));
    cases.push(case(
        "tuf: targets older than stored",
        publish(SEEDED, &[("targets", &s.targets_with(1, |_| {}))]),
        400,
        "VERSION",
    ));
    let releases = |version: i64, key: &PrivateKey| {
        let mut t = Targets::new(future(365));
        t.version = version;
        let id = key.id();
        signet_tuf::sign_and_serialize("targets/releases", &t, &[(&id, key)]).unwrap()
    };
    let other_delegate = {
        let mut t = Targets::new(future(365));
        t.version = 1;
        let id = s.releases.id();
        signet_tuf::sign_and_serialize("targets/other", &t, &[(&id, &s.releases)]).unwrap()
    };
    for (name, parts, detail) in [
        (
            "delegation signed by a stranger",
            vec![("targets/releases", releases(1, &stranger))],
            "ErrBadTargets",
        ),
        (
            "delegation the parent does not list",
            vec![("targets/other", other_delegate)],
            "ErrBadTargets",
        ),
        (
            "delegation below a missing parent",
            vec![("targets/releases/deep", releases(1, &s.releases))],
            "ErrBadTargets",
        ),
        (
            "targets twice",
            vec![
                ("targets", targets3.clone()),
                ("targets", s.targets_with(4, |_| {})),
            ],
            "ErrValidation",
        ),
        (
            "targets and targets.json",
            vec![
                ("targets", targets3.clone()),
                ("targets.json", targets3.clone()),
            ],
            "ErrValidation",
        ),
        (
            "root twice",
            vec![
                ("root", s.stored_root.clone()),
                ("root", s.root_with(2, |_| {})),
            ],
            "ErrValidation",
        ),
        (
            "snapshot twice",
            vec![
                ("targets", targets3.clone()),
                ("snapshot", b"{}".to_vec()),
                ("snapshot", b"{}".to_vec()),
            ],
            "ErrValidation",
        ),
        (
            "timestamp twice",
            vec![("timestamp", b"{}".to_vec()), ("timestamp", b"{}".to_vec())],
            "ErrValidation",
        ),
        (
            "a delegation twice",
            vec![
                ("targets/releases", releases(1, &s.releases)),
                ("targets/releases", releases(2, &s.releases)),
            ],
            "ErrValidation",
        ),
        (
            "root skipping a version",
            vec![("root", s.root_with(3, |_| {}))],
            "ErrBadRoot",
        ),
        (
            "root expired",
            vec![("root", s.root_with(2, |r| r.expires = future(-1)))],
            "ErrBadRoot",
        ),
        (
            "root signed by a stranger",
            vec![("root", {
                let mut r = Root::new(future(3650));
                r.version = 2;
                r.set_role_keys("root", vec![s.keys.root_cert.clone()], 1);
                r.set_role_keys("targets", vec![s.keys.targets.public_key()], 1);
                r.set_role_keys("snapshot", vec![s.snapshot.clone()], 1);
                r.set_role_keys("timestamp", vec![s.timestamp.clone()], 1);
                let id = s.keys.root_cert.id();
                signet_tuf::sign_and_serialize("root", &r, &[(&id, &stranger)]).unwrap()
            })],
            "ErrBadRoot",
        ),
        (
            "root without a timestamp role",
            vec![(
                "root",
                s.root_with(2, |r| {
                    if let Some(roles) = r.roles.as_mut() {
                        roles.remove("timestamp");
                    }
                }),
            )],
            "ErrBadRoot",
        ),
        (
            "root with threshold 0",
            vec![(
                "root",
                s.root_with(2, |r| {
                    let keys = vec![s.keys.targets.public_key()];
                    r.set_role_keys("targets", keys, 0);
                }),
            )],
            "ErrBadRoot",
        ),
        (
            "root whose certificate names another repository",
            vec![("root", {
                let other = RepoKeys::new("example.com/other");
                other.root(1, &s.timestamp, &s.snapshot)
            })],
            "ErrBadRoot",
        ),
        (
            "root rotation to a certificate for another repository",
            vec![("root", {
                let other = RepoKeys::new("example.com/other");
                other.root(2, &s.timestamp, &s.snapshot)
            })],
            "ErrBadRoot",
        ),
        (
            "snapshot signed by a stranger",
            vec![
                ("targets", targets3.clone()),
                ("snapshot", {
                    let mut snap = Snapshot::new(future(30));
                    snap.version = 5;
                    snap.set_meta("root", &s.stored_root);
                    snap.set_meta("targets", &targets3);
                    let id = stranger.id();
                    signet_tuf::sign_and_serialize("snapshot", &snap, &[(&id, &stranger)]).unwrap()
                }),
            ],
            "ErrBadSnapshot",
        ),
        (
            "snapshot with the wrong _type",
            vec![("snapshot", s.targets_with(9, |_| {}))],
            "ErrBadSnapshot",
        ),
    ] {
        let parts: Vec<(&str, &[u8])> = parts.iter().map(|(r, b)| (*r, b.as_slice())).collect();
        cases.push(invalid(
            format!("tuf: {name}"),
            publish(SEEDED, &parts),
            detail,
        ));
    }
    // A new repository: what a first publish must have.
    let fresh = "example.com/fresh";
    let fresh_keys = RepoKeys::new(fresh);
    let stranger_key = PrivateKey::generate_ecdsa().public_key();
    // Asking for the keys of a repository that never publishes stores nothing (checked by the
    // state comparison of every case below).
    let agent = https_agent(&server.ca_path);
    let fresh_server_ts = upload::server_key(&agent, &server.url, fresh, "timestamp");
    let fresh_server_snap = upload::server_key(&agent, &server.url, fresh, "snapshot");
    let fresh_targets = fresh_keys.targets(1, &[]);
    for (name, parts, detail) in [
        (
            "no root",
            vec![("targets", fresh_targets.clone())],
            "ErrValidation",
        ),
        (
            "root listing snapshot keys the server does not hold",
            vec![
                ("root", fresh_keys.root(1, &fresh_server_ts, &stranger_key)),
                ("targets", fresh_targets.clone()),
            ],
            "ErrBadHierarchy",
        ),
        (
            "root listing timestamp keys the server does not hold",
            vec![
                (
                    "root",
                    fresh_keys.root(1, &stranger_key, &fresh_server_snap),
                ),
                ("targets", fresh_targets.clone()),
            ],
            "ErrBadRoot",
        ),
        (
            "the seeded repository's root",
            vec![
                ("root", s.stored_root.clone()),
                ("targets", fresh_targets.clone()),
            ],
            "ErrBadRoot",
        ),
    ] {
        let parts: Vec<(&str, &[u8])> = parts.iter().map(|(r, b)| (*r, b.as_slice())).collect();
        cases.push(invalid(
            format!("tuf: new repository, {name}"),
            publish(fresh, &parts),
            detail,
        ));
    }

    // The state compared is real: the seeded repository's two publishes and its files.
    let baseline = state();
    let feed: Value = serde_json::from_slice(&baseline[0]).expect("changefeed JSON");
    assert_eq!(feed["count"], 2, "{feed}");
    assert_eq!(baseline[1], b"200 ");
    assert_eq!(baseline[2], s.stored_root);
    let n = run(&raw, cases, &state);
    // No server key was made for any of the refused names either.
    let store =
        signet_server::store::SqliteStore::open(&server.data_dir.path().join("signet.sqlite"))
            .expect("open the server's database");
    for gun in UNSTORABLE_GUNS.iter().chain(DOT_SEGMENT_GUNS) {
        for role in ["timestamp", "snapshot"] {
            let keys = signet_server::store::Store::keys_for(&store, &percent_decoded(gun), role)
                .expect("keys");
            assert!(keys.is_empty(), "a {role} key was stored for {gun}");
        }
    }
    eprintln!("trust routes: {n} hostile cases");
    assert!(n >= 200, "{n} cases");
}

/// The admin API's view plus the changefeed.
fn tenancy_state(admin: &AdminClient, raw: &Raw) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for path in ["registries", "identities", "role-assignments"] {
        let (status, v) = admin.call("GET", path, None);
        out.push(format!("{status} {v}").into_bytes());
    }
    out.push(
        raw.get("/v2/_trust/changefeed?change_id=0&records=1000")
            .body,
    );
    out
}

#[test]
fn hostile_tokens_and_admin_calls_change_nothing() {
    let server = SignetServer::start();
    let raw = Raw::new(&server);
    let admin = AdminClient::new(&server);
    admin.ok(
        "POST",
        "registries",
        json!({"name": "contoso", "loginServer": "contoso.test", "sku": "Premium", "adminUserEnabled": true}),
    );
    admin.ok(
        "PUT",
        "registries/contoso/content-trust",
        json!({"status": "enabled"}),
    );
    admin.ok(
        "POST",
        "identities",
        json!({"name": "alice", "password": "alice-pass"}),
    );
    admin.ok(
        "POST",
        "role-assignments",
        json!({"registry": "contoso", "identity": "alice", "role": "AcrPull"}),
    );
    let operator = std::fs::read_to_string(server.data_dir.path().join("operator.token"))
        .unwrap()
        .trim()
        .to_string();
    let state = || tenancy_state(&admin, &raw);
    let mut cases = Vec::new();

    // Tokens.
    let token = |query: &str, headers: &[(&str, &str)]| {
        request("GET", &format!("/oauth2/token?{query}"), headers, b"")
    };
    let basic = |u: &str, p: &str| format!("Basic {}", basic_auth(u, p));
    let scope = "scope=repository:contoso.test/app:pull";
    for (name, query, status, code) in [
        ("no service", scope.to_string(), 400, "invalid_request"),
        ("unknown service", format!("service=nope&{scope}"), 400, "invalid_request"),
        ("empty service", format!("service=&{scope}"), 400, "invalid_request"),
        (
            "unknown grant type",
            format!("service=signet&{scope}&grant_type=client_credentials"),
            400,
            "unsupported_grant_type",
        ),
        (
            "password grant without password",
            format!("service=signet&{scope}&grant_type=password&username=alice"),
            400,
            "invalid_request",
        ),
        (
            "password grant without username",
            format!("service=signet&{scope}&grant_type=password&password=x"),
            400,
            "invalid_request",
        ),
        (
            "password grant, wrong password",
            format!("service=signet&{scope}&grant_type=password&username=alice&password=nope"),
            401,
            "UNAUTHORIZED",
        ),
        (
            "refresh grant without a token",
            format!("service=signet&{scope}&grant_type=refresh_token"),
            401,
            "invalid_grant",
        ),
        (
            "refresh grant with garbage",
            format!("service=signet&{scope}&grant_type=refresh_token&refresh_token=garbage"),
            401,
            "invalid_grant",
        ),
        (
            "refresh grant with a three-part non-JWT",
            format!("service=signet&{scope}&grant_type=refresh_token&refresh_token=a.b.c"),
            401,
            "invalid_grant",
        ),
        (
            "refresh grant with alg none",
            format!(
                "service=signet&{scope}&grant_type=refresh_token&refresh_token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."
            ),
            401,
            "invalid_grant",
        ),
    ] {
        cases.push(case(format!("token: {name}"), token(&query, &[]), status, code));
    }
    let q = format!("service=signet&{scope}");
    for (name, user, pass) in [
        ("wrong password", "alice", "wrong"),
        ("unknown user", "mallory", "x"),
        ("empty password", "alice", ""),
        ("admin user, wrong password", "contoso", "guess"),
        ("user name with a quote", "al\"ice", "alice-pass"),
        ("very long user name", &"a".repeat(5000), "x"),
    ] {
        let auth = basic(user, pass);
        cases.push(case(
            format!("token: basic, {name}"),
            token(&q, &[("Authorization", &auth)]),
            401,
            "UNAUTHORIZED",
        ));
    }
    cases.push(case(
        "token: form body above 64 KiB",
        request(
            "POST",
            "/oauth2/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            format!("service=signet&x={}", "a".repeat(70 << 10)).as_bytes(),
        ),
        400,
        "invalid_request",
    ));

    // The admin API.
    let bearer = format!("Bearer {operator}");
    let admin_req = |method: &str, path: &str, auth: Option<&str>, body: &[u8]| {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        request(method, &format!("/admin/v1/{path}"), &headers, body)
    };
    for (name, auth) in [
        ("no credential", None),
        ("wrong bearer", Some("Bearer wrong")),
        (
            "operator token as Basic",
            Some(&*format!("Basic {operator}")),
        ),
        ("empty bearer", Some("Bearer ")),
        ("operator token with a suffix", Some(&*format!("{bearer}x"))),
        (
            "a user's Basic credentials",
            Some(&*basic("alice", "alice-pass")),
        ),
    ] {
        for (method, path, body) in [
            ("GET", "registries", &b""[..]),
            (
                "POST",
                "identities",
                &br#"{"name":"eve","password":"eve-pass"}"#[..],
            ),
            ("DELETE", "identities/alice", &b""[..]),
        ] {
            cases.push(case(
                format!("admin: {name}: {method} {path}"),
                admin_req(method, path, auth, body),
                401,
                "Unauthorized",
            ));
        }
    }
    let auth = Some(bearer.as_str());
    for (name, method, path, body, status, code) in [
        (
            "registry: not JSON",
            "POST",
            "registries",
            "{",
            400,
            "InvalidRequest",
        ),
        (
            "registry: a list",
            "POST",
            "registries",
            "[]",
            400,
            "InvalidRequest",
        ),
        (
            "registry: no name",
            "POST",
            "registries",
            r#"{"loginServer":"x.test","sku":"Premium"}"#,
            400,
            "InvalidRequest",
        ),
        (
            "registry: name a number",
            "POST",
            "registries",
            r#"{"name":5,"loginServer":"x.test","sku":"Premium"}"#,
            400,
            "InvalidRequest",
        ),
        (
            "registry: unknown SKU",
            "POST",
            "registries",
            r#"{"name":"x1","loginServer":"x.test","sku":"Gold"}"#,
            400,
            "InvalidRequest",
        ),
        (
            "registry: existing name",
            "POST",
            "registries",
            r#"{"name":"contoso","loginServer":"y.test","sku":"Premium"}"#,
            409,
            "Conflict",
        ),
        (
            "registry: unknown",
            "GET",
            "registries/nope",
            "",
            404,
            "NotFound",
        ),
        (
            "registry: unknown, patch",
            "PATCH",
            "registries/nope",
            r#"{"sku":"Basic"}"#,
            404,
            "NotFound",
        ),
        (
            "registry: unknown, delete",
            "DELETE",
            "registries/nope",
            "",
            404,
            "NotFound",
        ),
        (
            "registry: downgrade with trust on",
            "PATCH",
            "registries/contoso",
            r#"{"sku":"Basic"}"#,
            400,
            "PolicyNotSupportedForSku",
        ),
        (
            "content trust: bad status",
            "PUT",
            "registries/contoso/content-trust",
            r#"{"status":"maybe"}"#,
            400,
            "InvalidRequest",
        ),
        (
            "content trust: not JSON",
            "PUT",
            "registries/contoso/content-trust",
            "status=enabled",
            400,
            "InvalidRequest",
        ),
        (
            "content trust: unknown registry",
            "PUT",
            "registries/nope/content-trust",
            r#"{"status":"enabled"}"#,
            404,
            "NotFound",
        ),
        (
            "identity: no password",
            "POST",
            "identities",
            r#"{"name":"bob"}"#,
            400,
            "InvalidRequest",
        ),
        (
            "identity: existing",
            "POST",
            "identities",
            r#"{"name":"alice","password":"another-pass"}"#,
            409,
            "Conflict",
        ),
        (
            "identity: unknown, delete",
            "DELETE",
            "identities/nope",
            "",
            404,
            "NotFound",
        ),
        (
            "role: unknown role",
            "POST",
            "role-assignments",
            r#"{"registry":"contoso","identity":"alice","role":"God"}"#,
            400,
            "InvalidRequest",
        ),
        (
            "role: unknown identity",
            "POST",
            "role-assignments",
            r#"{"registry":"contoso","identity":"nope","role":"AcrPull"}"#,
            404,
            "NotFound",
        ),
        (
            "role: unknown registry",
            "POST",
            "role-assignments",
            r#"{"registry":"nope","identity":"alice","role":"AcrPull"}"#,
            404,
            "NotFound",
        ),
        (
            "role: admin user cannot sign",
            "POST",
            "role-assignments",
            r#"{"registry":"contoso","identity":"contoso","role":"AcrImageSigner"}"#,
            400,
            "AdminUserCannotSign",
        ),
        ("unknown path", "GET", "nothing", "", 404, "NotFound"),
    ] {
        cases.push(case(
            format!("admin: {name}"),
            admin_req(method, path, auth, body.as_bytes()),
            status,
            code,
        ));
    }
    // Repository names on the admin API: docker's path components only, so no '.' or '..'
    // segment can stand for another repository.
    for repo in [
        ".",
        "..",
        "../app",
        "app/..",
        "a/./b",
        "a//b",
        "/app",
        "app/",
        "App",
        "a..b",
        "-a",
        "a b",
        "a\\\"b",
        "a\u{202e}b",
        "a\u{200b}b",
        "caf\u{e9}",
    ] {
        cases.push(case(
            format!("admin: role for repository {repo:?}"),
            admin_req(
                "POST",
                "role-assignments",
                auth,
                format!(
                    r#"{{"registry":"contoso","identity":"alice","role":"AcrPull","repository":"{repo}"}}"#
                )
                .as_bytes(),
            ),
            400,
            "InvalidRequest",
        ));
    }
    for gun in [
        "contoso.test/../app",
        "contoso.test/./app",
        "contoso.test/a%E2%80%AEb",
        "contoso.test/App",
        "contoso.test/a%22b",
    ] {
        cases.push(case(
            format!("admin: reset repository {gun}"),
            admin_req(
                "DELETE",
                &format!("repositories/{gun}/trust-data"),
                auth,
                b"",
            ),
            400,
            "InvalidRequest",
        ));
    }

    let baseline = state();
    for (i, what) in ["contoso", "alice", "AcrPull"].iter().enumerate() {
        let text = String::from_utf8_lossy(&baseline[i]);
        assert!(text.starts_with("200 ") && text.contains(what), "{text}");
    }
    let n = run(&raw, cases, &state);
    eprintln!("tokens and admin API: {n} hostile cases");
}

/// The requests of the suite that reach no repository state, answered by notary-server 0.7
/// and by Signet: the codes agree except where Signet refuses what the reference lets
/// through (named below, with why).
#[test]
fn upload_shape_and_name_errors_answer_as_notary_server_does() {
    if !signet_interop::require_binaries(&["notary-server", "notary-signer"]) {
        return;
    }
    let reference = signet_interop::NotaryServer::start();
    let signet = SignetServer::start();
    let theirs = Raw::to(
        SocketAddr::from(([127, 0, 0, 1], reference.port)),
        &reference.ca_path,
    );
    let ours = Raw::new(&signet);
    let gun = "example.com/differential";
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, body) in malformed_bodies() {
        cases.push((format!("json: {name}"), publish(gun, &[("targets", &body)])));
    }
    for (name, disposition) in [
        ("no filename", "name=\"files\""),
        ("empty filename", "name=\"files\"; filename=\"\""),
        ("filename .json", "name=\"files\"; filename=\".json\""),
        (
            "two filenames",
            "name=\"files\"; filename=\"root.json\"; filename=\"targets.json\"",
        ),
        (
            "two filenames, different case",
            "name=\"files\"; FILENAME=\"targets\"; filename=\"targets\"",
        ),
        ("role foo", "name=\"files\"; filename=\"foo\""),
        ("role ../root", "name=\"files\"; filename=\"../root\""),
        ("role targets/", "name=\"files\"; filename=\"targets/\""),
    ] {
        cases.push((
            format!("multipart: {name}"),
            publish_body(gun, &multipart(&[(disposition, b"{}")])),
        ));
    }
    for (name, content_type) in [
        ("no boundary", "multipart/form-data"),
        ("JSON content type", "application/json"),
    ] {
        cases.push((
            format!("multipart: {name}"),
            request(
                "POST",
                &format!("/v2/{gun}/_trust/tuf/"),
                &[("Content-Type", content_type)],
                &multipart(&[(&file("targets"), b"{}")]),
            ),
        ));
    }
    for path in [
        "/v2/example.com/differential/_trust/tuf/root.json",
        "/v2/example.com/differential/_trust/tuf/1.root.json",
        "/v2/example.com/differential/_trust/tuf/foo.json",
        "/v2/example.com/differential/_trust/tuf/root.key",
        "/nothing/here",
        "/v2/*/_trust/tuf/root.json",
    ] {
        cases.push((format!("names: GET {path}"), request("GET", path, &[], b"")));
    }
    for method in ["PATCH", "OPTIONS", "HEAD", "PUT", "TRACE"] {
        for path in [
            "/v2/",
            "/v2/example.com/differential/_trust/tuf/root.json",
            "/v2/example.com/differential/_trust/tuf/",
            "/v2/example.com/differential/_trust/changefeed",
            "/v2/_trust/changefeed",
        ] {
            cases.push((
                format!("methods: {method} {path}"),
                request(method, path, &[], b""),
            ));
        }
    }
    let checksum = format!("root.{}.json", "a".repeat(64));
    for gun in UNSTORABLE_GUNS {
        for file in ["root.json", "timestamp.json", "1.targets.json", &checksum] {
            cases.push((
                format!("names: GET {gun} {file}"),
                request("GET", &format!("/v2/{gun}/_trust/tuf/{file}"), &[], b""),
            ));
        }
        cases.push((
            format!("unstorable key: GET {gun}"),
            request(
                "GET",
                &format!("/v2/{gun}/_trust/tuf/timestamp.key"),
                &[],
                b"",
            ),
        ));
        cases.push((
            format!("unstorable publish: {gun}"),
            publish(gun, &[("targets", b"{}")]),
        ));
    }
    for gun in DOT_SEGMENT_GUNS {
        cases.push((
            format!("dot segments: GET {gun}"),
            request("GET", &format!("/v2/{gun}/_trust/tuf/root.json"), &[], b""),
        ));
    }
    // Refused by Signet, let through to validation (or answered otherwise) by the reference.
    let intended: &[(&str, &str)] = &[
        (
            "json: two documents",
            "Go's decoder reads the first value and ignores the rest",
        ),
        (
            "json: trailing garbage",
            "Go's decoder reads the first value and ignores the rest",
        ),
        (
            "json: not UTF-8",
            "Go replaces invalid UTF-8 and decodes on",
        ),
        ("json: repeated signed", "Go keeps the last copy"),
        (
            "unstorable key",
            "the reference makes and stores a key for any name; Signet only for image names",
        ),
        (
            "unstorable publish",
            "the reference validates an upload to any name; Signet refuses the name first",
        ),
        (
            "dot segments",
            "gorilla/mux redirects (301) to the cleaned path, another repository; Signet \
             answers for the name as sent, which cannot exist",
        ),
        ("json: repeated signatures", "Go keeps the last copy"),
        ("json: repeated version", "Go keeps the last copy"),
        ("json: repeated target", "Go keeps the last copy"),
        (
            "json: repeated key in a signature",
            "Go keeps the last copy",
        ),
        (
            "json: repeated key deep in custom data",
            "Go keeps the last copy",
        ),
        (
            "json: repeated key spelled with an escape",
            "Go keeps the last copy",
        ),
    ];
    let mut differences = Vec::new();
    for (name, req) in &cases {
        let (a, b) = (theirs.send(req), ours.send(req));
        if (a.status, a.code()) != (b.status, b.code()) {
            differences.push(format!(
                "{name}: notary-server {} {:?}, Signet {} {:?}",
                a.status,
                a.code(),
                b.status,
                b.code()
            ));
            // Signet still refuses it.
            assert!(b.status >= 400, "{name}: Signet answered {}", b.status);
        }
    }
    let unexpected: Vec<&String> = differences
        .iter()
        .filter(|d| {
            !intended
                .iter()
                .any(|(n, _)| d.starts_with(&format!("{n}:")))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "codes differ from notary-server 0.7:\n{}\n{}",
        unexpected
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        reference.logs()
    );
    eprintln!(
        "{} requests compared with notary-server 0.7; intended differences:\n{}",
        cases.len(),
        differences.join("\n")
    );
}
