//! The HTTP layer on axum: the route table, extractors, responses and tower layers over the
//! trust service, and the connection handling (TLS accept, timeouts, limits, shutdown).
//!
//! Routes:
//!
//! | path | handler |
//! |---|---|
//! | `GET /_notary_server/health` | [`ops::health`] |
//! | `GET /metrics` | [`ops::metrics`] |
//! | `GET, POST /oauth2/token` | [`token::token`] |
//! | `/admin/v1/{*path}` | [`admin::admin`] |
//! | `/v2/...` (dispatched before the router, [`dispatch`]) and everything else | [`trust::trust`] (the Notary v1 API) |

pub mod admin;
mod dispatch;
pub mod extract;
pub mod gate;
pub mod listener;
mod ops;
mod request_log;
pub mod response;
pub mod token;
pub mod trust;

use crate::service::{MetaBody, TrustService};
use axum::body::Body;
use axum::http::Response;
use axum::routing::{any, get};
use axum::Router;
use response::CachePolicy;
use std::sync::Arc;
use std::time::Duration;

/// Tunables of the HTTP layer.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// `max-age` for current metadata (`<role>.json`), seconds; 0 disables caching.
    pub current_max_age: u32,
    /// `max-age` for checksum and version URLs, seconds.
    pub consistent_max_age: u32,
    pub max_body_bytes: usize,
    pub max_part_bytes: usize,
    /// Budget of the in-memory cache of current metadata, bytes; 0 disables it.
    pub read_cache_bytes: usize,
    /// Longest a request may take, body included, before it is answered 408.
    pub request_timeout: Duration,
    /// Connection limits and timeouts.
    pub connections: listener::Limits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            current_max_age: 300,
            consistent_max_age: 2_592_000,
            max_body_bytes: 64 << 20,
            max_part_bytes: 32 << 20,
            // Room for the timestamps of about 130,000 repositories (~1 KB each with the
            // bookkeeping), so a timestamp read stays a hit at that scale; far fewer
            // repositories never fill it.
            read_cache_bytes: 128 << 20,
            request_timeout: Duration::from_secs(120),
            connections: listener::Limits::default(),
        }
    }
}

/// What every handler gets: the trust service and the HTTP settings.
#[derive(Clone)]
pub struct AppState(Arc<App>);

pub struct App {
    pub service: Arc<TrustService>,
    /// `https` or `http`, for the default token realm.
    pub scheme: &'static str,
    pub max_body_bytes: usize,
    pub max_part_bytes: usize,
    cache_policy: CachePolicy,
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

impl App {
    /// A metadata file with its cache headers, gzip-encoded when possible (counted).
    fn file(&self, f: MetaBody, current: bool, gzip_ok: bool) -> Response<Body> {
        let (r, gzipped) = self.cache_policy.file(f, current, gzip_ok);
        if gzipped {
            self.service.metrics().gzip_response();
        }
        r
    }
}

/// The state handlers get, for tests of the HTTP layer's services.
#[cfg(test)]
pub(crate) fn test_state(service: Arc<TrustService>) -> AppState {
    let cfg = HttpConfig::default();
    AppState(Arc::new(App {
        service,
        scheme: "https",
        max_body_bytes: cfg.max_body_bytes,
        max_part_bytes: cfg.max_part_bytes,
        cache_policy: CachePolicy::new(cfg.current_max_age, cfg.consistent_max_age),
    }))
}

/// The trust server as one service: the route table inside the request log.
pub type TrustApp = request_log::LogAndMeasure<dispatch::TrustFirst>;

/// The route table, wrapped in the service that logs, times and measures every request.
pub fn router(service: Arc<TrustService>, cfg: &HttpConfig, scheme: &'static str) -> TrustApp {
    let state = AppState(Arc::new(App {
        service,
        scheme,
        max_body_bytes: cfg.max_body_bytes,
        max_part_bytes: cfg.max_part_bytes,
        cache_policy: CachePolicy::new(cfg.current_max_age, cfg.consistent_max_age),
    }));
    // Bodies are bounded where they are read (the upload extractor, the token form, the admin
    // JSON), so an oversized one is refused in its route's own error envelope.
    let routes = Router::new()
        .route("/_notary_server/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/oauth2/token", get(token::token).post(token::token))
        .route("/admin/v1/{*path}", any(admin::admin))
        // `/v2/...` is dispatched before the router (see `dispatch`); the fallback answers
        // the paths nothing else takes as notary-server does, and HEAD.
        .fallback(trust::trust)
        .method_not_allowed_fallback(trust::trust)
        .with_state(state.clone());
    let routes = dispatch::TrustFirst::new(routes, state.clone());
    request_log::wrap(routes, state, cfg.request_timeout)
}
