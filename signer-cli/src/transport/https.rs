//! The trust server over HTTPS, as docker reaches it: the server from `--server`,
//! `DOCKER_CONTENT_TRUST_SERVER` or the registry host; the CA from `--tlscacert` or
//! `$DOCKER_CONFIG/tls/<host:port>/*.crt`, plus the public web roots.

use super::{Transport, KEY_LIMIT};
use crate::auth::{self, Credentials};
use crate::error::CliError;
use crate::tls_roots;
use signet_keys::PublicKey;
use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct HttpsTransport {
    server: String,
    agent: ureq::Agent,
    /// `--tlscacert`, also trusted for the token realm.
    ca: Option<PathBuf>,
    timeout: Duration,
    /// The registry host whose docker credentials open the trust server (docker logs in to
    /// the trust server with the registry's credentials).
    registry_host: String,
    /// The bearer token in use and the actions it was asked for.
    token: RefCell<Option<(Vec<&'static str>, String)>>,
}

/// What a request needs from a token (protocol reference §6.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// Metadata GETs.
    Pull,
    /// Publishing, reading server-held public keys.
    Push,
    /// Rotating a server-held key.
    All,
}

impl Access {
    fn actions(self) -> &'static [&'static str] {
        match self {
            Access::Pull => &["pull"],
            Access::Push => &["push", "pull"],
            Access::All => &["*"],
        }
    }
}

/// Actions for a scope covering both sets, in docker's `push,pull` order.
fn merge_actions(held: &[&'static str], need: &[&'static str]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for a in ["*", "push", "pull"] {
        if held.contains(&a) || need.contains(&a) {
            out.push(a);
        }
    }
    out
}

impl HttpsTransport {
    pub fn new(
        server: &str,
        ca: Option<&Path>,
        registry_host: &str,
        timeout: Duration,
    ) -> Result<HttpsTransport, CliError> {
        let server = server.trim_end_matches('/').to_string();
        if !server.starts_with("https://") {
            return Err(CliError::Usage(format!(
                "trust server {server:?} must be an https:// URL"
            )));
        }
        // The Notary API lives at /v2/ of the server itself; a path would be silently
        // dropped by some clients and turn every file into a 404 ("no trust data") here.
        let rest = &server["https://".len()..];
        if rest.contains(['/', '?', '#']) || rest.is_empty() {
            let base = rest.split(['/', '?', '#']).next().unwrap_or("");
            return Err(CliError::Usage(format!(
                "trust server URL {server:?} has a path: give only https://HOST[:PORT] (here https://{base}); the Notary API is always under /v2/"
            )));
        }
        let agent = tls_roots::agent_for(tls_roots::url_hostport(&server), ca, timeout)?;
        Ok(HttpsTransport {
            server,
            agent,
            ca: ca.map(Path::to_path_buf),
            timeout,
            registry_host: registry_host.to_string(),
            token: RefCell::new(None),
        })
    }

    fn err(&self, reason: impl std::fmt::Display) -> CliError {
        CliError::Server {
            server: self.server.clone(),
            reason: reason.to_string(),
        }
    }

    fn url(&self, gun: &str, file: &str) -> String {
        format!("{}/v2/{gun}/_trust/tuf/{file}", self.server)
    }

