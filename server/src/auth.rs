//! Token authentication for the trust routes and the token service itself (docker registry
//! token spec, protocol reference §6). Active as soon as one registry is configured; with
//! none, the server is the open embedded default.

use crate::tenancy::{self, Principal, Tenancy};
use crate::token::{self, Access, Audience, Claims, TokenError, TokenKeys};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Token settings.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// `iss` of issued tokens (and what a distribution registry's `issuer` must say).
    pub issuer: String,
    /// The trust service's name: `service` in challenges and `aud` of trust tokens.
    pub service: String,
    /// Token endpoint URL for challenges; default `https://<Host of the request>/oauth2/token`.
    pub realm: Option<String>,
    pub token_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// Bearer credential of the `/admin/v1/` API; `None` disables the API.
    pub operator_token: Option<Zeroizing<String>>,
    /// How the token endpoint's password checks are bounded and failures slowed down.
    pub password_checks: crate::password_guard::GuardConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: "signet".into(),
            service: "signet".into(),
            realm: None,
            token_ttl_secs: 300,
            refresh_ttl_secs: 14 * 24 * 3600,
            operator_token: None,
            password_checks: Default::default(),
        }
    }
}

/// Why a request is not let through.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization: Bearer` at all.
    NoToken,
    Invalid(TokenError),
    InsufficientScope,
}

impl Denied {
    /// The `error=` of the challenge.
    pub fn challenge_error(&self) -> Option<&'static str> {
        match self {
            Denied::NoToken => None,
            Denied::Invalid(_) => Some("invalid_token"),
            Denied::InsufficientScope => Some("insufficient_scope"),
        }
    }
}

/// `Bearer realm="..",service="..",scope=".."[,error=".."]`. Every value is a quoted-string
/// (RFC 9110 §5.6.4): a `"` or `\\` in a crafted name is escaped, so it cannot close the
/// value and add parameters of its own; control characters are dropped.
pub fn challenge(realm: &str, service: &str, scope: &str, error: Option<&str>) -> String {
    let mut v = String::from("Bearer ");
    let mut param = |name: &str, value: &str, first: bool| {
        if !first {
            v.push(',');
        }
        v.push_str(name);
        v.push_str("=\"");
        for c in value.chars().filter(|c| !c.is_control()) {
            if c == '"' || c == '\\' {
                v.push('\\');
            }
            v.push(c);
        }
        v.push('"');
    };
    param("realm", realm, true);
    param("service", service, false);
    param("scope", scope, false);
    if let Some(e) = error {
        param("error", e, false);
    }
    v
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer_credential(authorization: &str) -> Option<&str> {
    let (scheme, rest) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// User and password of an `Authorization: Basic <base64>` header value.
pub fn basic_credentials(authorization: &str) -> Option<(String, Zeroizing<String>)> {
    use base64::Engine;
    let (scheme, rest) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?,
    );
    let text = std::str::from_utf8(&raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), Zeroizing::new(pass.to_string())))
}

/// Checks a bearer token for every `action` on `<kind>:<name>` of the trust service; returns
/// the token's subject (who is acting).
pub fn check_trust_token(
    keys: &TokenKeys,
    cfg: &AuthConfig,
    bearer: Option<&str>,
    kind: &str,
    name: &str,
    actions: &[&str],
    now: i64,
) -> Result<String, Denied> {
    let token = bearer.ok_or(Denied::NoToken)?;
    let claims = keys
        .verify(token, &cfg.issuer, &cfg.service, now)
        .map_err(Denied::Invalid)?;
    if actions.iter().all(|a| claims.grants(kind, name, a)) {
        Ok(claims.sub.clone())
    } else {
        Err(Denied::InsufficientScope)
    }
}

