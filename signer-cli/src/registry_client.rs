//! A session with one repository of an image registry (Registry HTTP API v2), for what the
//! cosign bridge reads and writes: manifests by tag or digest, blobs, monolithic blob uploads
//! (POST to open, PUT with the content and its digest) and manifest PUTs, all under the
//! registry's token auth with docker's credentials. TLS trust as [`crate::tls_roots`] has it.

use crate::auth;
use crate::error::CliError;
use crate::registry::{ACCEPT, MANIFEST_LIMIT};
use crate::tls_roots;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Redirects followed for a blob GET (registries may send blobs from a storage backend).
const BLOB_REDIRECTS: usize = 3;

/// What went wrong talking to the registry. Every variant names the registry host; as a
/// [`CliError`] it reads `registry <host>: <what>`.
#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("{reason}")]
    Transport { host: String, reason: String },
    #[error("{what}: HTTP {status}{detail}")]
    Status {
        host: String,
        what: String,
        status: u16,
        /// `: CODE: message` from the registry's error body, when it has one.
        detail: String,
    },
    #[error("not authorized for {scope}{hint}")]
    Unauthorized {
        host: String,
        scope: String,
        hint: &'static str,
    },
    #[error("{what} is larger than {limit} bytes")]
    TooLarge {
        host: String,
        what: String,
        limit: u64,
    },
    #[error("{what} does not match its digest {digest}")]
    DigestMismatch {
        host: String,
        what: String,
        digest: String,
    },
    /// Logging in failed (the token service's own error, already naming the registry).
    #[error(transparent)]
    Login(CliError),
}

impl From<RegistryError> for CliError {
    fn from(e: RegistryError) -> CliError {
        let host = match &e {
            RegistryError::Login(_) => None,
            RegistryError::Transport { host, .. }
            | RegistryError::Status { host, .. }
            | RegistryError::Unauthorized { host, .. }
            | RegistryError::TooLarge { host, .. }
            | RegistryError::DigestMismatch { host, .. } => Some(host.clone()),
        };
        match (e, host) {
            (RegistryError::Login(c), _) => c,
            (e, Some(host)) => CliError::Registry {
                host,
                reason: e.to_string(),
            },
            (e, None) => CliError::Refused(e.to_string()),
        }
    }
}

/// What a session asks the token service for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Pull,
    /// Pushing blobs and manifests (cosign signatures).
    PushPull,
}

impl Access {
    fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::PushPull => "pull,push",
        }
    }
}

/// A manifest as the registry holds it.
pub struct StoredManifest {
    pub sha256: [u8; 32],
    pub size: i64,
    pub bytes: Vec<u8>,
}

impl StoredManifest {
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.sha256))
    }
}

/// One repository of one registry, with a token (when the registry wants one) for the
/// actions asked at [`RegistryClient::connect`].
pub struct RegistryClient {
    agent: ureq::Agent,
    /// Host as the image name spells it (`docker.io`, `registry.example.com:5000`).
    registry: String,
    /// Host the API answers on (`registry-1.docker.io` for Docker Hub).
    api_host: String,
    /// `https://<api_host>` or, for a registry on this machine, possibly `http://`.
    base: String,
    /// Repository path inside the registry (`team/app`).
    pub repository: String,
    access: Access,
    /// `--tlscacert`, also trusted for the token service.
    ca: Option<PathBuf>,
    timeout: Duration,
    authorization: Option<String>,
    /// The actions the current token grants on this repository, when the token says so.
    granted: Option<Vec<String>>,
}

/// The registry's error body as `: CODE: message`, or nothing.
fn error_detail(r: ureq::Response) -> String {
    let mut body = String::new();
    let _ = r.into_reader().take(4096).read_to_string(&mut body);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let e = &v["errors"][0];
    match (e["code"].as_str(), e["message"].as_str()) {
        (Some(c), Some(m)) => format!(": {c}: {m}"),
        _ => String::new(),
    }
}

fn read_limited(
    resp: ureq::Response,
    host: &str,
    what: &str,
    limit: u64,
) -> Result<Vec<u8>, RegistryError> {
    let too_large = || RegistryError::TooLarge {
        host: host.to_string(),
        what: what.to_string(),
        limit,
    };
    if resp
        .header("Content-Length")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    resp.into_reader()
        .take(limit + 1)
        .read_to_end(&mut body)
        .map_err(|e| RegistryError::Transport {
            host: host.to_string(),
            reason: format!("{what}: {e}"),
        })?;
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(body)
}

/// `sha256:<hex>` of bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The outcome of one request: the response, or the status with the response to read.
enum Sent {
    Ok(ureq::Response),
    Status(u16, ureq::Response),
}

