//! `GET|POST /oauth2/token`: the token endpoint (docker registry token spec and its OAuth2
//! form), over [`TrustService::issue_token`](crate::service::TrustService::issue_token).

use super::response::labelled;
use super::AppState;
use crate::service::token::{TokenRefusal, TokenRequest};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{Method, Response, StatusCode};

/// Largest accepted form body.
pub const MAX_FORM_BYTES: usize = 64 << 10;

pub async fn token(State(app): State<AppState>, req: Request) -> Response<Body> {
    labelled("token", answer(&app, req).await)
}

async fn answer(app: &AppState, req: Request) -> Response<Body> {
    let basic = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::basic_credentials);
    let client = req
        .extensions()
        .get::<crate::password_guard::ClientAddress>()
        .map(|c| c.0);
    let mut params = crate::auth::form_pairs(req.uri().query().unwrap_or(""));
    if req.method() == Method::POST {
        match axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES).await {
            Ok(body) => params.extend(crate::auth::form_pairs(&String::from_utf8_lossy(&body))),
            Err(_) => {
                return refusal(&TokenRefusal::BadRequest {
                    error: "invalid_request",
                    message: "unreadable form",
                })
            }
        }
    }
    match app
        .service
        .issue_token(TokenRequest {
            params,
            basic,
            client,
        })
        .await
    {
        Ok(body) => json(StatusCode::OK, &body),
        Err(e) => refusal(&e),
    }
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Token endpoint errors: the registry envelope, with the OAuth2 `error` name as code.
fn refusal(e: &TokenRefusal) -> Response<Body> {
    let (code, message) = e.error_and_message();
    let body = serde_json::json!({
        "errors": [{"code": code, "message": message}],
        "error": code,
        "error_description": message,
    });
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json(status, &body);
    match e {
        TokenRefusal::BadCredentials => {
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"signet\""),
            );
        }
        TokenRefusal::SlowDown { retry_after_secs } => {
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        _ => {}
    }
    r
}
