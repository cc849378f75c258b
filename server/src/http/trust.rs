//! The Notary v1 trust routes (protocol reference §1): `/v2/`, the changefeeds and everything
//! under `/v2/<gun>/_trust/`, parsed by [`names`] and answered by the trust service.

use super::extract::{bearer, discard_in_background, request_host, AcceptsGzip, Upload};
use super::response::{self, labelled, ActorLabel, GunLabel};
use super::AppState;
use crate::api_error::ApiError;
use crate::auth;
use crate::heap::TrimWhenDone;
use crate::multipart::Part;
use crate::service::names::{self, MetaFile};
use crate::service::{Caller, ChangefeedQuery, Need, ServiceError};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{HeaderValue, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{Method, Response};
use axum::response::IntoResponse;
use std::borrow::Cow;

/// One operation on a repository's trust data.
enum TrustOp {
    Changefeed,
    Publish,
    Delete,
    Read(MetaFile),
    RotateKey(crate::signer::ServerRole),
    /// The handover's import into a new repository (`crate::service` import).
    Import,
}

impl TrustOp {
    /// `(method, path after /_trust/)`; `None` for what no route matches.
    fn parse(method: &Method, tail: &str) -> Option<TrustOp> {
        match (method, tail) {
            (&Method::GET, "changefeed") => Some(TrustOp::Changefeed),
            (&Method::POST, "tuf/") => Some(TrustOp::Publish),
            (&Method::DELETE, "tuf/") => Some(TrustOp::Delete),
            (&Method::POST, "signet/import") => Some(TrustOp::Import),
            (m, t) => match (m, names::parse_meta_file(t.strip_prefix("tuf/")?)?) {
                (&Method::POST, MetaFile::Key(role)) => Some(TrustOp::RotateKey(role)),
                (&Method::GET, file) => Some(TrustOp::Read(file)),
                _ => None,
            },
        }
    }

    /// Reads that create nothing: metadata files (not server keys) and the changefeed.
    fn only_reads(&self) -> bool {
        match self {
            TrustOp::Changefeed => true,
            TrustOp::Read(file) => !matches!(file, MetaFile::Key(_)),
            _ => false,
        }
    }

    fn need(&self) -> Need {
        match self {
            TrustOp::Changefeed => Need::Pull,
            TrustOp::Publish => Need::PushPull,
            TrustOp::Delete | TrustOp::RotateKey(_) | TrustOp::Import => Need::All,
            // Reading a server key may create it: as much as a publish needs.
            TrustOp::Read(MetaFile::Key(_)) => Need::PushPull,
            TrustOp::Read(_) => Need::Pull,
        }
    }
}

/// `/v2/...` and every other path no route takes (the router's fallback).
///
/// Written for the cached read, the request nearly every client makes: it copies neither the
/// URI nor a path without escapes, and the rarer operations' larger states are boxed so they
/// do not enlarge the future every read moves into its box.
pub async fn trust(State(app): State<AppState>, req: Request) -> Response<Body> {
    // notary-server's catch-all route takes these methods; for any other its router answers a
    // bare 405 before authentication, whatever the path.
    if !matches!(
        *req.method(),
        Method::GET | Method::POST | Method::PUT | Method::HEAD | Method::DELETE
    ) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
        return labelled("other", r);
    }
    let (parts, body) = req.into_parts();
    let Some(path) = decoded_path(&parts.uri) else {
        return labelled("other", ApiError::not_found().into_response());
    };
    let Some((gun, tail)) = path
        .strip_prefix("/v2/")
        .and_then(|rest| rest.split_once("/_trust/"))
    else {
        return Box::pin(without_gun(&app, &parts, &path)).await;
    };
    let Some(op) = TrustOp::parse(&parts.method, tail) else {
        return labelled("other", ApiError::not_found().into_response());
    };
    // Nothing is ever stored under a name no image reference can have: reading it finds
    // nothing, as in the reference (clients take a 404 root for "no trust data"); whatever
    // would store something under it (keys included) is refused.
    let unstorable = match names::check_gun(gun) {
        Ok(()) => false,
        Err(ServiceError::InvalidGun) if op.only_reads() => true,
        Err(e) => return labelled("other", e.to_api().into_response()),
    };
    let decided = match op {
        TrustOp::Import => app.service.authorize_import(gun, bearer(&parts.headers)),
        _ => app
            .service
            .authorize(Some(gun), op.need(), bearer(&parts.headers)),
    };
    let caller = match decided {
        Ok(c) => c,
        Err(e) => {
            if matches!(op, TrustOp::Publish | TrustOp::Import) {
                discard_in_background(body);
            }
            return labelled("denied", refusal(&app, &parts, e));
        }
    };
    if unstorable && !matches!(op, TrustOp::Changefeed) {
        return labelled("other", ApiError::not_found().into_response());
    }
    // The GUN is only for the request log: no copy when its lines are not written.
    let gun_label = super::request_log::enabled().then(|| GunLabel(gun.to_string()));
    let gzip_ok = AcceptsGzip::of(&parts.headers);
    let (route, result) = match op {
        TrustOp::Read(MetaFile::Current(role)) => (
            "current",
            app.service
                .read_current(gun, &role)
                .await
                .map(|f| app.file(f, true, gzip_ok)),
        ),
        TrustOp::Read(MetaFile::Version(role, v)) => (
            "version",
            Box::pin(app.service.read_version(gun, &role, v))
                .await
                .map(|f| app.file(f, false, gzip_ok)),
        ),
        TrustOp::Read(MetaFile::Checksum(role, sum)) => (
            "checksum",
            Box::pin(app.service.read_checksum(gun, &role, &sum))
                .await
                .map(|f| app.file(f, false, gzip_ok)),
        ),
        TrustOp::Read(MetaFile::Key(role)) => {
            ("key", Box::pin(server_key(&app, gun, role, false)).await)
        }
        TrustOp::RotateKey(role) => ("key", Box::pin(server_key(&app, gun, role, true)).await),
        TrustOp::Changefeed => (
            "changefeed",
            Box::pin(changefeed(&app, Some(gun), parts.uri.query())).await,
        ),
        TrustOp::Delete => (
            "delete",
            Box::pin(app.service.delete(gun))
                .await
                .map(|()| response::bytes(bytes::Bytes::new())),
        ),
        TrustOp::Publish => {
            let gun = gun.to_owned();
            let req = Request::from_parts(parts, body);
            ("publish", Box::pin(publish(&app, &caller, &gun, req)).await)
        }
        TrustOp::Import => {
            let gun = gun.to_owned();
            let req = Request::from_parts(parts, body);
            ("import", Box::pin(import(&app, &caller, &gun, req)).await)
        }
    };
    let mut r = labelled(route, result.unwrap_or_else(|e| e.to_api().into_response()));
    if let Some(label) = gun_label {
        r.extensions_mut().insert(label);
    }
    if let Some(actor) = caller.actor {
        r.extensions_mut().insert(ActorLabel(actor));
    }
    r
}

