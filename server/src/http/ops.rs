//! Operator routes: health and metrics.

use super::response::{self, labelled};
use super::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{HeaderValue, CONTENT_TYPE};
use axum::http::Response;

pub async fn health() -> Response<Body> {
    let mut r = response::bytes(&b"{}"[..]);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    labelled("health", r)
}

pub async fn metrics(State(app): State<AppState>) -> Response<Body> {
    let mut text = app.service.metrics().render();
    let (bytes, limit, repositories) = app.service.read_cache_stats();
    text.push_str(&crate::metrics::read_cache_gauges(
        bytes,
        limit,
        repositories,
    ));
    text.push_str(&crate::metrics::read_cache_trusted_gauge(
        app.service.read_cache_trusted(),
    ));
    text.push_str(&app.service.expiry_gauges());
    let mut r = response::bytes(text);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    labelled("metrics", r)
}