    /// Sends a request, answering a 401 challenge once with a token for `gun` that covers
    /// `access` (and whatever the current token covered).
    fn send(
        &self,
        gun: &str,
        access: Access,
        make: &dyn Fn() -> ureq::Request,
        body: Option<&[u8]>,
    ) -> Result<ureq::Response, Failed> {
        let go = |auth: Option<&str>| -> Result<ureq::Response, Failed> {
            let mut req = make();
            if let Some(a) = auth {
                req = req.set("Authorization", a);
            }
            let r = match body {
                Some(b) => req.send_bytes(b),
                None => req.call(),
            };
            match r {
                Ok(r) => Ok(r),
                Err(ureq::Error::Status(code, r)) => {
                    let challenge = r.header("WWW-Authenticate").and_then(auth::parse_challenge);
                    let (error_code, message) = error_message(r);
                    Err(Failed::Status {
                        code,
                        error_code,
                        message,
                        challenge,
                    })
                }
                Err(e) => Err(Failed::Other(self.err(
                    tls_roots::describe_transport_error(
                        tls_roots::url_hostport(&self.server),
                        &e,
                        self.timeout,
                    ),
                ))),
            }
        };
        let current = self.token.borrow().clone();
        let first = go(current.as_ref().map(|(_, t)| t.as_str()));
        let challenge = match &first {
            Err(Failed::Status {
                code: 401,
                challenge: Some(c),
                ..
            }) => c.clone(),
            _ => return first,
        };
        let held = current.map(|(a, _)| a).unwrap_or_default();
        let actions = merge_actions(&held, access.actions());
        let scope = format!("repository:{gun}:{}", actions.join(","));
        let creds: Option<Credentials> = auth::credentials(&self.registry_host);
        let peer = auth::Peer::TrustServer {
            url: self.server.clone(),
            timeout: self.timeout,
        };
        let header = auth::authorize(
            &peer,
            self.ca.as_deref(),
            &challenge,
            &scope,
            creds.as_ref(),
        )
        .map_err(Failed::Other)?;
        *self.token.borrow_mut() = Some((actions, header.clone()));
        match go(Some(&header)) {
            Err(Failed::Status { code: 401, .. }) => Err(Failed::Other(self.err(format!(
                "not authorized for {scope}{}",
                if creds.is_none() {
                    " (no docker credentials for this registry: docker login)"
                } else {
                    ""
                }
            )))),
            other => other,
        }
    }

    fn get_with(
        &self,
        gun: &str,
        file: &str,
        limit: u64,
        access: Access,
    ) -> Result<Option<Vec<u8>>, CliError> {
        let url = self.url(gun, file);
        let resp = match self.send(gun, access, &|| self.agent.get(&url), None) {
            Ok(r) => r,
            // Only "no such metadata" means the file is absent; any other 404 (a registry the
            // server does not know, a repository it refuses) is the server's answer to show.
            Err(Failed::Status {
                code: 404,
                error_code,
                ..
            }) if error_code
                .as_deref()
                .is_none_or(|c| c == "METADATA_NOT_FOUND") =>
            {
                return Ok(None)
            }
            Err(Failed::Status { code, message, .. }) => {
                return Err(self.err(format!("GET {file}: HTTP {code}: {message}")))
            }
            Err(Failed::Other(e)) => return Err(e),
        };
        if let Some(len) = resp
            .header("Content-Length")
            .and_then(|v| v.parse::<u64>().ok())
        {
            if len > limit {
                return Err(self.err(format!(
                    "{file} is {len} bytes, more than the {limit} expected"
                )));
            }
        }
        let mut body = Vec::new();
        resp.into_reader()
            .take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|e| self.err(e))?;
        if body.len() as u64 > limit {
            return Err(self.err(format!("{file} is larger than the {limit} bytes expected")));
        }
        Ok(Some(body))
    }

    fn parse_key(&self, role: &str, body: &[u8]) -> Result<PublicKey, CliError> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| self.err(format!("{role}.key: {e}")))?;
        let (Some(t), Some(p)) = (v["keytype"].as_str(), v["keyval"]["public"].as_str()) else {
            return Err(self.err(format!("{role}.key is not a public key")));
        };
        PublicKey::from_b64(t, p).map_err(|e| self.err(format!("{role}.key: {e}")))
    }
}

impl Transport for HttpsTransport {
    fn server(&self) -> &str {
        &self.server
    }

    /// GETs a metadata file; `Ok(None)` on 404. Refuses bodies above `limit` bytes, whether
    /// announced by Content-Length or not.
    fn fetch(&self, gun: &str, file: &str, limit: u64) -> Result<Option<Vec<u8>>, CliError> {
        self.get_with(gun, file, limit, Access::Pull)
    }

    /// GET `<role>.key`: the public key the server holds for a role.
    fn server_key(&self, gun: &str, role: &str) -> Result<PublicKey, CliError> {
        let body = self
            .get_with(gun, &format!("{role}.key"), KEY_LIMIT, Access::Push)?
            .ok_or_else(|| self.err(format!("server has no {role} key for {gun}")))?;
        self.parse_key(role, &body)
    }

