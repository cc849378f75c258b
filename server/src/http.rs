//! The Notary v1 HTTP API (protocol reference §1): routing, handlers and the read cache.

use crate::api_error::{ApiError, ErrorCode};
use crate::auth::{self, AuthConfig, Denied, TenancyState};
use crate::compression;
use crate::metrics::Metrics;
use crate::multipart;
use crate::read_cache::{CachedFile, ReadCache};
use crate::signer::{ServerRole, Signer};
use crate::store::{NewMeta, Store, StoreError};
use crate::tenancy::{self, Tenancy};
use crate::token::TokenKeys;
use crate::update::{self, UpdateError, Upload};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, LAST_MODIFIED, VARY,
};
use hyper::{Method, Request, Response, StatusCode};
use signet_tuf::role_name;
use std::sync::Arc;
use std::time::Instant;
use time::OffsetDateTime;

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
        }
    }
}

pub struct App {
    pub(crate) store: Arc<dyn Store>,
    signer: Arc<Signer>,
    cfg: HttpConfig,
    pub metrics: Metrics,
    /// Current metadata of recently read GUNs, bounded by `cfg.read_cache_bytes`.
    cache: ReadCache,
    gun_locks: crate::gun_locks::GunLocks,
    /// Registries, identities and roles; swapped whole when the configuration changes.
    pub tenancy: TenancyState,
    pub auth: AuthConfig,
    pub token_keys: Arc<TokenKeys>,
    /// The token endpoint's password checks: own threads, bounded, failures slowed down.
    pub password_guard: Arc<crate::password_guard::PasswordGuard>,
    /// `https` or `http`, for the default token realm.
    scheme: &'static str,
    /// `Cache-Control` of current metadata and of checksum/version URLs, built once.
    current_cache_control: HeaderValue,
    consistent_cache_control: HeaderValue,
}

/// How often the configuration generation is checked for changes made by the admin CLI or
/// another instance.
const TENANCY_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// What a trust route needs from a token (protocol reference §6.2).
enum Need {
    Pull,
    PushPull,
    All,
}

impl Need {
    fn actions(&self) -> &'static [&'static str] {
        match self {
            Need::Pull => &["pull"],
            Need::PushPull => &["push", "pull"],
            Need::All => &["*"],
        }
    }

    fn scope_actions(&self) -> &'static str {
        match self {
            Need::Pull => "pull",
            Need::PushPull => "push,pull",
            Need::All => "*",
        }
    }
}

pub type Resp = Response<Full<Bytes>>;

fn last_modified(t: OffsetDateTime) -> HeaderValue {
    // Go's time.RFC1123 with the zone name of the database time: "Mon, 02 Jan 2006 15:04:05 UTC".
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] UTC"
    );
    let s = t
        .to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default();
    HeaderValue::from_str(&s)
        .unwrap_or_else(|_| HeaderValue::from_static("Mon, 01 Jan 0001 00:00:00 UTC"))
}

