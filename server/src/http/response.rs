//! Building responses: notary's error envelope, metadata files with their cache headers, and
//! the labels the request log and metrics read back from a response.

use crate::api_error::ApiError;
use crate::service::MetaBody;
use axum::body::Body;
use axum::http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, LAST_MODIFIED, VARY,
};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use bytes::Bytes;

/// The route template a request matched, for the request log and the metrics' `route` label.
#[derive(Clone, Copy, Debug)]
pub struct RouteLabel(pub &'static str);

/// The repository a trust request was about, for the request log.
#[derive(Clone, Debug)]
pub struct GunLabel(pub String);

/// Who made the request (a token's subject), for the request log.
#[derive(Clone, Debug)]
pub struct ActorLabel(pub String);

/// Attaches the route label to a response.
pub fn labelled(route: &'static str, mut r: Response<Body>) -> Response<Body> {
    r.extensions_mut().insert(RouteLabel(route));
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response<Body> {
        let mut r = Response::new(Body::from(self.body()));
        *r.status_mut() =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        r
    }
}

pub fn bytes(body: impl Into<Bytes>) -> Response<Body> {
    Response::new(Body::from(body.into()))
}

pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Body::from(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `Cache-Control` as notary-server writes it: `max-age` 0 disables caching altogether;
/// current metadata must be revalidated once stale.
pub fn cache_control(max_age: u32, current: bool) -> HeaderValue {
    if max_age == 0 {
        return HeaderValue::from_static("max-age=0, no-cache, no-store");
    }
    let v = if current {
        format!("public, max-age={max_age}, s-maxage={max_age}, must-revalidate")
    } else {
        format!("public, max-age={max_age}, s-maxage={max_age}")
    };
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
}

/// The two `Cache-Control` values, built once.
#[derive(Clone)]
pub struct CachePolicy {
    pub current: HeaderValue,
    pub consistent: HeaderValue,
}

impl CachePolicy {
    pub fn new(current_max_age: u32, consistent_max_age: u32) -> Self {
        CachePolicy {
            current: cache_control(current_max_age, true),
            consistent: cache_control(consistent_max_age, false),
        }
    }

    /// A metadata file (`current`: a `<role>.json` URL) with `Cache-Control`,
    /// `Last-Modified`, and the gzip copy when there is one and the client takes it.
    /// Returns whether the gzip copy was sent.
    pub fn file(&self, f: MetaBody, current: bool, gzip_ok: bool) -> (Response<Body>, bool) {
        let has_gzip = f.gzipped.is_some();
        let (mut r, gzipped) = match f.gzipped {
            Some(gz) if gzip_ok => {
                let mut r = bytes(gz);
                r.headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                (r, true)
            }
            _ => (bytes(f.bytes), false),
        };
        let h = r.headers_mut();
        if has_gzip {
            // Shared caches must not hand the compressed body to a client that did not ask.
            h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        let cc = if current {
            &self.current
        } else {
            &self.consistent
        };
        if cc.as_bytes().starts_with(b"max-age=0") {
            h.insert("pragma", HeaderValue::from_static("no-cache"));
        }
        h.insert(CACHE_CONTROL, cc.clone());
        if let Ok(lm) = HeaderValue::from_maybe_shared(f.last_modified) {
            h.insert(LAST_MODIFIED, lm);
        }
        (r, gzipped)
    }
}
