//! A live Notary v1 server as an import source, for hosted sources whose server keys cannot be
//! exported: every version it serves of a repository (`signet_tuf::history`), fetched over
//! HTTPS with docker's token auth (a 401 challenge, then a token from its realm with the
//! credentials notary's CLI takes: `NOTARY_AUTH`, base64 of `user:password`).
//!
//! The source keeps its timestamp (and usually snapshot) key, so what is imported this way
//! is served read-only until the root key holder hands it over (`signet migrate`).

use super::chain::{History, SourceFile};
use super::ImportError;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Largest metadata file accepted from a source (a 10,000-tag targets file is about 2 MB).
const MAX_FILE_BYTES: u64 = 64 << 20;
/// Largest token response.
const MAX_TOKEN_BYTES: u64 = 1 << 20;
/// Connect and read timeout of each request.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The CA bundles looked for when the source's certificate is not from `--tlscacert`.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// A `WWW-Authenticate: Bearer …` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Challenge {
    realm: String,
    service: Option<String>,
}

fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut s = rest.trim();
    while !s.is_empty() {
        let (name, after) = s.split_once('=')?;
        let (value, tail) = match after.strip_prefix('"') {
            Some(q) => {
                let end = q.find('"')?;
                (&q[..end], &q[end + 1..])
            }
            None => match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            },
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value.to_string()),
            "service" => service = Some(value.to_string()),
            _ => {}
        }
        s = tail.trim_start_matches([',', ' ']);
    }
    Some(Challenge {
        realm: realm?,
        service,
    })
}

/// One Notary server, shared by the import workers (each request is independent; tokens are
/// kept per repository).
#[derive(Clone)]
pub struct NotaryHttp {
    base: String,
    agent: ureq::Agent,
    /// `user:password` for the token realm.
    credentials: Option<Arc<Zeroizing<String>>>,
    tokens: Arc<Mutex<std::collections::HashMap<String, String>>>,
}