impl RegistryClient {
    /// Opens `gun`'s repository in its registry: HTTPS, or plain HTTP for a registry on this
    /// machine that does not speak TLS (as docker treats loopback registries as insecure; a
    /// certificate problem is reported, not retried over HTTP). When the registry challenges,
    /// takes a token for `access` with docker's credentials. `ca` is `--tlscacert`.
    pub fn connect(
        gun: &str,
        access: Access,
        ca: Option<&Path>,
        timeout: Duration,
    ) -> Result<RegistryClient, CliError> {
        let (registry, repository) = gun
            .split_once('/')
            .ok_or_else(|| CliError::Usage(format!("{gun}: no registry host")))?;
        let api_host = if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        let agent = tls_roots::builder_for(api_host, ca, timeout)?
            .redirects(0)
            .build();
        let mut client = RegistryClient {
            agent,
            registry: registry.to_string(),
            api_host: api_host.to_string(),
            base: format!("https://{api_host}"),
            repository: repository.to_string(),
            access,
            ca: ca.map(Path::to_path_buf),
            timeout,
            authorization: None,
            granted: None,
        };
        // The version check docker starts with: 200, or 401 with the challenge.
        let mut ping = client.agent.get(&format!("{}/v2/", client.base)).call();
        if let Err(ureq::Error::Transport(t)) = &ping {
            let certificate = t.to_string().contains("invalid peer certificate")
                || t.to_string().contains("UnknownIssuer");
            if auth::is_loopback_host(api_host) && !certificate {
                client.base = format!("http://{api_host}");
                ping = client.agent.get(&format!("{}/v2/", client.base)).call();
            }
        }
        match ping {
            Ok(_) => Ok(client),
            Err(ureq::Error::Status(401, r)) => {
                let challenge = r.header("WWW-Authenticate").map(str::to_string);
                client.login(challenge.as_deref())?;
                Ok(client)
            }
            Err(ureq::Error::Status(code, r)) => Err(RegistryError::Status {
                host: api_host.to_string(),
                what: "GET /v2/".into(),
                status: code,
                detail: error_detail(r),
            }
            .into()),
            Err(e) => Err(CliError::Registry {
                host: api_host.to_string(),
                reason: tls_roots::describe_transport_error(api_host, &e, timeout),
            }),
        }
    }

    /// Whether the session may push, as far as the registry's token tells: `None` when there
    /// is no token or it is opaque (the registry decides at the first push).
    pub fn may_push(&self) -> Option<bool> {
        self.granted
            .as_ref()
            .map(|a| a.iter().any(|x| x == "push" || x == "*"))
    }

    pub fn host(&self) -> &str {
        &self.api_host
    }

    fn scope(&self) -> String {
        format!("repository:{}:{}", self.repository, self.access.actions())
    }

