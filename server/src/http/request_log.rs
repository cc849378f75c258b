//! One log line and one metrics observation per request, a request id on every answer, and
//! the refusal of requests without a usable `Host` (the token realm is built from it).

use super::extract::request_host;
use super::response::{ActorLabel, GunLabel, RouteLabel};
use super::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::HeaderValue;
use axum::http::Response;
use axum::middleware::Next;
use axum::response::IntoResponse;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

pub const REQUEST_ID: &str = "x-request-id";

/// Request ids: a random per-process prefix and a counter, so ids from several instances do
/// not collide and making one costs no system call.
static ID_PREFIX: LazyLock<u32> = LazyLock::new(rand::random);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn new_request_id() -> String {
    format!(
        "{:08x}-{:010x}",
        *ID_PREFIX,
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    )
}

/// A client's own request id is kept when it is short and printable (it goes into logs).
fn client_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| s.to_string())
}

pub async fn log_and_measure(
    State(app): State<AppState>,
    req: Request,
    next: Next,
) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(client_request_id)
        .unwrap_or_else(new_request_id);
    let (parts, body) = req.into_parts();
    let mut resp = match request_host(&parts) {
        Ok(_) => next.run(Request::from_parts(parts, body)).await,
        Err(e) => e.into_response(),
    };
    let route = resp
        .extensions()
        .get::<RouteLabel>()
        .map_or("other", |r| r.0);
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    app.service.metrics().observe(route, status, elapsed);
    let gun = resp.extensions().get::<GunLabel>().map(|g| g.0.as_str());
    let actor = resp.extensions().get::<ActorLabel>().map(|a| a.0.as_str());
    tracing::info!(
        target: "signet::request",
        request_id = %id,
        method = %method,
        route,
        gun = gun.unwrap_or("-"),
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        actor = actor.unwrap_or("-"),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}
