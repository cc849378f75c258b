//! `/admin/v1/`: the JSON admin API, a thin HTTP skin over [`AdminService`] (the same service
//! the `signet-server registry|identity|role` commands use). Authenticated by the operator
//! credential as a bearer token.

use super::extract::bearer;
use super::response::labelled;
use super::AppState;
use crate::tenancy::service::{after_reset, AuditFilter, RegistrySpec, RegistryUpdate};
use crate::tenancy::{AdminError, AdminService, IdentityKind, Role, RoleAssignment};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{HeaderValue, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

/// Largest accepted request body.
pub const MAX_BODY: usize = 64 << 10;

fn respond(status: u16, body: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: u16, code: &str, message: &str) -> Response<Body> {
    respond(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn admin_error(e: &AdminError) -> Response<Body> {
    if matches!(e, AdminError::Store(_) | AdminError::Internal(_)) {
        tracing::error!(error = %e, "admin request failed");
    }
    error(e.status(), e.code(), &e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustBody {
    status: String,
}

#[derive(Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct IdentityBody {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    password: String,
}

/// `PATCH identities/<name>`: a new password (roles stay).
#[derive(Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    registry: String,
    #[serde(default)]
    repository: Option<String>,
    identity: String,
    role: String,
}

impl RoleBody {
    fn assignment(&self) -> Result<RoleAssignment, AdminError> {
        let role = Role::parse(&self.role).ok_or_else(|| {
            AdminError::Invalid(format!(
                "role '{}' is not one of Owner, Contributor, Reader, AcrPull, AcrPush, AcrDelete, AcrImageSigner",
                self.role
            ))
        })?;
        Ok(RoleAssignment {
            registry: self.registry.clone(),
            repository: self.repository.clone().filter(|r| !r.is_empty()),
            identity: self.identity.clone(),
            role,
        })
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    crate::auth::form_pairs(query.unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub async fn admin(State(app): State<AppState>, req: Request) -> Response<Body> {
    labelled("admin", answer(&app, req).await)
}

async fn answer(app: &AppState, req: Request) -> Response<Body> {
    let Some(expected) = app.service.auth_config().operator_token.clone() else {
        return error(
            404,
            "NotFound",
            "the admin API is disabled (no operator credential configured)",
        );
    };
    let presented = bearer(req.headers()).unwrap_or("");
    // Constant time, so the operator credential cannot be guessed byte by byte.
    if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        let mut r = error(
            401,
            "Unauthorized",
            "the operator credential is required (Authorization: Bearer <token>)",
        );
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"signet-admin\""),
        );
        return r;
    }
    let Some(path) = percent_encoding::percent_decode_str(req.uri().path())
        .decode_utf8()
        .ok()
        .map(|p| p.into_owned())
    else {
        return error(404, "NotFound", "admin route not found");
    };
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_string);
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return error(413, "PayloadTooLarge", "request body is larger than 64 KiB"),
    };
    let segments: Vec<String> = path
        .trim_start_matches("/admin/v1/")
        .trim_end_matches('/')
        .split('/')
        .map(str::to_string)
        .collect();
    let svc = app.service.admin("admin-api");
    let result = tokio::task::spawn_blocking(move || {
        dispatch(&svc, &method, &segments, query.as_deref(), &body)
    })
    .await;
    match result {
        Ok(Ok((status, v))) => respond(status, &v),
        Ok(Err(e)) => admin_error(&e),
        Err(_) => error(500, "InternalError", "admin request failed"),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|e| AdminError::Invalid(format!("request body: {e}")))
}

fn dispatch(
    svc: &AdminService,
    method: &Method,
    seg: &[String],
    query: Option<&str>,
    body: &[u8],
) -> Result<(u16, Value), AdminError> {
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let not_found = || AdminError::NotFound {
        what: "admin route",
        name: format!("{method} /admin/v1/{}", seg.join("/")),
    };
    match (method, s.as_slice()) {
        (&Method::GET, ["registries"]) => Ok((
            200,
            Value::Array(svc.list_registries()?.iter().map(|r| r.view()).collect()),
        )),
        (&Method::POST, ["registries"]) => {
            let spec: RegistrySpec = parse(body)?;
            Ok((201, svc.create_registry(&spec)?.view()))
        }
        (&Method::GET, ["registries", name]) => Ok((200, svc.show_registry(name)?.view())),
        (&Method::PATCH, ["registries", name]) => {
            let update: RegistryUpdate = parse(body)?;
            Ok((200, svc.update_registry(name, &update)?.view()))
        }
        (&Method::DELETE, ["registries", name]) => {
            let wiped = svc.delete_registry(name)?;
            Ok((200, json!({"deleted": name, "trustDataRemoved": wiped})))
        }
        (&Method::GET, ["registries", name, "content-trust"]) => Ok((
            200,
            serde_json::to_value(svc.content_trust(name)?).unwrap_or_default(),
        )),
        (&Method::PUT, ["registries", name, "content-trust"]) => {
            let b: TrustBody = parse(body)?;
            let enable = match b.status.as_str() {
                "enabled" => true,
                "disabled" => false,
                other => {
                    return Err(AdminError::Invalid(format!(
                        "status '{other}' must be enabled or disabled"
                    )))
                }
            };
            let (policy, wiped) = svc.set_content_trust(name, enable)?;
            let mut v = serde_json::to_value(policy).unwrap_or_default();
            if !enable {
                v["trustDataRemoved"] = serde_json::to_value(wiped).unwrap_or_default();
            }
            Ok((200, v))
        }
        (&Method::GET, ["registries", name, "gate"]) => Ok((200, svc.gate_policy(name)?.view())),
        (&Method::PUT, ["registries", name, "gate"]) => {
            let policy: crate::gate::GatePolicy = parse(body)?;
            Ok((200, svc.set_gate_policy(name, &policy)?.view()))
        }
        (&Method::GET, ["identities"]) => Ok((
            200,
            Value::Array(svc.list_identities()?.iter().map(|i| i.view()).collect()),
        )),
        (&Method::POST, ["identities"]) => {
            let b: IdentityBody = parse(body)?;
            let kind = match b.kind.as_deref() {
                None => IdentityKind::User,
                Some(k) => IdentityKind::parse(k).ok_or_else(|| {
                    AdminError::Invalid(format!("kind '{k}' must be user or service-principal"))
                })?,
            };
            Ok((201, svc.add_identity(&b.name, kind, &b.password)?.view()))
        }
        (&Method::DELETE, ["identities", name]) => {
            let revoked = svc.remove_identity(name)?;
            Ok((200, json!({"deleted": name, "rolesRevoked": revoked})))
        }
        (&Method::GET, ["role-assignments"]) => {
            let reg = query_param(query, "registry");
            let id = query_param(query, "identity");
            Ok((
                200,
                serde_json::to_value(svc.list_roles(reg.as_deref(), id.as_deref())?)
                    .unwrap_or_default(),
            ))
        }
        (&Method::POST, ["role-assignments"]) => {
            let b: RoleBody = parse(body)?;
            let a = svc.assign_role(&b.assignment()?)?;
            Ok((201, serde_json::to_value(a).unwrap_or_default()))
        }
        (&Method::DELETE, ["role-assignments"]) => {
            let b: RoleBody = parse(body)?;
            svc.revoke_role(&b.assignment()?)?;
            Ok((200, json!({"revoked": true})))
        }
        (&Method::GET, ["audit"]) => {
            let limit = query_param(query, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(100);
            let instant = |name: &str| {
                query_param(query, name)
                    .map(|v| crate::timespan::parse_instant(name, &v).map_err(AdminError::Invalid))
                    .transpose()
            };
            let filter = AuditFilter {
                registry: query_param(query, "registry"),
                identity: query_param(query, "identity"),
                action: query_param(query, "action"),
                since: instant("since")?,
                until: instant("until")?,
            };
            Ok((
                200,
                serde_json::to_value(svc.audit_filtered(&filter, limit)?).unwrap_or_default(),
            ))
        }
        (&Method::PATCH, ["identities", name]) => {
            let b: PasswordBody = parse(body)?;
            let identity = svc.set_password(name, &b.password)?;
            let mut v = identity.view();
            v["passwordChanged"] = true.into();
            v["roles"] =
                serde_json::to_value(svc.list_roles(None, Some(name))?).unwrap_or_default();
            Ok((200, v))
        }
        // A GUN has slashes: everything between `repositories/` and `/trust-data`.
        (&Method::DELETE, ["repositories", gun @ .., "trust-data"]) if !gun.is_empty() => {
            let gun = gun.join("/");
            let (_, keys) = svc.repository_holdings(&gun)?;
            let wiped = svc.reset_repository(&gun)?;
            Ok((
                200,
                json!({
                    "reset": gun,
                    "trustDataRemoved": wiped,
                    "serverKeysRemoved": keys,
                    "next": after_reset(&gun),
                }),
            ))
        }
        _ => Err(not_found()),
    }
}