/// One parsed `scope`: `repository:<name>:<actions>` (the name may hold a port).
#[derive(Debug, PartialEq, Eq)]
pub struct Scope {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

pub fn parse_scope(s: &str) -> Option<Scope> {
    let (kind, rest) = s.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    // `repository(plugin)` is a resource class: same type for access purposes.
    let kind = kind.split('(').next().unwrap_or(kind);
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    Some(Scope {
        kind: kind.to_string(),
        name: name.to_string(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// What the token service grants a principal for one requested scope: the intersection of
/// what was asked and what the principal's roles allow.
pub fn grant(
    t: &Tenancy,
    cfg: &AuthConfig,
    service: &str,
    who: &Principal,
    scope: &Scope,
) -> Vec<String> {
    let allowed = |action: &str| -> bool {
        if service == cfg.service {
            // Trust data: names are GUNs, `<login server>/<repository>`.
            if scope.kind != "repository" {
                return false;
            }
            let Some((reg, repo)) = t.resolve_gun(&scope.name) else {
                return false;
            };
            let a = t.trust_access(who, reg, repo);
            match action {
                "pull" => a.pull,
                "push" => a.push,
                "*" => a.all,
                _ => false,
            }
        } else if let Some(reg) = t.registry_by_login_server(service) {
            // A registry's own service: names are repositories inside it.
            match scope.kind.as_str() {
                "repository" => {
                    let a = t.image_access(who, reg, &scope.name);
                    match action {
                        "pull" => a.pull,
                        "push" => a.push,
                        "delete" => a.delete,
                        "*" => a.pull && a.push && a.delete,
                        _ => false,
                    }
                }
                "registry" => scope.name == "catalog" && t.catalog_access(who, reg),
                _ => false,
            }
        } else {
            false
        }
    };
    let mut out: Vec<String> = Vec::new();
    for a in &scope.actions {
        if allowed(a) && !out.contains(a) {
            out.push(a.clone());
        }
    }
    out
}

/// Whether the token service knows `service` (the trust service or a registry's).
pub fn known_service(t: &Tenancy, cfg: &AuthConfig, service: &str) -> bool {
    service == cfg.service || t.registry_by_login_server(service).is_some()
}

/// The stored password hash a principal authenticated with (refresh tokens are bound to it).
pub fn password_fingerprint(t: &Tenancy, who: &Principal) -> Option<String> {
    let phc = match who {
        Principal::Identity(n) => t.identities.get(n).map(|i| i.secret_hash.as_str()),
        Principal::Admin { registry } => t
            .registries
            .get(registry)
            .filter(|r| r.admin_user_enabled)
            .and_then(|r| r.admin_password_hash.as_deref()),
        Principal::Anonymous => None,
    }?;
    use sha2::Digest;
    Some(hex::encode(&sha2::Sha256::digest(phc.as_bytes())[..8]))
}

/// The principal a refresh token stands for, if it is still valid (same password).
pub fn principal_from_refresh(
    t: &Tenancy,
    keys: &TokenKeys,
    cfg: &AuthConfig,
    refresh: &str,
    now: i64,
) -> Option<Principal> {
    let claims = keys
        .verify(refresh, &cfg.issuer, token::REFRESH_AUDIENCE, now)
        .ok()?;
    let who = if t.identities.contains_key(&claims.sub) {
        Principal::Identity(claims.sub.clone())
    } else if t.registries.contains_key(&claims.sub) {
        Principal::Admin {
            registry: claims.sub.clone(),
        }
    } else {
        return None;
    };
    (password_fingerprint(t, &who)? == *claims.pwh.as_ref()?).then_some(who)
}

/// Checks a user name and password (argon2id: call off the async threads).
pub fn login(t: &Tenancy, user: &str, password: &str) -> Option<Principal> {
    tenancy::authenticate(t, user, password)
}

pub fn access_claims(
    cfg: &AuthConfig,
    who: &Principal,
    service: &str,
    access: Vec<Access>,
    now: i64,
) -> Claims {
    Claims {
        iss: cfg.issuer.clone(),
        sub: who.subject().to_string(),
        aud: Audience::One(service.to_string()),
        exp: now + cfg.token_ttl_secs,
        nbf: now - 10,
        iat: now,
        jti: token::new_jti(),
        access,
        pwh: None,
    }
}

pub fn refresh_claims(cfg: &AuthConfig, t: &Tenancy, who: &Principal, now: i64) -> Option<Claims> {
    Some(Claims {
        iss: cfg.issuer.clone(),
        sub: who.subject().to_string(),
        aud: Audience::One(token::REFRESH_AUDIENCE.into()),
        exp: now + cfg.refresh_ttl_secs,
        nbf: now - 10,
        iat: now,
        jti: token::new_jti(),
        access: Vec::new(),
        pwh: Some(password_fingerprint(t, who)?),
    })
}

/// Form or query pairs, percent-decoded (`+` is a space).
pub fn form_pairs(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A registry whose trust routes answer: shown in errors when content trust is off.
pub fn trust_disabled_detail(registry: &str, login_server: &str) -> serde_json::Value {
    serde_json::json!({
        "Name": "ErrValidation",
        "Error": {"Msg": format!(
            "content trust is disabled for registry {registry} ({login_server}); an operator must enable it first"
        )},
    })
}

/// Shared, swappable view of the tenancy configuration.
pub struct TenancyState {
    current: std::sync::RwLock<Arc<Tenancy>>,
}

impl TenancyState {
    pub fn new(t: Tenancy) -> Self {
        TenancyState {
            current: std::sync::RwLock::new(Arc::new(t)),
        }
    }

    pub fn get(&self) -> Arc<Tenancy> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Installs a newer snapshot; returns false if `t` is not newer than the current one.
    pub fn replace(&self, t: Tenancy) -> bool {
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        if t.generation <= cur.generation && !(t.generation == 0 && cur.generation == 0) {
            return false;
        }
        *cur = Arc::new(t);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_with_ports_and_classes() {
        assert_eq!(
            parse_scope("repository:registry.test:5000/app:push,pull").unwrap(),
            Scope {
                kind: "repository".into(),
                name: "registry.test:5000/app".into(),
                actions: vec!["push".into(), "pull".into()]
            }
        );
        assert_eq!(
            parse_scope("repository(plugin):x/y:pull").unwrap().kind,
            "repository"
        );
        assert_eq!(
            parse_scope("registry:catalog:*").unwrap().actions,
            vec!["*"]
        );
        assert!(parse_scope("nonsense").is_none());
        assert!(parse_scope("repository::pull").is_none());
    }

    #[test]
    fn form_decoding() {
        let p = form_pairs("scope=repository%3Aa%2Fb%3Apull+x&service=signet&bad=%zz&empty");
        assert_eq!(p[0], ("scope".into(), "repository:a/b:pull x".into()));
        assert_eq!(p[1].1, "signet");
        assert_eq!(p[2].1, "%zz");
        assert_eq!(p[3], ("empty".into(), String::new()));
    }

    #[test]
    fn challenge_header_shape() {
        let h = challenge(
            "https://h:1/oauth2/token",
            "signet",
            "repository:h:1/a:push,pull",
            Some("insufficient_scope"),
        );
        assert_eq!(
            h,
            r#"Bearer realm="https://h:1/oauth2/token",service="signet",scope="repository:h:1/a:push,pull",error="insufficient_scope""#
        );
    }

    #[test]
    fn a_crafted_scope_cannot_add_challenge_parameters() {
        let h = challenge(
            "https://h/oauth2/token",
            "signet",
            "repository:h/a\",realm=\"https://evil\n:pull",
            None,
        );
        assert_eq!(
            h,
            r#"Bearer realm="https://h/oauth2/token",service="signet",scope="repository:h/a\",realm=\"https://evil:pull""#
        );
    }

    #[test]
    fn authorization_header_values() {
        assert_eq!(bearer_credential("Bearer abc "), Some("abc"));
        assert_eq!(bearer_credential("bearer x"), Some("x"));
        assert_eq!(bearer_credential("Basic x"), None);
        let (u, p) = basic_credentials("Basic YWxpY2U6czNjcjN0").unwrap();
        assert_eq!((u.as_str(), p.as_str()), ("alice", "s3cr3t"));
        assert!(basic_credentials("Basic !!").is_none());
    }
}