/// The request's path, percent-decoded as notary-server's router decodes it; `None` when the
/// escapes do not decode to UTF-8. A path without escapes (every client's) is borrowed as is.
fn decoded_path(uri: &axum::http::Uri) -> Option<Cow<'_, str>> {
    let raw = uri.path();
    if !raw.contains('%') {
        return Some(Cow::Borrowed(raw));
    }
    percent_encoding::percent_decode_str(raw).decode_utf8().ok()
}

async fn without_gun(app: &AppState, parts: &Parts, path: &str) -> Response<Body> {
    let route = match (&parts.method, path) {
        (&Method::GET, "/v2/") => Some("ping"),
        (&Method::GET, "/v2/_trust/changefeed") => Some("changefeed"),
        _ => None,
    };
    if let Err(e) = app
        .service
        .authorize(None, Need::Pull, bearer(&parts.headers))
    {
        return labelled("other", refusal(app, parts, e));
    }
    match route {
        Some("ping") => labelled("ping", response::bytes(&b"{}"[..])),
        Some(_) => labelled(
            "changefeed",
            changefeed(app, None, parts.uri.query())
                .await
                .unwrap_or_else(|e| e.to_api().into_response()),
        ),
        None => labelled("other", ApiError::not_found().into_response()),
    }
}

async fn changefeed(
    app: &AppState,
    gun: Option<&str>,
    query: Option<&str>,
) -> Result<Response<Body>, ServiceError> {
    let body = app
        .service
        .changefeed(gun, &ChangefeedQuery::parse(query))
        .await?;
    Ok(response::json(axum::http::StatusCode::OK, body))
}

async fn publish(
    app: &AppState,
    caller: &Caller,
    gun: &str,
    req: Request,
) -> Result<Response<Body>, ServiceError> {
    // Declared first, dropped last: a large body's buffers go back to the system on every way
    // out, rejections included.
    let mut trim = TrimWhenDone::default();
    let parts = match read_upload(app, req, &mut trim).await {
        Ok(parts) => parts,
        Err(refused) => return Ok(refused),
    };
    app.service.publish(caller, gun, parts).await?;
    Ok(response::bytes(bytes::Bytes::new()))
}

/// Reads a multipart upload (a publish or the handover's import), arming `trim` by its size;
/// a body refused as too large or malformed comes back as the answer to send.
async fn read_upload(
    app: &AppState,
    req: Request,
    trim: &mut TrimWhenDone,
) -> Result<Vec<Part>, Response<Body>> {
    match Upload::read(req, app.max_body_bytes, app.max_part_bytes).await {
        Ok(upload) => {
            trim.arm_if_large(upload.body_len);
            Ok(upload.parts)
        }
        Err(e) => {
            trim.arm_if_large(app.max_body_bytes);
            Err(e.into_response())
        }
    }
}

async fn import(
    app: &AppState,
    caller: &Caller,
    gun: &str,
    req: Request,
) -> Result<Response<Body>, ServiceError> {
    let mut trim = TrimWhenDone::default();
    let parts = match read_upload(app, req, &mut trim).await {
        Ok(parts) => parts,
        Err(refused) => return Ok(refused),
    };
    let report = app.service.import_uploaded(caller, gun, parts).await?;
    Ok(response::json(
        axum::http::StatusCode::OK,
        report.to_string(),
    ))
}

async fn server_key(
    app: &AppState,
    gun: &str,
    role: crate::signer::ServerRole,
    rotate: bool,
) -> Result<Response<Body>, ServiceError> {
    let key = app.service.server_key(gun, role, rotate).await?;
    Ok(response::bytes(crate::service::key_json(&key)))
}

/// The answer to a refused request: a 401 carries the challenge that tells the client where
/// to get a token for which scope.
fn refusal(app: &AppState, parts: &Parts, e: ServiceError) -> Response<Body> {
    let ServiceError::Unauthorized { scope, denied } = &e else {
        return e.to_api().into_response();
    };
    let realm = match &app.service.auth_config().realm {
        Some(r) => r.clone(),
        None => match request_host(&parts.headers, &parts.uri) {
            Ok(host) => format!("{}://{host}/oauth2/token", app.scheme),
            Err(bad_host) => return bad_host.into_response(),
        },
    };
    let challenge = auth::challenge(
        &realm,
        &app.service.auth_config().service,
        scope,
        denied.challenge_error(),
    );
    let mut r = e.to_api().into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    r
}