/// `Cache-Control` as notary-server writes it: `max-age` 0 disables caching altogether;
/// current metadata must be revalidated once stale.
fn cache_control(max_age: u32, current: bool) -> HeaderValue {
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

fn ok_bytes(body: Bytes) -> Resp {
    Response::new(Full::new(body))
}

fn json_response(status: StatusCode, body: &'static str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// A GUN as the reference route accepts it (`[^*]+`), minus what would be ambiguous or
/// dangerous as a name: empty or dot segments, control characters, whitespace.
fn gun_error(gun: &str) -> Option<ApiError> {
    if gun.is_empty() || gun.contains('*') {
        return Some(ApiError::not_found());
    }
    let bad = gun.len() > 255
        || gun
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        || gun
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    bad.then(|| {
        ApiError::with_detail(
            ErrorCode::InvalidGun,
            serde_json::Value::from("invalid repository name"),
        )
    })
}

enum MetaRequest {
    Current(String),
    Version(String, i64),
    Checksum(String, String),
    Key(ServerRole),
}

/// The route's role pattern: `root|targets(/[^/\s]+)*|snapshot|timestamp`.
fn route_role(role: &str) -> bool {
    if matches!(role, "root" | "snapshot" | "timestamp" | "targets") {
        return true;
    }
    role.strip_prefix("targets/").is_some_and(|rest| {
        rest.split('/')
            .all(|seg| !seg.is_empty() && !seg.chars().any(char::is_whitespace))
    })
}

fn parse_meta_file(name: &str) -> Option<MetaRequest> {
    match name {
        "snapshot.key" => return Some(MetaRequest::Key(ServerRole::Snapshot)),
        "timestamp.key" => return Some(MetaRequest::Key(ServerRole::Timestamp)),
        _ => {}
    }
    let stem = name.strip_suffix(".json")?;
    if let Some((prefix, role)) = stem.split_once('.') {
        if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) && route_role(role) {
            // Out-of-range versions cannot exist; map them to "not found".
            return Some(MetaRequest::Version(
                role.to_string(),
                prefix.parse().unwrap_or(0),
            ));
        }
    }
    if let Some((role, sum)) = stem.rsplit_once('.') {
        if matches!(sum.len(), 64 | 96 | 128)
            && sum.bytes().all(|b| b.is_ascii_hexdigit())
            && route_role(role)
        {
            return Some(MetaRequest::Checksum(
                role.to_string(),
                sum.to_ascii_lowercase(),
            ));
        }
    }
    route_role(stem).then(|| MetaRequest::Current(stem.to_string()))
}

fn percent_decode(path: &str) -> Option<String> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Everything an [`App`] is built from.
pub struct AppParts {
    pub store: Arc<dyn Store>,
    pub signer: Arc<Signer>,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub token_keys: Arc<TokenKeys>,
    pub tenancy: Tenancy,
    pub scheme: &'static str,
}

impl App {
    pub fn new(parts: AppParts) -> Arc<Self> {
        let AppParts {
            store,
            signer,
            http: cfg,
            auth,
            token_keys,
            tenancy,
            scheme,
        } = parts;
        let app = Arc::new(App {
            store,
            signer,
            cache: ReadCache::new(cfg.read_cache_bytes),
            current_cache_control: cache_control(cfg.current_max_age, true),
            consistent_cache_control: cache_control(cfg.consistent_max_age, false),
            cfg,
            metrics: Metrics::default(),
            gun_locks: Default::default(),
            tenancy: TenancyState::new(tenancy),
            password_guard: crate::password_guard::PasswordGuard::new(auth.password_checks.clone()),
            auth,
            token_keys,
            scheme,
        });
        // Changes made by the admin CLI (another process) or another instance show up as a
        // new generation; poll it cheaply and reload.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&app);
            rt.spawn(async move {
                loop {
                    tokio::time::sleep(TENANCY_POLL).await;
                    let Some(app) = weak.upgrade() else { break };
                    let _ = tokio::task::spawn_blocking(move || {
                        let seen = app.tenancy.get().generation;
                        if app.store.tenancy_generation().is_ok_and(|g| g != seen) {
                            app.reload_tenancy_blocking();
                        }
                    })
                    .await;
                }
            });
        }
        // Other instances sharing the database announce their changes; drop what we cached.
        let weak = Arc::downgrade(&app);
        app.store.watch_changes(Box::new(move |gun| {
            if let Some(app) = weak.upgrade() {
                if gun == "*" {
                    app.cache.clear();
                } else {
                    app.invalidate(gun);
                }
            }
        }));
        app
    }

    /// Reloads the tenancy configuration and drops every cached trust file (a registry may
    /// just have had its trust data wiped). Blocking: the database is read.
    pub fn reload_tenancy_blocking(&self) {
        match tenancy::load(self.store.as_ref()) {
            Ok(t) => {
                if self.tenancy.replace(t) {
                    self.invalidate_all();
                }
            }
            Err(e) => tracing::error!(error = %e, "reloading registries"),
        }
    }

    fn invalidate_all(&self) {
        self.cache.clear();
    }

    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Resp, std::convert::Infallible> {
        let started = Instant::now();
        let (route, result) = self.clone().route(req).await;
        let resp = result.unwrap_or_else(|e| e.response());
        self.metrics
            .observe(route, resp.status().as_u16(), started.elapsed());
        Ok(resp)
    }

    async fn route(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> (&'static str, Result<Resp, ApiError>) {
        let method = req.method().clone();
        let Some(path) = percent_decode(req.uri().path()) else {
            return ("other", Err(ApiError::not_found()));
        };
        match (method.clone(), path.as_str()) {
            (Method::GET, "/_notary_server/health") => {
                return ("health", Ok(json_response(StatusCode::OK, "{}")));
            }
            (Method::GET, "/metrics") => {
                let mut text = self.metrics.render();
                text.push_str(&crate::metrics::read_cache_gauges(
                    self.cache.bytes(),
                    self.cache.limit(),
                    self.cache.len(),
                ));
                let mut r = ok_bytes(Bytes::from(text));
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                return ("metrics", Ok(r));
            }
            (Method::GET | Method::POST, "/oauth2/token") => {
                return ("token", Ok(crate::token_service::handle(&self, req).await));
            }
            (_, p) if p.starts_with("/admin/v1/") => {
                return (
                    "admin",
                    Ok(crate::admin_api::handle(self.clone(), req, &path).await),
                );
            }
            _ => {}
        }
        let tenancy = self.tenancy.get();
        let gun_route = path
            .strip_prefix("/v2/")
            .is_some_and(|rest| rest.contains("/_trust/"));
        if !tenancy.is_open() && !gun_route {
            // Routes without a GUN need `registry:catalog:*` (§6.2), which the trust service
            // never grants once registries exist: it would span every tenant.
            let denied = if auth::bearer(req.headers()).is_some() {
                Denied::InsufficientScope
            } else {
                Denied::NoToken
            };
            return (
                "other",
                Ok(self.unauthorized(&req, "registry:catalog:*", &denied)),
            );
        }
        match (method.clone(), path.as_str()) {
            (Method::GET, "/v2/") => return ("ping", Ok(ok_bytes(Bytes::from_static(b"{}")))),
            (Method::GET, "/v2/_trust/changefeed") => {
                return ("changefeed", self.changefeed(None, req.uri().query()).await);
            }
            _ => {}
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return ("other", Err(ApiError::not_found()));
        };
        let Some((gun, tail)) = rest.split_once("/_trust/") else {
            return ("other", Err(ApiError::not_found()));
        };
        if let Some(e) = gun_error(gun) {
            return ("other", Err(e));
        }
        let gun = gun.to_string();
        if !tenancy.is_open() {
            let need = match (&method, tail) {
                (&Method::GET, "changefeed") => Need::Pull,
                (&Method::POST, "tuf/") => Need::PushPull,
                (&Method::DELETE, "tuf/") => Need::All,
                (m, t) => match t.strip_prefix("tuf/").and_then(parse_meta_file) {
                    Some(MetaRequest::Key(_)) if m == Method::POST => Need::All,
                    Some(MetaRequest::Key(_)) => Need::PushPull,
                    Some(_) => Need::Pull,
                    None => return ("other", Err(ApiError::not_found())),
                },
            };
            if let Some(r) = self.refusal(&tenancy, &req, &gun, &need) {
                return ("denied", r);
            }
        }
        let gzip_ok = compression::accepts_gzip(req.headers());
        match (method, tail) {
            (Method::GET, "changefeed") => (
                "changefeed",
                self.changefeed(Some(&gun), req.uri().query()).await,
            ),
            (Method::POST, "tuf/") => ("publish", self.publish(&gun, req).await),
            (Method::DELETE, "tuf/") => ("delete", self.delete(&gun).await),
            (m, t) if t.starts_with("tuf/") => {
                let Some(file) = parse_meta_file(&t[4..]) else {
                    return ("other", Err(ApiError::not_found()));
                };
                match (m, file) {
                    (Method::GET, MetaRequest::Key(role)) => {
                        ("key", self.server_key(&gun, role, false).await)
                    }
                    (Method::POST, MetaRequest::Key(role)) => {
                        ("key", self.server_key(&gun, role, true).await)
                    }
                    (Method::GET, MetaRequest::Current(role)) => {
                        ("current", self.get_current(&gun, &role, gzip_ok).await)
                    }
                    (Method::GET, MetaRequest::Version(role, v)) => {
                        ("version", self.get_version(&gun, &role, v).await)
                    }
                    (Method::GET, MetaRequest::Checksum(role, sum)) => (
                        "checksum",
                        self.get_checksum(&gun, &role, &sum, gzip_ok).await,
                    ),
                    _ => ("other", Err(ApiError::not_found())),
                }
            }
            _ => ("other", Err(ApiError::not_found())),
        }
    }

    fn realm(&self, req: &Request<Incoming>) -> String {
        if let Some(r) = &self.auth.realm {
            return r.clone();
        }
        let host = req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".into());
        format!("{}://{host}/oauth2/token", self.scheme)
    }

    fn unauthorized(&self, req: &Request<Incoming>, scope: &str, why: &Denied) -> Resp {
        if let Denied::Invalid(e) = why {
            tracing::info!(error = %e, "token refused");
        }
        let mut r = ApiError::with_detail(
            ErrorCode::Unauthorized,
            serde_json::Value::from(format!("{scope} required")),
        )
        .response();
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            auth::challenge(
                &self.realm(req),
                &self.auth.service,
                scope,
                why.challenge_error(),
            ),
        );
        r
    }

    /// Resolves the GUN's registry, checks the token, then the registry's trust policy.
    /// Returns the refusal to send instead, if any.
    fn refusal(
        &self,
        t: &Tenancy,
        req: &Request<Incoming>,
        gun: &str,
        need: &Need,
    ) -> Option<Result<Resp, ApiError>> {
        let Some((registry, _repo)) = t.resolve_gun(gun) else {
            let host = gun.split('/').next().unwrap_or("");
            return Some(Err(ApiError::with_detail(
                ErrorCode::RegistryUnknown,
                serde_json::Value::from(format!("no registry has the login server {host:?}")),
            )));
        };
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if let Err(why) = auth::check_trust_token(
            &self.token_keys,
            &self.auth,
            req.headers(),
            "repository",
            gun,
            need.actions(),
            now,
        ) {
            let scope = format!("repository:{gun}:{}", need.scope_actions());
            return Some(Ok(self.unauthorized(req, &scope, &why)));
        }
        if !registry.trust_enabled() {
            return Some(Err(ApiError::with_detail(
                ErrorCode::TrustDisabled,
                auth::trust_disabled_detail(registry),
            )));
        }
        None
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        tokio::task::spawn_blocking(f)
            .await
            .unwrap_or_else(|_| Err(ApiError::new(ErrorCode::Unknown)))
    }

    fn cached(&self, gun: &str, role: &str) -> Option<CachedFile> {
        self.cache.get(gun, role)
    }

    fn cache_put(&self, gun: &str, role: &str, f: CachedFile) {
        self.cache.put(gun, role, f);
    }

    fn invalidate(&self, gun: &str) {
        self.cache.invalidate(gun);
    }

    /// Adds `Cache-Control` (for current metadata with `must-revalidate`) and `Last-Modified`.
    fn with_cache_headers(&self, mut r: Resp, current: bool, lm: HeaderValue) -> Resp {
        let h = r.headers_mut();
        let cc = if current {
            &self.current_cache_control
        } else {
            &self.consistent_cache_control
        };
        if cc.as_bytes().starts_with(b"max-age=0") {
            h.insert("pragma", HeaderValue::from_static("no-cache"));
        }
        h.insert(CACHE_CONTROL, cc.clone());
        h.insert(LAST_MODIFIED, lm);
        r
    }

    /// The file's bytes (gzip-encoded when it has a compressed copy and the client takes
    /// gzip) with its cache headers.
    fn serve_file(&self, f: CachedFile, current: bool, gzip_ok: bool) -> Resp {
        let CachedFile {
            bytes,
            gzipped,
            last_modified,
            ..
        } = f;
        let has_gzip = gzipped.is_some();
        let mut r = match gzipped {
            Some(gz) if gzip_ok => {
                self.metrics.gzip_response();
                let mut r = ok_bytes(gz);
                r.headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            _ => ok_bytes(bytes),
        };
        if has_gzip {
            // Shared caches must not hand the compressed body to a client that did not ask.
            r.headers_mut()
                .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        self.with_cache_headers(r, current, last_modified)
    }

    async fn get_current(
        self: &Arc<Self>,
        gun: &str,
        role: &str,
        gzip_ok: bool,
    ) -> Result<Resp, ApiError> {
        if let Some(f) = self.cached(gun, role) {
            return Ok(self.serve_file(f, true, gzip_ok));
        }
        if let Some(want) = server_timed_role(role) {
            let f = self.refresh_timestamp(gun, want).await?;
            return Ok(self.serve_file(f, true, gzip_ok));
        }
        // One load per GUN at a time: concurrent misses (64 clients reading a 2 MB targets
        // file) wait for the first load instead of each holding its own copy, which cost 80 MB
        // of RSS; and a load cannot cache bytes that a publish holding this lock has just
        // replaced.
        let _guard = self.gun_lock(gun).lock().await;
        if let Some(f) = self.cached(gun, role) {
            return Ok(self.serve_file(f, true, gzip_ok));
        }
        let f = self
            .load_latest(gun, role)
            .await?
            .ok_or_else(ApiError::not_found)?;
        self.cache_put(gun, role, f.clone());
        Ok(self.serve_file(f, true, gzip_ok))
    }

    /// The stored current `role` of `gun`, compressed for the cache, with the SHA-256 the
    /// store recorded (the one its checksum lookups match, so both paths agree).
    async fn load_latest(
        self: &Arc<Self>,
        gun: &str,
        role: &str,
    ) -> Result<Option<CachedFile>, ApiError> {
        self.metrics.read_cache_load();
        let (store, g, r) = (self.store.clone(), gun.to_string(), role.to_string());
        self.blocking(move || {
            let Some(m) = store.latest(&g, &r).map_err(store_error)? else {
                return Ok(None);
            };
            let lm = last_modified(m.created_at);
            let mut sha256 = [0u8; 32];
            Ok(Some(
                match hex::decode_to_slice(&m.sha256_hex, &mut sha256) {
                    Ok(()) => CachedFile::with_sha256(m.bytes, sha256, lm, None),
                    Err(_) => CachedFile::new(m.bytes, lm, None),
                },
            ))
        })
        .await
    }

    /// Loads (and if needed renews) the timestamp into the cache, and the snapshot when
    /// `want` is the snapshot or it was renewed. Most reads are of the timestamp alone
    /// (clients keep the snapshot by its checksum), so a timestamp read caches half the bytes
    /// and twice as many repositories fit the budget. A cached snapshot and timestamp share
    /// one deadline and a publish drops both, so one cached without the other is never stale.
    /// Returns the `want`ed file, also when the cache is too small to keep it.
    async fn refresh_timestamp(
        self: &Arc<Self>,
        gun: &str,
        want: &'static str,
    ) -> Result<CachedFile, ApiError> {
        let lock = self.gun_lock(gun);
        let _guard = lock.lock().await;
        if let Some(f) = self.cached(gun, want) {
            return Ok(f);
        }
        self.metrics.read_cache_load();
        let app = self.clone();
        let g = gun.to_string();
        let state = self
            .blocking(move || {
                let now = OffsetDateTime::now_utc();
                let state = update::current_timestamp(&g, app.store.as_ref(), &app.signer, now)
                    .map_err(update_error)?;
                let Some(s) = state else { return Ok(None) };
                if !s.new_rows.is_empty() {
                    app.store
                        .update_many(&g, &s.new_rows, now)
                        .map_err(store_error)?;
                }
                let lm = last_modified(OffsetDateTime::now_utc());
                let fresh_until = Some(s.timestamp_expires - update::TIMESTAMP_RENEW_MARGIN);
                let snapshot = (want == "snapshot"
                    || s.new_rows.iter().any(|r| r.role == "snapshot"))
                .then(|| CachedFile::new(s.snapshot, lm.clone(), fresh_until));
                Ok(Some((
                    s.timestamp_expires,
                    CachedFile::new(s.timestamp, lm, fresh_until),
                    snapshot,
                )))
            })
            .await?;
        let Some((expires, timestamp, snapshot)) = state else {
            return Err(ApiError::not_found());
        };
        self.metrics
            .server_signed_expiry("timestamp", expires.unix_timestamp());
        self.cache_put(gun, "timestamp", timestamp.clone());
        match snapshot {
            Some(snapshot) => {
                self.cache_put(gun, "snapshot", snapshot.clone());
                Ok(if want == "snapshot" {
                    snapshot
                } else {
                    timestamp
                })
            }
            None => Ok(timestamp),
        }
    }

    async fn get_version(
        self: &Arc<Self>,
        gun: &str,
        role: &str,
        version: i64,
    ) -> Result<Resp, ApiError> {
        if version < 1 {
            return Err(ApiError::not_found());
        }
        let (store, g, r) = (self.store.clone(), gun.to_string(), role.to_string());
        let meta = self
            .blocking(move || store.by_version(&g, &r, version).map_err(store_error))
            .await?
            .ok_or_else(ApiError::not_found)?;
        let lm = last_modified(meta.created_at);
        Ok(self.with_cache_headers(ok_bytes(meta.bytes), false, lm))
    }

    /// `<role>.<sha256>.json`: what docker and notary fetch for everything but the timestamp.
    /// Served from the read cache when the checksum is that of the current file; old
    /// versions come from the database.
    async fn get_checksum(
        self: &Arc<Self>,
        gun: &str,
        role: &str,
        sum: &str,
        gzip_ok: bool,
    ) -> Result<Resp, ApiError> {
        // Only SHA-256 is indexed, as in the reference.
        let mut sha256 = [0u8; 32];
        if hex::decode_to_slice(sum, &mut sha256).is_err() {
            return Err(ApiError::not_found());
        }
        if let Some(f) = self.cache.get_by_checksum(gun, role, &sha256) {
            return Ok(self.serve_file(f, false, gzip_ok));
        }
        // Most checksum requests name the current file: load that into the cache, once per
        // GUN as for current URLs. Snapshot and timestamp come through the timestamp's
        // refresh (their renewal deadline is the timestamp's).
        if let Some(want) = server_timed_role(role) {
            // A failed refresh still leaves the stored file to find by its checksum.
            match self.refresh_timestamp(gun, want).await {
                Ok(f) if f.sha256 == sha256 => return Ok(self.serve_file(f, false, gzip_ok)),
                _ => {}
            }
        } else {
            let _guard = self.gun_lock(gun).lock().await;
            if let Some(f) = self.cache.get_by_checksum(gun, role, &sha256) {
                return Ok(self.serve_file(f, false, gzip_ok));
            }
            if self.cached(gun, role).is_none() {
                if let Some(f) = self.load_latest(gun, role).await? {
                    self.cache_put(gun, role, f.clone());
                    if f.sha256 == sha256 {
                        return Ok(self.serve_file(f, false, gzip_ok));
                    }
                }
            }
        }
        // An older version: from the database, uncached.
        let (store, g, r, s) = (
            self.store.clone(),
            gun.to_string(),
            role.to_string(),
            sum.to_string(),
        );
        let meta = self
            .blocking(move || store.by_checksum(&g, &r, &s).map_err(store_error))
            .await?
            .ok_or_else(ApiError::not_found)?;
        let lm = last_modified(meta.created_at);
        Ok(self.with_cache_headers(ok_bytes(meta.bytes), false, lm))
    }

    fn gun_lock(&self, gun: &str) -> &tokio::sync::Mutex<()> {
        self.gun_locks.get(gun)
    }

    async fn publish(
        self: &Arc<Self>,
        gun: &str,
        req: Request<Incoming>,
    ) -> Result<Resp, ApiError> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let boundary = multipart::boundary(&content_type)
            .map_err(|_| ApiError::new(ErrorCode::MalformedUpload))?;
        // Declared first, dropped last: a large body's buffers are returned to the system on
        // every way out, rejections included.
        let mut trim = crate::heap::TrimWhenDone::default();
        let body = match Limited::new(req.into_body(), self.cfg.max_body_bytes)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                trim.arm_if_large(self.cfg.max_body_bytes);
                return Err(ApiError::new(ErrorCode::PayloadTooLarge));
            }
        };
        trim.arm_if_large(body.len());
        let parts = match multipart::parse(&body, &boundary, self.cfg.max_part_bytes) {
            Ok(p) => p,
            Err(multipart::MultipartError::PartTooLarge(_)) => {
                return Err(ApiError::new(ErrorCode::PayloadTooLarge))
            }
            Err(_) => return Err(ApiError::new(ErrorCode::MalformedUpload)),
        };
        let mut uploads = Vec::with_capacity(parts.len());
        for p in parts {
            let name = p.filename.unwrap_or_default();
            let role = name.strip_suffix(".json").unwrap_or(&name).to_string();
            if role.is_empty() {
                return Err(ApiError::new(ErrorCode::NoFilename));
            }
            if !role_name::is_valid_role(&role) {
                return Err(ApiError::with_detail(
                    ErrorCode::InvalidRole,
                    serde_json::Value::from(role),
                ));
            }
            // The envelope's shape, as notary-server decodes it, and no repeated keys (nothing
            // is built; validation parses the files again).
            if signet_tuf::upload_shape::check(&p.body).is_err() {
                return Err(ApiError::new(ErrorCode::MalformedJson));
            }
            uploads.push(Upload {
                role,
                bytes: p.body,
            });
        }
        let lock = self.gun_lock(gun);
        let _guard = lock.lock().await;
        let app = self.clone();
        let g = gun.to_string();
        let authorised_under = self.tenancy.get();
        let result = self
            .blocking(move || {
                let now = OffsetDateTime::now_utc();
                let rows: Vec<NewMeta> =
                    update::plan_update(&g, app.store.as_ref(), &app.signer, uploads, now)
                        .map_err(|e| {
                            app.metrics.validation_failure(e.kind());
                            update_error(e)
                        })?;
                app.store.update_many(&g, &rows, now).map_err(|e| {
                    if let StoreError::OldVersion { .. } = e {
                        app.metrics.validation_failure("version");
                    }
                    store_error(e)
                })?;
                app.undo_if_trust_disabled_meanwhile(&g, &authorised_under)
            })
            .await;
        self.invalidate(gun);
        result?;
        self.metrics.publish();
        Ok(ok_bytes(Bytes::new()))
    }

    /// A publish authorised under one configuration may commit after content trust was
    /// disabled (by this instance, the admin CLI or another instance): the wipe ran before our
    /// commit, so our files would outlive it. The store serialises wipes with commits, so a
    /// wipe that missed our files committed before our commit, and its generation is visible
    /// here; undo the publish then. Blocking.
    fn undo_if_trust_disabled_meanwhile(
        &self,
        gun: &str,
        authorised_under: &Tenancy,
    ) -> Result<(), ApiError> {
        if authorised_under.is_open() {
            return Ok(());
        }
        let generation = self.store.tenancy_generation().map_err(store_error)?;
        if generation == authorised_under.generation {
            return Ok(());
        }
        self.reload_tenancy_blocking();
        let now = self.tenancy.get();
        match now.resolve_gun(gun) {
            Some((registry, _)) if registry.trust_enabled() => Ok(()),
            other => {
                self.store
                    .delete_gun(gun, OffsetDateTime::now_utc())
                    .map_err(store_error)?;
                Err(match other {
                    Some((registry, _)) => ApiError::with_detail(
                        ErrorCode::TrustDisabled,
                        auth::trust_disabled_detail(registry),
                    ),
                    None => ApiError::new(ErrorCode::RegistryUnknown),
                })
            }
        }
    }

    async fn delete(self: &Arc<Self>, gun: &str) -> Result<Resp, ApiError> {
        let lock = self.gun_lock(gun);
        let _guard = lock.lock().await;
        let (store, g) = (self.store.clone(), gun.to_string());
        let result = self
            .blocking(move || {
                store
                    .delete_gun(&g, OffsetDateTime::now_utc())
                    .map_err(store_error)
            })
            .await;
        self.invalidate(gun);
        result?;
        Ok(ok_bytes(Bytes::new()))
    }

    fn key_response(key: &signet_keys::PublicKey) -> Resp {
        // Field order as notary's struct encoder writes it: public before private.
        let body = format!(
            "{{\"keytype\":\"{}\",\"keyval\":{{\"public\":\"{}\",\"private\":null}}}}",
            key.key_type().as_str(),
            key.public_b64()
        );
        ok_bytes(Bytes::from(body))
    }

    fn root_key_ids(
        store: &dyn Store,
        gun: &str,
        role: ServerRole,
    ) -> Result<Vec<String>, ApiError> {
        let Some(root) = store.latest(gun, "root").map_err(store_error)? else {
            return Ok(Vec::new());
        };
        let root = signet_tuf::SignedRoot::from_bytes("root", &root.bytes)
            .map_err(|_| ApiError::new(ErrorCode::Unknown))?;
        Ok(root
            .signed
            .role_entry(role.as_str())
            .map(|r| r.key_ids().to_vec())
            .unwrap_or_default())
    }

    /// GET `<role>.key` (`rotate` false: the key in use or a pending one) or POST (`rotate`
    /// true: a new pending key). Serialised per GUN like publishes.
    async fn server_key(
        self: &Arc<Self>,
        gun: &str,
        role: ServerRole,
        rotate: bool,
    ) -> Result<Resp, ApiError> {
        let lock = self.gun_lock(gun);
        let _guard = lock.lock().await;
        let (app, g) = (self.clone(), gun.to_string());
        let key = self
            .blocking(move || {
                let ids = Self::root_key_ids(app.store.as_ref(), &g, role)?;
                let key = if rotate {
                    app.signer.rotate(&g, role, &ids)
                } else {
                    app.signer.get_or_create(&g, role, &ids)
                };
                key.map_err(|e| {
                    tracing::error!(error = %e, "server key");
                    ApiError::new(ErrorCode::Unknown)
                })
            })
            .await?;
        Ok(Self::key_response(&key))
    }

    async fn changefeed(
        self: &Arc<Self>,
        gun: Option<&str>,
        query: Option<&str>,
    ) -> Result<Resp, ApiError> {
        let mut change_id = None;
        let mut records = None;
        for pair in query.unwrap_or("").split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "change_id" => change_id = Some(v.to_string()),
                "records" => records = Some(v.to_string()),
                _ => {}
            }
        }
        let bad = |what: &str, v: &str| {
            ApiError::with_detail(
                ErrorCode::InvalidParameters,
                serde_json::Value::from(format!("invalid {what} parameter: {v:?}")),
            )
        };
        let records_s = records.unwrap_or_default();
        let mut records: i64 = records_s
            .parse::<i32>()
            .map_err(|_| bad("records", &records_s))?
            .into();
        if records == 0 {
            records = 100;
        }
        if records.abs() > 10_000 {
            return Err(bad("records", &records_s));
        }
        let change_id = match change_id.as_deref() {
            None | Some("") => 0,
            Some(v) => v.parse::<i64>().map_err(|_| bad("change_id", v))?,
        };
        let (store, g) = (self.store.clone(), gun.map(str::to_string));
        let changes = self
            .blocking(move || {
                store
                    .changefeed(g.as_deref(), change_id, records)
                    .map_err(store_error)
            })
            .await?;
        #[derive(serde::Serialize)]
        struct Page<'a> {
            count: usize,
            records: Option<&'a [crate::store::Change]>,
        }
        let page = Page {
            count: changes.len(),
            records: (!changes.is_empty()).then_some(&changes[..]),
        };
        let body = serde_json::to_vec(&page).map_err(|_| ApiError::new(ErrorCode::Unknown))?;
        let mut r = ok_bytes(Bytes::from(body));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(r)
    }
}