impl NotaryHttp {
    /// `base` is the server's `https://host[:port]`; `ca` an extra CA bundle to trust.
    /// Credentials come from `NOTARY_AUTH` when set.
    pub fn new(base: &str, ca: Option<&Path>) -> Result<NotaryHttp, ImportError> {
        let base = base.trim_end_matches('/').to_string();
        if !base.starts_with("https://") {
            return Err(ImportError::Usage(format!(
                "--from {base:?}: give the Notary server's https:// URL"
            )));
        }
        let mut roots = rustls::RootCertStore::empty();
        let mut add = |f: &Path, strict: bool| -> Result<(), ImportError> {
            let pem = match std::fs::read(f) {
                Ok(p) => p,
                Err(e) if strict => {
                    return Err(ImportError::Usage(format!("{}: {e}", f.display())))
                }
                Err(_) => return Ok(()),
            };
            for cert in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
                if let Err(e) = roots.add(cert) {
                    if strict {
                        return Err(ImportError::Usage(format!("{}: {e}", f.display())));
                    }
                }
            }
            Ok(())
        };
        if let Some(b) = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
            add(b, false)?;
        }
        if let Some(f) = ca {
            add(f, true)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ImportError::Usage(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(tls))
            .timeout_connect(TIMEOUT)
            .timeout_read(TIMEOUT)
            .user_agent("signet-server import")
            .build();
        let credentials = match std::env::var("NOTARY_AUTH") {
            Ok(v) if !v.is_empty() => {
                use base64::Engine;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|s| s.contains(':'))
                    .ok_or_else(|| {
                        ImportError::Usage(
                            "NOTARY_AUTH is not base64 of user:password (as notary's CLI takes it)"
                                .into(),
                        )
                    })?;
                Some(Arc::new(Zeroizing::new(raw)))
            }
            _ => None,
        };
        Ok(NotaryHttp {
            base,
            agent,
            credentials,
            tokens: Arc::default(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn err(&self, what: impl std::fmt::Display) -> ImportError {
        ImportError::Source(format!("{}: {what}", self.base))
    }

    /// A token for `repository:<gun>:pull` from the challenge's realm.
    fn token(&self, gun: &str, challenge: &Challenge) -> Result<String, ImportError> {
        let scope = format!("repository:{gun}:pull");
        let mut req = self.agent.get(&challenge.realm).query("scope", &scope);
        if let Some(service) = &challenge.service {
            req = req.query("service", service);
        }
        if let Some(c) = &self.credentials {
            use base64::Engine;
            if let Some((user, _)) = c.split_once(':') {
                req = req.query("account", user);
            }
            let header = Zeroizing::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(c.as_bytes())
            ));
            req = req.set("Authorization", &header);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, _)) => {
                return Err(self.err(format!(
                    "the token service {} refused {scope} (HTTP {code}){}",
                    challenge.realm,
                    if self.credentials.is_none() {
                        "; set NOTARY_AUTH to base64 of user:password"
                    } else {
                        ""
                    }
                )))
            }
            Err(e) => return Err(self.err(format!("token service {}: {e}", challenge.realm))),
        };
        let mut body = Vec::new();
        resp.into_reader()
            .take(MAX_TOKEN_BYTES)
            .read_to_end(&mut body)
            .map_err(|e| self.err(e))?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| self.err(format!("token response: {e}")))?;
        v["access_token"]
            .as_str()
            .or_else(|| v["token"].as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| self.err("token response without a token"))
    }

    /// One metadata file of `gun`; `None` when the source does not have it.
    pub fn fetch(&self, gun: &str, file: &str) -> Result<Option<Vec<u8>>, ImportError> {
        let url = format!("{}/v2/{gun}/_trust/tuf/{file}", self.base);
        let token = lock(&self.tokens).get(gun).cloned();
        let mut retried = false;
        let mut bearer = token;
        loop {
            let mut req = self.agent.get(&url);
            if let Some(t) = &bearer {
                req = req.set("Authorization", &format!("Bearer {t}"));
            }
            let resp = match req.call() {
                Ok(r) => r,
                // Not found (or, for a role notary cannot resolve now, its 500): not served.
                Err(ureq::Error::Status(404, _)) => return Ok(None),
                Err(ureq::Error::Status(401, r)) if !retried => {
                    let challenge = r
                        .header("WWW-Authenticate")
                        .and_then(parse_challenge)
                        .ok_or_else(|| {
                            self.err(format!("GET {file}: 401 without a Bearer challenge"))
                        })?;
                    let t = self.token(gun, &challenge)?;
                    lock(&self.tokens).insert(gun.to_string(), t.clone());
                    bearer = Some(t);
                    retried = true;
                    continue;
                }
                Err(ureq::Error::Status(401, _)) => {
                    return Err(self.err(format!(
                        "not authorized to read {gun} (repository:{gun}:pull){}",
                        if self.credentials.is_none() {
                            ": set NOTARY_AUTH to base64 of user:password"
                        } else {
                            ": the credentials in NOTARY_AUTH do not grant it"
                        }
                    )))
                }
                Err(ureq::Error::Status(code, r)) => {
                    let body = r.into_string().unwrap_or_default();
                    let body: String = body.chars().take(300).collect();
                    return Err(
                        self.err(format!("GET {file} of {gun}: HTTP {code}: {}", body.trim()))
                    );
                }
                Err(e) => return Err(self.err(format!("GET {file} of {gun}: {e}"))),
            };
            let mut body = Vec::new();
            resp.into_reader()
                .take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut body)
                .map_err(|e| self.err(format!("GET {file} of {gun}: {e}")))?;
            if body.len() as u64 > MAX_FILE_BYTES {
                return Err(self.err(format!(
                    "{file} of {gun} is larger than {MAX_FILE_BYTES} bytes"
                )));
            }
            return Ok(Some(body));
        }
    }

    /// Every version the source serves of `gun`, and whether that is its whole history.
    pub fn files(&self, gun: &str) -> Result<(Vec<SourceFile>, History), ImportError> {
        super::client_cache::check_gun(gun)?;
        let fetched = signet_tuf::history::fetch_history(|file| self.fetch(gun, file)).map_err(
            |e| match e {
                signet_tuf::history::HistoryError::Fetch(e) => e,
                other => self.err(format!("{gun}: {other}")),
            },
        )?;
        let Some(fetched) = fetched else {
            return Err(ImportError::NotInSource);
        };
        let now = OffsetDateTime::now_utc();
        let history = if fetched.complete {
            History::Complete
        } else {
            History::Partial
        };
        let files = fetched
            .files
            .into_iter()
            .map(|f| SourceFile {
                role: f.role,
                version: f.version,
                bytes: f.bytes,
                recorded_sha256: None,
                created_at: now,
            })
            .collect();
        Ok((files, history))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The GUNs of a `--gun-file`: one a line; blank lines and `#` comments skipped.
pub fn read_gun_file(path: &Path) -> Result<Vec<String>, ImportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ImportError::Usage(format!("{}: {e}", path.display())))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed_as_docker_sends_them() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example.com/token",service="notary-server",scope="repository:a/b:push,pull""#
            ),
            Some(Challenge {
                realm: "https://auth.example.com/token".into(),
                service: Some("notary-server".into())
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="x""#), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }
}
