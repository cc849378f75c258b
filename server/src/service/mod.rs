//! The trust service: everything the Notary v1 API does, without HTTP.
//!
//! Reads (current, by version, by checksum, with the renewal of server-signed timestamps),
//! publishes, deletes, server keys, the changefeed and the access decision, over the store,
//! the signer, the read cache and the tenancy configuration. Callers (the axum layer in
//! [`crate::http`], unit tests) hand in parsed requests and get files or a [`ServiceError`].

mod access;
mod changefeed;
mod error;
pub mod gate;
mod import;
mod keys;
pub mod names;
mod publish;
mod read;
pub mod token;

pub use access::{Caller, Need, CATALOG_SCOPE};
pub use changefeed::ChangefeedQuery;
pub use error::ServiceError;
pub use import::OPERATOR_ACTOR;
pub use keys::key_json;
pub use read::MetaBody;

use crate::auth::{AuthConfig, TenancyState};
use crate::gun_locks::GunLocks;
use crate::metrics::Metrics;
use crate::read_cache::ReadCache;
use crate::signer::Signer;
use crate::store::{ChangeNotice, Store};
use crate::tenancy::{self, AdminService, Tenancy};
use crate::token::TokenKeys;
use crate::update::ValidatedRoots;
use std::sync::Arc;

/// Tunables of the trust service.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Budget of the in-memory cache of current metadata, bytes; 0 disables it.
    pub read_cache_bytes: usize,
    /// The background pass renewing server-held metadata ahead of expiry and refreshing
    /// the expiry gauges; `None` runs none.
    pub maintenance: Option<crate::maintenance::MaintenanceConfig>,
}

/// Everything a [`TrustService`] is built from.
pub struct ServiceParts {
    pub store: Arc<dyn Store>,
    pub signer: Arc<Signer>,
    pub config: ServiceConfig,
    pub auth: AuthConfig,
    pub token_keys: Arc<TokenKeys>,
    pub tenancy: Tenancy,
}

pub struct TrustService {
    store: Arc<dyn Store>,
    signer: Arc<Signer>,
    metrics: Metrics,
    /// Current metadata of recently read GUNs, bounded by `config.read_cache_bytes`.
    cache: ReadCache,
    /// Serialise writes (and cache fills) per GUN.
    gun_locks: GunLocks,
    /// Registries, identities and roles; swapped whole when the configuration changes.
    tenancy: TenancyState,
    auth: AuthConfig,
    token_keys: Arc<TokenKeys>,
    /// The token endpoint's password checks: own threads, bounded, failures slowed down.
    password_guard: Arc<crate::password_guard::PasswordGuard>,
    /// Stored roots already validated, so a publish does not re-check the root's signatures
    /// and certificates every time.
    validated_roots: ValidatedRoots,
    /// The per-repository expiry gauges of the last maintenance pass.
    expiry_gauges: Arc<crate::maintenance::ExpiryGauges>,
    /// The signed-only gate's verified trust data and index children.
    gate: gate::GateState,
}

/// How often the configuration generation is checked for changes made by the admin CLI or
/// another instance.
const TENANCY_POLL: std::time::Duration = std::time::Duration::from_millis(500);

impl TrustService {
    /// Builds the service. Inside a tokio runtime it also starts watching for configuration
    /// changes (a poll of the generation) and, on a shared database, for other instances'
    /// changes (dropping what it cached of them).
    /// `/metrics` text of the per-repository expiry gauge (from the last maintenance pass).
    pub fn expiry_gauges(&self) -> String {
        self.expiry_gauges.render()
    }

    pub fn new(parts: ServiceParts) -> Arc<Self> {
        let ServiceParts {
            store,
            signer,
            config,
            auth,
            token_keys,
            tenancy,
        } = parts;
        let expiry_gauges = match config.maintenance {
            Some(m) => crate::maintenance::spawn(store.clone(), signer.clone(), m),
            None => Arc::default(),
        };
        let service = Arc::new(TrustService {
            expiry_gauges,
            store,
            signer,
            cache: ReadCache::new(config.read_cache_bytes),
            metrics: Metrics::default(),
            gun_locks: GunLocks::default(),
            tenancy: TenancyState::new(tenancy),
            password_guard: crate::password_guard::PasswordGuard::new(auth.password_checks.clone()),
            auth,
            token_keys,
            validated_roots: ValidatedRoots::default(),
            gate: gate::GateState::default(),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&service);
            rt.spawn(async move {
                loop {
                    tokio::time::sleep(TENANCY_POLL).await;
                    let Some(service) = weak.upgrade() else { break };
                    let _ = tokio::task::spawn_blocking(move || {
                        let seen = service.tenancy.get().generation;
                        if service.store.tenancy_generation().is_ok_and(|g| g != seen) {
                            service.reload_tenancy_blocking();
                        }
                    })
                    .await;
                }
            });
        }
        let weak = Arc::downgrade(&service);
        service.store.watch_changes(Box::new(move |notice| {
            let Some(service) = weak.upgrade() else {
                return;
            };
            match notice {
                ChangeNotice::Changed("*") => service.cache.clear(),
                ChangeNotice::Changed(gun) => service.cache.invalidate(gun),
                // What was cached may have missed notices sent while nobody listened; files
                // loaded from now on hear every later change.
                ChangeNotice::Listening => {
                    service.cache.clear();
                    service.cache.set_trusted(true);
                }
                // Cached files stay as the fallback for when the database cannot be read
                // (then nobody can publish either); reads go to the database meanwhile.
                ChangeNotice::Deaf => service.cache.set_trusted(false),
            }
        }));
        service
    }

    /// The configuration in force.
    pub fn tenancy(&self) -> Arc<Tenancy> {
        self.tenancy.get()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn auth_config(&self) -> &AuthConfig {
        &self.auth
    }

    /// Whether cached files are served as current (see [`ReadCache::set_trusted`]).
    pub fn read_cache_trusted(&self) -> bool {
        self.cache.is_trusted()
    }

    /// Size, budget and repository count of the read cache (for `/metrics`).
    pub fn read_cache_stats(&self) -> (usize, usize, usize) {
        (self.cache.bytes(), self.cache.limit(), self.cache.len())
    }

    /// Reloads the tenancy configuration and drops every cached trust file (a registry may
    /// just have had its trust data wiped). Blocking: the database is read.
    pub fn reload_tenancy_blocking(&self) {
        match tenancy::load(self.store.as_ref()) {
            Ok(t) => {
                if self.tenancy.replace(t) {
                    self.cache.clear();
                }
            }
            Err(e) => tracing::error!(error = %e, "reloading registries"),
        }
    }

    /// The admin service over this server's database, acting as `actor`; changes take effect
    /// here at once. Blocking to use.
    pub fn admin(self: &Arc<Self>, actor: &str) -> AdminService {
        let hook = self.clone();
        AdminService::new(self.store.clone(), actor)
            .with_change_hook(Box::new(move || hook.reload_tenancy_blocking()))
    }

    /// Runs blocking work (database, signing, argon2) off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        tokio::task::spawn_blocking(f)
            .await
            .unwrap_or_else(|e| Err(ServiceError::Internal(format!("blocking task: {e}"))))
    }
}

/// Go's `time.RFC1123` with the zone name of the database time: "Mon, 02 Jan 2006 15:04:05
/// UTC", as notary-server writes `Last-Modified`.
fn last_modified(t: time::OffsetDateTime) -> bytes::Bytes {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] UTC"
    );
    let s = t
        .to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "Mon, 01 Jan 0001 00:00:00 UTC".into());
    bytes::Bytes::from(s)
}

#[cfg(test)]
pub(crate) mod tests;
