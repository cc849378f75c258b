//! The server's background pass over every repository: renews the server-held timestamp
//! and snapshot ahead of expiry (so a repository nobody reads stays valid too) and
//! refreshes the per-repository expiry gauge that `/metrics` shows.

use crate::expiry;
use crate::signer::Signer;
use crate::store::Store;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often the pass runs and how far ahead of expiry it renews.
#[derive(Clone, Debug)]
pub struct MaintenanceConfig {
    pub interval: Duration,
    /// Wider than the read path's one day, so the two rarely renew the same file at once.
    pub renew_ahead: time::Duration,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            interval: Duration::from_secs(3600),
            renew_ahead: time::Duration::days(3),
        }
    }
}

/// The gauge text of the last pass (empty before the first).
#[derive(Default)]
pub struct ExpiryGauges(RwLock<String>);

impl ExpiryGauges {
    pub fn render(&self) -> String {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, text: String) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = text;
    }
}

/// One pass, blocking: renewals first (so the gauges see the renewed files), then the scan.
pub fn run_once(
    store: &dyn Store,
    signer: &Signer,
    cfg: &MaintenanceConfig,
    gauges: &ExpiryGauges,
) {
    let now = time::OffsetDateTime::now_utc();
    match expiry::renew_due(store, signer, now, cfg.renew_ahead) {
        Ok(done) if !done.renewed.is_empty() || done.failed > 0 => tracing::info!(
            repositories = done.repositories,
            renewed = done.renewed.len(),
            failed = done.failed,
            "renewed server-signed metadata ahead of expiry"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "renewal pass"),
    }
    let guns = match store.guns() {
        Ok(g) => g,
        Err(e) => {
            tracing::error!(error = %e, "expiry scan");
            return;
        }
    };
    let mut per_repository = Vec::with_capacity(guns.len());
    let mut foreign = Vec::new();
    for gun in guns {
        match expiry::repository(store, &gun) {
            Ok(list) => {
                let earliest = expiry::earliest_client_signed(&list);
                if let Some(t) = expiry::foreign_timestamp(&list) {
                    foreign.push((gun.clone(), t));
                }
                per_repository.push((gun, earliest));
            }
            Err(e) => tracing::warn!(gun, error = %e, "expiry scan"),
        }
    }
    let mut text = expiry::render_metrics(&per_repository);
    text.push_str(&expiry::render_foreign_metrics(&foreign));
    gauges.set(text);
}

/// Starts the pass on the current tokio runtime: once now, then every `cfg.interval`, until
/// the returned gauges' last other owner is gone.
pub fn spawn(
    store: Arc<dyn Store>,
    signer: Arc<Signer>,
    cfg: MaintenanceConfig,
) -> Arc<ExpiryGauges> {
    let gauges = Arc::new(ExpiryGauges::default());
    let weak = Arc::downgrade(&gauges);
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            while let Some(g) = weak.upgrade() {
                let (store, signer, cfg2) = (store.clone(), signer.clone(), cfg.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    run_once(store.as_ref(), &signer, &cfg2, &g)
                })
                .await;
                tokio::time::sleep(cfg.interval).await;
            }
        });
    }
    gauges
}
