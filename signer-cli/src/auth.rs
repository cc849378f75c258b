//! Registry-style token auth as docker does it, for the registry and the trust server: the
//! 401 `WWW-Authenticate` challenge, docker's credentials (`config.json` `auths`, credential
//! helpers, identity tokens) and the token request to the realm.

use crate::docker_config::docker_config_dir;
use crate::error::CliError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::io::{Read, Write};
use std::time::Duration;

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-cased: `bearer` or `basic`.
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `Bearer realm="…",service="…",scope="repository:a/b:push,pull"`. Quoted values may
/// hold commas (a scope with several actions does) and backslash escapes.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = match header.split_once(char::is_whitespace) {
        Some((s, r)) => (s, r),
        None => (header, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        chars.next_if_eq(&'=')?;
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return None;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.push((key.to_ascii_lowercase(), value));
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// docker's credentials for a registry.
#[derive(Clone)]
pub enum Credentials {
    Password {
        user: String,
        secret: String,
    },
    /// An OAuth2 refresh token (a credential helper answered with user `<token>`).
    IdentityToken(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { user, .. } => write!(f, "Password({user}, <hidden>)"),
            Credentials::IdentityToken(_) => write!(f, "IdentityToken(<hidden>)"),
        }
    }
}

/// The key docker files a registry's credentials under.
pub fn config_key(registry_host: &str) -> String {
    if registry_host == "docker.io" || registry_host == "index.docker.io" {
        "https://index.docker.io/v1/".into()
    } else {
        registry_host.to_string()
    }
}

/// Credentials for a registry host from `$DOCKER_CONFIG/config.json`: the credential helper
/// for the host (`credHelpers`, else `credsStore`), then `auths.<host>.auth`/`identitytoken`;
/// `NOTARY_AUTH` (base64 `user:password`) last, as the notary CLI reads it.
pub fn credentials(registry_host: &str) -> Option<Credentials> {
    let key = config_key(registry_host);
    let cfg: serde_json::Value = std::fs::read(docker_config_dir().join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let helper = cfg["credHelpers"][&key]
        .as_str()
        .or_else(|| cfg["credsStore"].as_str())
        .filter(|h| !h.is_empty());
    if let Some(c) = helper.and_then(|h| from_helper(h, &key)) {
        return Some(c);
    }
    let entry = [
        key.clone(),
        format!("https://{key}"),
        format!("http://{key}"),
    ]
    .into_iter()
    .map(|k| &cfg["auths"][k])
    .find(|e| e.is_object());
    if let Some(entry) = entry {
        if let Some(t) = entry["identitytoken"].as_str().filter(|t| !t.is_empty()) {
            return Some(Credentials::IdentityToken(t.to_string()));
        }
        if let Some(c) = entry["auth"].as_str().and_then(decode_basic) {
            return Some(c);
        }
    }
    std::env::var("NOTARY_AUTH")
        .ok()
        .and_then(|v| decode_basic(v.trim()))
}

fn decode_basic(b64: &str) -> Option<Credentials> {
    let decoded = String::from_utf8(B64.decode(b64).ok()?).ok()?;
    let (user, secret) = decoded.split_once(':')?;
    Some(Credentials::Password {
        user: user.to_string(),
        secret: secret.to_string(),
    })
}

/// `docker-credential-<helper> get` with the server URL on stdin.
fn from_helper(helper: &str, key: &str) -> Option<Credentials> {
    let mut child = std::process::Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let wrote = child
        .stdin
        .take()
        .map(|mut s| s.write_all(key.as_bytes()).is_ok());
    let out = child.wait_with_output().ok()?;
    if wrote != Some(true) || !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let user = v["Username"].as_str()?.to_string();
    let secret = v["Secret"].as_str()?.to_string();
    if user == "<token>" {
        Some(Credentials::IdentityToken(secret))
    } else {
        Some(Credentials::Password { user, secret })
    }
}

/// `host[:port]` names this machine: `localhost`, `127.x.y.z` or `[::1]`.
pub fn is_loopback_host(hostport: &str) -> bool {
    let h = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => hostport,
    };
    h == "localhost"
        || h == "[::1]"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    is_loopback_host(rest.split(['/', '?', '#']).next().unwrap_or(""))
}

/// The server a request went to, to name it in errors.
pub enum Peer {
    TrustServer { url: String, timeout: Duration },
    Registry { host: String, timeout: Duration },
}

impl Peer {
    pub fn error(&self, reason: String) -> CliError {
        match self {
            Peer::TrustServer { url, .. } => CliError::Server {
                server: url.clone(),
                reason,
            },
            Peer::Registry { host, .. } => CliError::Registry {
                host: host.clone(),
                reason,
            },
        }
    }

