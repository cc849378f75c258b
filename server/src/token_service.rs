//! `GET|POST /oauth2/token`: the token endpoint of the docker registry token spec (and its
//! OAuth2 form, which docker uses with identity tokens). Grants come from [`crate::auth::grant`].

use crate::auth;
use crate::http::{App, Resp};
use crate::tenancy;
use crate::token::Access;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;
use time::OffsetDateTime;

/// `GET|POST /oauth2/token`: the docker registry token endpoint (and its OAuth2 form).
pub async fn handle(app: &Arc<App>, req: Request<Incoming>) -> Resp {
    let t = app.tenancy.get();
    let basic = auth::basic(req.headers());
    let client = req
        .extensions()
        .get::<crate::password_guard::ClientAddress>()
        .map(|c| c.0);
    let method = req.method().clone();
    let mut params = auth::form_pairs(req.uri().query().unwrap_or(""));
    if method == Method::POST {
        let body = match Limited::new(req.into_body(), 64 << 10).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "unreadable form",
                )
            }
        };
        params.extend(auth::form_pairs(&String::from_utf8_lossy(&body)));
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(service) = get("service").map(str::to_string) else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "service is required",
        );
    };
    if !auth::known_service(&t, &app.auth, &service) {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unknown service",
        );
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
    // Who is asking. Password checks are argon2id: off the async threads.
    let grant_type = get("grant_type").map(str::to_string);
    let offline = get("offline_token") == Some("true") || get("access_type") == Some("offline");
    let credentials: Option<(String, zeroize::Zeroizing<String>)> = match grant_type.as_deref() {
        Some("password") => match (get("username"), get("password")) {
            (Some(u), Some(p)) => Some((u.to_string(), zeroize::Zeroizing::new(p.to_string()))),
            _ => {
                return token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "username and password are required",
                )
            }
        },
        Some("refresh_token") => None,
        Some(_) => {
            return token_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be password or refresh_token",
            )
        }
        None => basic,
    };
    let principal = if grant_type.as_deref() == Some("refresh_token") {
        match get("refresh_token")
            .and_then(|r| auth::principal_from_refresh(&t, &app.token_keys, &app.auth, r, now))
        {
            Some(p) => p,
            None => {
                return token_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_grant",
                    "refresh token is not valid",
                )
            }
        }
    } else if let Some((user, pass)) = credentials {
        let t2 = t.clone();
        let name = user.clone();
        let checked = app
            .password_guard
            .check(&name, client, move || auth::login(&t2, &user, &pass))
            .await;
        match checked {
            Ok(Some(p)) => p,
            Err(refusal) => {
                let wait = refusal.retry_after_secs();
                let mut r = token_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOOMANYREQUESTS",
                    "too many failed logins or checks in progress; retry after the delay in Retry-After",
                );
                r.headers_mut()
                    .insert(hyper::header::RETRY_AFTER, HeaderValue::from(wait));
                return r;
            }
            Ok(None) => {
                let mut r = token_error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "invalid username or password",
                );
                r.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"signet\""),
                );
                return r;
            }
        }
    } else {
        tenancy::Principal::Anonymous
    };
    let access: Vec<Access> = scopes
        .iter()
        .filter_map(|s| {
            let actions = auth::grant(&t, &app.auth, &service, &principal, s);
            (!actions.is_empty()).then(|| Access {
                kind: s.kind.clone(),
                name: s.name.clone(),
                actions,
            })
        })
        .collect();
    let claims = auth::access_claims(&app.auth, &principal, &service, access, now);
    let Ok(token) = app.token_keys.issue(&claims) else {
        return token_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "cannot sign token",
        );
    };
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
        "expires_in": app.auth.token_ttl_secs,
        "issued_at": issued_at,
    });
    let wants_refresh = offline || grant_type.as_deref() == Some("refresh_token");
    if wants_refresh && principal != tenancy::Principal::Anonymous {
        if let Some(rt) = auth::refresh_claims(&app.auth, &t, &principal, now)
            .and_then(|c| app.token_keys.issue(&c).ok())
        {
            body["refresh_token"] = serde_json::Value::from(rt);
        }
    }
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Token endpoint errors: the registry envelope, with the OAuth2 `error` name as code.
fn token_error(status: StatusCode, code: &str, message: &str) -> Resp {
    let body = serde_json::json!({
        "errors": [{"code": code, "message": message}],
        "error": code,
        "error_description": message,
    });
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
