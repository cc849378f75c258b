//! Building repositories with signet-keys + signet-tuf and talking to a server's API
//! directly: the client side of the differential and producer tests.

use signet_keys::{PrivateKey, PublicKey};
use signet_tuf::{FileMeta, GoTime, Root, Targets};
use time::{Duration, OffsetDateTime};

/// The client-held keys of a repository.
pub struct RepoKeys {
    pub gun: String,
    pub root: PrivateKey,
    pub root_cert: PublicKey,
    pub targets: PrivateKey,
}

impl RepoKeys {
    pub fn new(gun: &str) -> RepoKeys {
        let root = PrivateKey::generate_ecdsa();
        let now = OffsetDateTime::now_utc();
        let root_cert = signet_keys::root_certificate(&root, gun, now, now + Duration::days(3650))
            .expect("root certificate");
        RepoKeys {
            gun: gun.to_string(),
            root,
            root_cert,
            targets: PrivateKey::generate_ecdsa(),
        }
    }

    /// A root (version `version`) with the server's timestamp and snapshot keys.
    pub fn root(&self, version: i64, timestamp: &PublicKey, snapshot: &PublicKey) -> Vec<u8> {
        let mut r = Root::new(GoTime::from_instant(
            OffsetDateTime::now_utc() + Duration::days(3650),
        ));
        r.version = version;
        r.set_role_keys("root", vec![self.root_cert.clone()], 1);
        r.set_role_keys("targets", vec![self.targets.public_key()], 1);
        r.set_role_keys("snapshot", vec![snapshot.clone()], 1);
        r.set_role_keys("timestamp", vec![timestamp.clone()], 1);
        let id = self.root_cert.id();
        signet_tuf::sign_and_serialize("root", &r, &[(&id, &self.root)]).expect("sign root")
    }

    /// A targets file listing `(name, content)` pairs, signed by the targets key.
    pub fn targets(&self, version: i64, files: &[(&str, &[u8])]) -> Vec<u8> {
        self.targets_signed_by(version, files, &self.targets)
    }

    pub fn targets_signed_by(
        &self,
        version: i64,
        files: &[(&str, &[u8])],
        key: &PrivateKey,
    ) -> Vec<u8> {
        let mut t = Targets::new(GoTime::from_instant(
            OffsetDateTime::now_utc() + Duration::days(1095),
        ));
        t.version = version;
        let map = t.targets.get_or_insert_with(Default::default);
        for (name, content) in files {
            map.insert(name.to_string(), FileMeta::from_bytes(content));
        }
        let id = key.id();
        signet_tuf::sign_and_serialize("targets", &t, &[(&id, key)]).expect("sign targets")
    }
}

/// GET `<role>.key` from a server: the public key it holds for this GUN.
pub fn server_key(agent: &ureq::Agent, url: &str, gun: &str, role: &str) -> PublicKey {
    server_key_with(agent, url, gun, role, None)
}

/// [`server_key`] with an `Authorization: Bearer` token.
pub fn server_key_with(
    agent: &ureq::Agent,
    url: &str,
    gun: &str,
    role: &str,
    bearer: Option<&str>,
) -> PublicKey {
    let body = authorized(
        agent.get(&format!("{url}/v2/{gun}/_trust/tuf/{role}.key")),
        bearer,
    )
    .call()
    .expect("GET key")
    .into_string()
    .expect("key body");
    let v: serde_json::Value = serde_json::from_str(&body).expect("key JSON");
    PublicKey::from_b64(
        v["keytype"].as_str().expect("keytype"),
        v["keyval"]["public"].as_str().expect("public"),
    )
    .expect("public key")
}

/// POSTs a multipart update the way the notary client does; returns status and body.
pub fn post_update(
    agent: &ureq::Agent,
    url: &str,
    gun: &str,
    parts: &[(&str, &[u8])],
) -> (u16, String) {
    post_update_with(agent, url, gun, parts, None)
}

/// Adds `Authorization: Bearer <token>` when a token is given.
pub fn authorized(req: ureq::Request, bearer: Option<&str>) -> ureq::Request {
    match bearer {
        Some(t) => req.set("Authorization", &format!("Bearer {t}")),
        None => req,
    }
}

/// [`post_update`] with an `Authorization: Bearer` token.
pub fn post_update_with(
    agent: &ureq::Agent,
    url: &str,
    gun: &str,
    parts: &[(&str, &[u8])],
    bearer: Option<&str>,
) -> (u16, String) {
    let boundary = "signetinteropboundary7d3e";
    let mut body = Vec::new();
    for (role, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{role}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    send(
        authorized(agent.post(&format!("{url}/v2/{gun}/_trust/tuf/")), bearer).set(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        ),
        &body,
    )
}

/// Sends a request body and returns status and body text, for error statuses too.
pub fn send(req: ureq::Request, body: &[u8]) -> (u16, String) {
    match req.send_bytes(body) {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("request failed: {e}"),
    }
}

pub fn get(agent: &ureq::Agent, url: &str) -> (u16, Vec<u8>) {
    let read = |r: ureq::Response| {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut v).expect("read body");
        v
    };
    match agent.get(url).call() {
        Ok(r) => (r.status(), read(r)),
        Err(ureq::Error::Status(code, r)) => (code, read(r)),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// The `code` of a notary error envelope.
pub fn error_code(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The `detail.Name` of a notary validation error.
pub fn error_detail_name(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["errors"][0]["detail"]["Name"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}