    /// Answers a `WWW-Authenticate` challenge with a token for this session's scope.
    fn login(&mut self, challenge: Option<&str>) -> Result<(), RegistryError> {
        let peer = auth::Peer::Registry {
            host: self.api_host.clone(),
            timeout: self.timeout,
        };
        let challenge = challenge.and_then(auth::parse_challenge).ok_or_else(|| {
            RegistryError::Login(
                peer.error("401 without a usable WWW-Authenticate challenge".into()),
            )
        })?;
        let creds = auth::credentials(&self.registry);
        let header = auth::authorize(
            &peer,
            self.ca.as_deref(),
            &challenge,
            &self.scope(),
            creds.as_ref(),
        )
        .map_err(RegistryError::Login)?;
        self.granted = header
            .strip_prefix("Bearer ")
            .and_then(|t| granted_actions(t, &self.repository));
        self.authorization = Some(header);
        Ok(())
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repository)
    }

    /// Sends a request with the session's token; on a 401 logs in again once (a token that
    /// expired) and resends.
    fn send(
        &mut self,
        make: &dyn Fn(&ureq::Agent) -> ureq::Request,
        body: Option<&[u8]>,
    ) -> Result<Sent, RegistryError> {
        match self.send_once(make, body)? {
            Sent::Status(401, r) => {
                let challenge = r.header("WWW-Authenticate").map(str::to_string);
                self.login(challenge.as_deref())?;
                match self.send_once(make, body)? {
                    Sent::Status(401 | 403, _) => Err(self.unauthorized()),
                    other => Ok(other),
                }
            }
            Sent::Status(403, _) => Err(self.unauthorized()),
            other => Ok(other),
        }
    }

    fn send_once(
        &self,
        make: &dyn Fn(&ureq::Agent) -> ureq::Request,
        body: Option<&[u8]>,
    ) -> Result<Sent, RegistryError> {
        let mut req = make(&self.agent);
        if let Some(a) = &self.authorization {
            req = req.set("Authorization", a);
        }
        let result = match body {
            Some(b) => req.send_bytes(b),
            None => req.call(),
        };
        match result {
            Ok(r) => Ok(Sent::Ok(r)),
            Err(ureq::Error::Status(code, r)) => Ok(Sent::Status(code, r)),
            Err(e) => Err(RegistryError::Transport {
                host: self.api_host.clone(),
                reason: e.to_string(),
            }),
        }
    }

    fn unauthorized(&self) -> RegistryError {
        let hint = if auth::credentials(&self.registry).is_none() {
            " (no docker credentials for this registry: docker login)"
        } else {
            ""
        };
        RegistryError::Unauthorized {
            host: self.api_host.clone(),
            scope: self.scope(),
            hint,
        }
    }

    fn status_error(&self, what: &str, code: u16, r: ureq::Response) -> RegistryError {
        RegistryError::Status {
            host: self.api_host.clone(),
            what: what.to_string(),
            status: code,
            detail: error_detail(r),
        }
    }

    /// GET a manifest by tag or digest; `Ok(None)` when the registry has none. The content is
    /// checked against the digest asked for, or the `Docker-Content-Digest` it answers with.
    pub fn manifest(&mut self, reference: &str) -> Result<Option<StoredManifest>, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let what = format!("manifest {}:{reference}", self.repository);
        let resp = match self.send(&|a| a.get(&url).set("Accept", ACCEPT), None)? {
            Sent::Ok(r) => r,
            Sent::Status(404, _) => return Ok(None),
            Sent::Status(code, r) => return Err(self.status_error(&what, code, r)),
        };
        let header_digest = resp.header("Docker-Content-Digest").map(str::to_string);
        let bytes = read_limited(resp, &self.api_host, &what, MANIFEST_LIMIT)?;
        let sha: [u8; 32] = Sha256::digest(&bytes).into();
        let actual = format!("sha256:{}", hex::encode(sha));
        let expected = if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            header_digest
        };
        if let Some(d) = expected {
            if d != actual {
                return Err(RegistryError::DigestMismatch {
                    host: self.api_host.clone(),
                    what,
                    digest: d,
                });
            }
        }
        Ok(Some(StoredManifest {
            sha256: sha,
            size: bytes.len() as i64,
            bytes,
        }))
    }

    /// GET a blob, following the registry's redirect to its storage (without the token), and
    /// checks its content against `digest`.
    pub fn blob(&mut self, digest: &str, limit: u64) -> Result<Vec<u8>, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let what = format!("blob {digest}");
        let resp = match self.send(&|a| a.get(&url), None)? {
            Sent::Ok(r) => r,
            Sent::Status(code, r) if is_redirect(code) => self.follow(&url, r, &what)?,
            Sent::Status(code, r) => return Err(self.status_error(&what, code, r)),
        };
        let bytes = read_limited(resp, &self.api_host, &what, limit)?;
        if sha256_digest(&bytes) != digest {
            return Err(RegistryError::DigestMismatch {
                host: self.api_host.clone(),
                what,
                digest: digest.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Follows a blob redirect chain; the token stays with the registry.
    fn follow(
        &self,
        from: &str,
        mut redirect: ureq::Response,
        what: &str,
    ) -> Result<ureq::Response, RegistryError> {
        let mut from = from.to_string();
        for _ in 0..BLOB_REDIRECTS {
            let Some(location) = redirect.header("Location") else {
                break;
            };
            let target = resolve_location(&from, location);
            match self.agent.get(&target).call() {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(code, r)) if is_redirect(code) => {
                    from = target;
                    redirect = r;
                }
                Err(ureq::Error::Status(code, r)) => return Err(self.status_error(what, code, r)),
                Err(e) => {
                    return Err(RegistryError::Transport {
                        host: self.api_host.clone(),
                        reason: format!("{what}: {e}"),
                    })
                }
            }
        }
        Err(RegistryError::Transport {
            host: self.api_host.clone(),
            reason: format!("{what}: redirect without a Location, or more than {BLOB_REDIRECTS}"),
        })
    }

    /// HEAD a blob: whether the repository already has it.
    pub fn has_blob(&mut self, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        match self.send(&|a| a.head(&url), None)? {
            Sent::Ok(_) => Ok(true),
            // A redirect means the blob exists in the backend storage.
            Sent::Status(code, _) if is_redirect(code) => Ok(true),
            Sent::Status(404, _) => Ok(false),
            Sent::Status(code, r) => Err(self.status_error(&format!("blob {digest}"), code, r)),
        }
    }

    /// Uploads a blob in one piece (POST to open the upload, PUT with the content and its
    /// digest), unless the repository has it already. Returns its digest.
    pub fn upload_blob(&mut self, bytes: &[u8]) -> Result<String, RegistryError> {
        let digest = sha256_digest(bytes);
        if self.has_blob(&digest)? {
            return Ok(digest);
        }
        let start = self.url("blobs/uploads/");
        let what = format!("upload of blob {digest}");
        let location = match self.send(&|a| a.post(&start), Some(b""))? {
            Sent::Ok(r) if r.status() == 202 => r.header("Location").map(str::to_string),
            Sent::Ok(r) => {
                let code = r.status();
                return Err(self.status_error(&what, code, r));
            }
            Sent::Status(code, r) => return Err(self.status_error(&what, code, r)),
        }
        .ok_or_else(|| RegistryError::Transport {
            host: self.api_host.clone(),
            reason: format!("{what}: 202 without a Location"),
        })?;
        let mut put = resolve_location(&start, &location);
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str("digest=");
        put.push_str(&digest.replace(':', "%3A"));
        match self.send(
            &|a| a.put(&put).set("Content-Type", "application/octet-stream"),
            Some(bytes),
        )? {
            Sent::Ok(r) if r.status() == 201 => Ok(digest),
            Sent::Ok(r) => {
                let code = r.status();
                Err(self.status_error(&what, code, r))
            }
            Sent::Status(code, r) => Err(self.status_error(&what, code, r)),
        }
    }

    /// PUT a manifest under a tag (or digest). Returns the digest the registry stored it as,
    /// checked against the content sent.
    pub fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let what = format!("manifest {}:{reference}", self.repository);
        let digest = sha256_digest(bytes);
        let resp = match self.send(
            &|a| a.put(&url).set("Content-Type", media_type),
            Some(bytes),
        )? {
            Sent::Ok(r) => r,
            Sent::Status(code, r) => return Err(self.status_error(&what, code, r)),
        };
        match resp.header("Docker-Content-Digest") {
            Some(d) if d != digest => Err(RegistryError::DigestMismatch {
                host: self.api_host.clone(),
                what,
                digest: d.to_string(),
            }),
            _ => Ok(digest),
        }
    }
}