    pub fn timeout(&self) -> Duration {
        match self {
            Peer::TrustServer { timeout, .. } | Peer::Registry { timeout, .. } => *timeout,
        }
    }
}

/// The `Authorization` header value answering `challenge` for `scope`
/// (`repository:<name>:<actions>`). `who` names the server in errors. The token request goes
/// through an agent that trusts the CAs configured for the realm's host.
pub fn authorize(
    who: &Peer,
    ca: Option<&std::path::Path>,
    challenge: &Challenge,
    scope: &str,
    creds: Option<&Credentials>,
) -> Result<String, CliError> {
    let fail = |reason: String| who.error(reason);
    if challenge.scheme == "basic" {
        return match creds {
            Some(Credentials::Password { user, secret }) => {
                Ok(format!("Basic {}", B64.encode(format!("{user}:{secret}"))))
            }
            _ => Err(fail("authentication required: run docker login".into())),
        };
    }
    if challenge.scheme != "bearer" {
        return Err(fail(format!(
            "unsupported authentication scheme {:?}",
            challenge.scheme
        )));
    }
    let realm = challenge
        .param("realm")
        .ok_or_else(|| fail("authentication challenge without a realm".into()))?;
    // Credentials never travel in clear text, except to a token service on this machine.
    if !(realm.starts_with("https://") || is_loopback_url(realm)) {
        return Err(fail(format!(
            "token realm {realm:?} is not an https:// URL"
        )));
    }
    let realm_host = crate::tls_roots::url_hostport(realm);
    let agent = crate::tls_roots::agent_for(realm_host, ca, who.timeout())?;
    let service = challenge.param("service");
    let token_err = |e: ureq::Error| match e {
        ureq::Error::Status(401 | 403, _) => fail(format!(
            "token service {realm} refused the credentials for {scope} (docker login?)"
        )),
        ureq::Error::Status(code, _) => fail(format!("token service {realm} answered HTTP {code}")),
        e => fail(format!(
            "token service {realm}: {}",
            crate::tls_roots::describe_transport_error(realm_host, &e, who.timeout())
        )),
    };
    let resp = match creds {
        Some(Credentials::IdentityToken(refresh)) => {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("scope", scope),
                ("client_id", "docker"),
            ];
            if let Some(s) = service {
                form.push(("service", s));
            }
            agent.post(realm).send_form(&form).map_err(token_err)?
        }
        other => {
            let mut req = agent.get(realm).query("scope", scope);
            if let Some(s) = service {
                req = req.query("service", s);
            }
            if let Some(Credentials::Password { user, secret }) = other {
                req = req.query("account", user).set(
                    "Authorization",
                    &format!("Basic {}", B64.encode(format!("{user}:{secret}"))),
                );
            }
            req.call().map_err(token_err)?
        }
    };
    let mut text = String::new();
    resp.into_reader()
        .take(1 << 20)
        .read_to_string(&mut text)
        .map_err(|e| fail(format!("token response: {e}")))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| fail(format!("token response: {e}")))?;
    let token = v["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .or_else(|| v["token"].as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| fail("token response without a token".into()))?;
    Ok(format!("Bearer {token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_with_commas_in_quotes() {
        let c = parse_challenge(r#"Bearer realm="https://auth.example/token",service="notary-server",scope="repository:docker.io/library/alpine:push,pull",error="insufficient_scope""#).unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("service"), Some("notary-server"));
        assert_eq!(
            c.param("scope"),
            Some("repository:docker.io/library/alpine:push,pull")
        );
        assert_eq!(c.param("error"), Some("insufficient_scope"));
        let b = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(b.scheme, "basic");
        assert_eq!(b.param("realm"), Some("Registry Realm"));
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
        assert!(parse_challenge(r#"Bearer realm"#).is_none());
        let e = parse_challenge(r#"Bearer realm="a\"b", service=x"#).unwrap();
        assert_eq!(e.param("realm"), Some("a\"b"));
        assert_eq!(e.param("service"), Some("x"));
    }

    #[test]
    fn credential_keys_and_loopback_realms() {
        assert_eq!(config_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(config_key("registry.test:5000"), "registry.test:5000");
        assert!(is_loopback_url("http://127.0.0.1:8080/token"));
        assert!(is_loopback_url("http://localhost/token"));
        assert!(!is_loopback_url("http://auth.example/token"));
        assert!(!is_loopback_url("http://127.0.0.1.evil.example/token"));
        assert!(matches!(
            decode_basic(&B64.encode("alice:s3:cret")),
            Some(Credentials::Password { ref user, ref secret }) if user == "alice" && secret == "s3:cret"
        ));
        assert!(decode_basic("%%%").is_none());
    }
}