    /// POST `<role>.key`: the server makes a new key for the role (used once a root lists it).
    fn rotate_server_key(&self, gun: &str, role: &str) -> Result<PublicKey, CliError> {
        let url = self.url(gun, &format!("{role}.key"));
        let resp = match self.send(gun, Access::All, &|| self.agent.post(&url), Some(b"")) {
            Ok(r) => r,
            Err(Failed::Status { code, message, .. }) => {
                return Err(self.err(format!("rotating {role} key: HTTP {code}: {message}")))
            }
            Err(Failed::Other(e)) => return Err(e),
        };
        let mut body = Vec::new();
        resp.into_reader()
            .take(KEY_LIMIT)
            .read_to_end(&mut body)
            .map_err(|e| self.err(e))?;
        self.parse_key(role, &body)
    }

    /// POSTs an update: one multipart part per role, named by the role (as notary does).
    fn publish(&self, gun: &str, parts: &[(String, Vec<u8>)]) -> Result<(), CliError> {
        let (content_type, body) = multipart(parts);
        let url = self.url(gun, "");
        let make = || self.agent.post(&url).set("Content-Type", &content_type);
        match self.send(gun, Access::Push, &make, Some(&body)) {
            Ok(_) => Ok(()),
            Err(Failed::Status { code, message, .. }) => {
                Err(self.err(format!("publish rejected (HTTP {code}): {message}")))
            }
            Err(Failed::Other(e)) => Err(e),
        }
    }

    /// POSTs another server's files to Signet's handover import.
    fn import(
        &self,
        gun: &str,
        parts: &[(String, Vec<u8>)],
    ) -> Result<serde_json::Value, CliError> {
        let (content_type, body) = multipart(parts);
        let url = format!("{}/v2/{gun}/_trust/signet/import", self.server);
        let make = || self.agent.post(&url).set("Content-Type", &content_type);
        let resp = match self.send(gun, Access::All, &make, Some(&body)) {
            Ok(r) => r,
            Err(Failed::Status { code: 404, .. }) => return Err(self.err(
                "it has no import endpoint: the target of signet migrate must be a Signet server",
            )),
            Err(Failed::Status { code, message, .. }) => {
                return Err(self.err(format!("import refused (HTTP {code}): {message}")))
            }
            Err(Failed::Other(e)) => return Err(e),
        };
        let mut text = String::new();
        resp.into_reader()
            .take(KEY_LIMIT)
            .read_to_string(&mut text)
            .map_err(|e| self.err(e))?;
        serde_json::from_str(&text).map_err(|e| self.err(format!("import report: {e}")))
    }
}

/// A multipart body with one part per `(file name, bytes)`, as notary uploads; its
/// Content-Type and bytes.
fn multipart(parts: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = format!("signet{}", hex::encode(rand_bytes()));
    let mut body = Vec::new();
    for (name, data) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A request that did not succeed.
enum Failed {
    Status {
        code: u16,
        /// The code of the notary error envelope, when the body is one.
        error_code: Option<String>,
        message: String,
        challenge: Option<auth::Challenge>,
    },
    Other(CliError),
}

fn rand_bytes() -> [u8; 12] {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut out = [0u8; 12];
    out.copy_from_slice(&t.to_le_bytes()[..12]);
    out
}

/// The first error of a notary error envelope: its code, and `CODE: message (detail)`.
fn error_message(r: ureq::Response) -> (Option<String>, String) {
    let mut body = String::new();
    let _ = r.into_reader().take(4096).read_to_string(&mut body);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let e = &v["errors"][0];
    match (e["code"].as_str(), e["message"].as_str()) {
        (Some(c), Some(m)) => {
            let detail = e["detail"]["Error"]["Msg"]
                .as_str()
                .or_else(|| e["detail"].as_str())
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            (Some(c.to_string()), format!("{c}: {m}{detail}"))
        }
        _ => (
            None,
            body.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect(),
        ),
    }
}