/// The actions a registry JWT (distribution's token format: an `access` claim of
/// `{type, name, actions}`) grants on `repository`; `None` for a token that is not such a JWT.
/// Read only to explain a refusal early; the registry checks the token itself.
fn granted_actions(token: &str, repository: &str) -> Option<Vec<String>> {
    use base64::Engine;
    let claims = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let access = v.get("access")?.as_array()?;
    Some(
        access
            .iter()
            .filter(|a| a["type"] == "repository" && a["name"] == repository)
            .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
    )
}

fn is_redirect(code: u16) -> bool {
    matches!(code, 301 | 302 | 303 | 307 | 308)
}

/// A `Location` header as an absolute URL (registries may answer with a path).
fn resolve_location(request_url: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let origin_end = request_url
        .find("://")
        .and_then(|i| request_url[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(request_url.len());
    format!("{}{location}", &request_url[..origin_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_grants_are_read_from_distribution_jwts() {
        use base64::Engine;
        let enc = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let jwt = |access: serde_json::Value| {
            format!(
                "{}.{}.sig",
                enc(serde_json::json!({"alg": "ES256"})),
                enc(serde_json::json!({"access": access}))
            )
        };
        let pull_only = jwt(
            serde_json::json!([{"type": "repository", "name": "team/app", "actions": ["pull"]}]),
        );
        assert_eq!(
            granted_actions(&pull_only, "team/app"),
            Some(vec!["pull".to_string()])
        );
        assert_eq!(granted_actions(&pull_only, "team/other"), Some(vec![]));
        let both = jwt(
            serde_json::json!([{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]),
        );
        assert_eq!(
            granted_actions(&both, "team/app"),
            Some(vec!["pull".to_string(), "push".to_string()])
        );
        assert_eq!(granted_actions("opaque-token", "team/app"), None);
        assert_eq!(
            granted_actions(
                &format!(
                    "{}.{}.s",
                    enc(serde_json::json!({})),
                    enc(serde_json::json!({"sub": "x"}))
                ),
                "team/app"
            ),
            None
        );
    }

    #[test]
    fn locations_resolve_against_the_request_origin() {
        assert_eq!(
            resolve_location(
                "http://127.0.0.1:5000/v2/team/app/blobs/uploads/",
                "/v2/team/app/blobs/uploads/abc?_state=x"
            ),
            "http://127.0.0.1:5000/v2/team/app/blobs/uploads/abc?_state=x"
        );
        assert_eq!(
            resolve_location(
                "https://r.example/v2/a/blobs/x",
                "https://s3.example/obj?sig=1"
            ),
            "https://s3.example/obj?sig=1"
        );
    }
}
