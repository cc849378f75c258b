//! The token service (docker registry token spec, and its OAuth2 form that docker uses with
//! identity tokens): who is asking, and what they are granted.

use super::TrustService;
use crate::auth;
use crate::tenancy::{self, Principal};
use crate::token::Access;
use std::sync::Arc;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// A token request as sent: query and form parameters in order, and Basic credentials.
pub struct TokenRequest {
    pub params: Vec<(String, String)>,
    pub basic: Option<(String, Zeroizing<String>)>,
    /// The client's address (repeated failures from it are slowed down).
    pub client: Option<std::net::IpAddr>,
}

/// Why no token is issued.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// 400: the request is incomplete or names something unknown (`error` is the OAuth2
    /// name).
    BadRequest {
        error: &'static str,
        message: &'static str,
    },
    /// 401: wrong user name or password (answered with a Basic challenge).
    BadCredentials,
    /// 401: the refresh token is not (or no longer) valid.
    BadRefreshToken,
    /// 429: too many recent failures for the identity or address, or every password check
    /// is busy; retry after this many seconds.
    SlowDown { retry_after_secs: u64 },
    /// 500: the token could not be signed.
    Internal,
}

impl TokenRefusal {
    /// The OAuth2 error name and message.
    pub fn error_and_message(&self) -> (&'static str, &'static str) {
        match self {
            TokenRefusal::BadRequest { error, message } => (error, message),
            TokenRefusal::BadCredentials => ("UNAUTHORIZED", "invalid username or password"),
            TokenRefusal::BadRefreshToken => ("invalid_grant", "refresh token is not valid"),
            TokenRefusal::SlowDown { .. } => (
                "TOOMANYREQUESTS",
                "too many failed logins or checks in progress; retry after the delay in Retry-After",
            ),
            TokenRefusal::Internal => ("server_error", "cannot sign token"),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            TokenRefusal::BadRequest { .. } => 400,
            TokenRefusal::BadCredentials | TokenRefusal::BadRefreshToken => 401,
            TokenRefusal::SlowDown { .. } => 429,
            TokenRefusal::Internal => 500,
        }
    }
}

fn bad_request(error: &'static str, message: &'static str) -> TokenRefusal {
    TokenRefusal::BadRequest { error, message }
}

impl TrustService {
    /// Issues an access token (and a refresh token when asked for offline access) granting
    /// the intersection of the requested scopes and the principal's roles. Returns the JSON
    /// body of the answer.
    pub async fn issue_token(
        self: &Arc<Self>,
        req: TokenRequest,
    ) -> Result<serde_json::Value, TokenRefusal> {
        let t = self.tenancy.get();
        let params = req.params;
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let service = get("service")
            .ok_or_else(|| bad_request("invalid_request", "service is required"))?
            .to_string();
        if !auth::known_service(&t, &self.auth, &service) {
            return Err(bad_request("invalid_request", "unknown service"));
        }
        let scopes: Vec<auth::Scope> = params
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| {
                v.split(' ')
                    .filter_map(auth::parse_scope)
                    .collect::<Vec<_>>()
            })
            .collect();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let grant_type = get("grant_type").map(str::to_string);
        let offline = get("offline_token") == Some("true") || get("access_type") == Some("offline");
        let credentials = match grant_type.as_deref() {
            Some("password") => match (get("username"), get("password")) {
                (Some(u), Some(p)) => Some((u.to_string(), Zeroizing::new(p.to_string()))),
                _ => {
                    return Err(bad_request(
                        "invalid_request",
                        "username and password are required",
                    ))
                }
            },
            Some("refresh_token") => None,
            Some(_) => {
                return Err(bad_request(
                    "unsupported_grant_type",
                    "grant_type must be password or refresh_token",
                ))
            }
            None => req.basic,
        };
        let principal = if grant_type.as_deref() == Some("refresh_token") {
            get("refresh_token")
                .and_then(|r| {
                    auth::principal_from_refresh(&t, &self.token_keys, &self.auth, r, now)
                })
                .ok_or(TokenRefusal::BadRefreshToken)?
        } else if let Some((user, pass)) = credentials {
            // argon2id (19 MiB each): on the guard's own threads, bounded, and slowed down
            // after repeated failures.
            let t2 = t.clone();
            let name = user.clone();
            self.password_guard
                .check(&name, req.client, move || auth::login(&t2, &user, &pass))
                .await
                .map_err(|refusal| TokenRefusal::SlowDown {
                    retry_after_secs: refusal.retry_after_secs(),
                })?
                .ok_or(TokenRefusal::BadCredentials)?
        } else {
            Principal::Anonymous
        };
        let access: Vec<Access> = scopes
            .iter()
            .filter_map(|s| {
                let actions = auth::grant(&t, &self.auth, &service, &principal, s);
                (!actions.is_empty()).then(|| Access {
                    kind: s.kind.clone(),
                    name: s.name.clone(),
                    actions,
                })
            })
            .collect();
        let claims = auth::access_claims(&self.auth, &principal, &service, access, now);
        let token = self
            .token_keys
            .issue(&claims)
            .map_err(|_| TokenRefusal::Internal)?;
        let issued_at = OffsetDateTime::from_unix_timestamp(now)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let mut body = serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": self.auth.token_ttl_secs,
            "issued_at": issued_at,
        });
        let wants_refresh = offline || grant_type.as_deref() == Some("refresh_token");
        if wants_refresh && principal != tenancy::Principal::Anonymous {
            if let Some(rt) = auth::refresh_claims(&self.auth, &t, &principal, now)
                .and_then(|c| self.token_keys.issue(&c).ok())
            {
                body["refresh_token"] = serde_json::Value::from(rt);
            }
        }
        Ok(body)
    }
}