/// Timestamp and snapshot: cached with the timestamp's renewal deadline, never alone from
/// the database.
fn server_timed_role(role: &str) -> Option<&'static str> {
    match role {
        "timestamp" => Some("timestamp"),
        "snapshot" => Some("snapshot"),
        _ => None,
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::OldVersion { .. } => {
            ApiError::with_detail(ErrorCode::Version, serde_json::json!({}))
        }
        StoreError::Backend(msg) => {
            tracing::error!(error = %msg, "storage failure");
            ApiError::new(ErrorCode::Updating)
        }
    }
}

fn update_error(e: UpdateError) -> ApiError {
    match &e {
        UpdateError::Store(StoreError::Backend(m)) => {
            tracing::error!(error = %m, "storage failure")
        }
        UpdateError::Corrupt(m) => tracing::error!(error = %m, "stored metadata unreadable"),
        UpdateError::Signer(s) => tracing::error!(error = %s, "signer failure"),
        _ => tracing::info!(error = %e, "update rejected"),
    }
    let code = ErrorCode::parse(e.api_code());
    ApiError {
        code,
        detail: e.detail(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gun_rules() {
        assert!(gun_error("docker.io/library/alpine").is_none());
        assert!(gun_error("registry.example.com:5000/team/app").is_none());
        for bad in [
            "a/../b", "a/./b", "a//b", "/a", "a/", "a b", "a\u{0}b", "a\\b",
        ] {
            let e = gun_error(bad).unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert_eq!(e.code, ErrorCode::InvalidGun, "{bad:?}");
        }
        // '*' never matches the reference's GUN pattern: the catch-all 404.
        assert_eq!(gun_error("a*b").unwrap().code, ErrorCode::MetadataNotFound);
    }

    #[test]
    fn metadata_file_names() {
        assert!(
            matches!(parse_meta_file("targets/releases.json"), Some(MetaRequest::Current(r)) if r == "targets/releases")
        );
        assert!(
            matches!(parse_meta_file("12.root.json"), Some(MetaRequest::Version(r, 12)) if r == "root")
        );
        let sum = "a".repeat(64);
        assert!(
            matches!(parse_meta_file(&format!("targets/x.{sum}.json")), Some(MetaRequest::Checksum(r, _)) if r == "targets/x")
        );
        assert!(matches!(
            parse_meta_file("snapshot.key"),
            Some(MetaRequest::Key(ServerRole::Snapshot))
        ));
        assert!(parse_meta_file("root.key").is_none());
        assert!(parse_meta_file("other.json").is_none());
        assert!(parse_meta_file("targets/a b.json").is_none());
    }
}
