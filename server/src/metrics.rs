//! Prometheus metrics in the text exposition format, kept by hand (a few counters and one
//! histogram do not need a registry crate).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    latency_counts: BTreeMap<&'static str, [u64; BUCKETS.len() + 1]>,
    latency_sum: BTreeMap<&'static str, f64>,
    publishes: u64,
    validation_failures: BTreeMap<&'static str, u64>,
    server_signed_expiry: BTreeMap<&'static str, i64>,
    gate_decisions: BTreeMap<(String, &'static str), u64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    gzip_responses: AtomicU64,
    read_cache_loads: AtomicU64,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn observe(&self, route: &'static str, status: u16, elapsed: Duration) {
        let mut m = self.lock();
        *m.requests.entry((route, status)).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        let counts = m
            .latency_counts
            .entry(route)
            .or_insert([0; BUCKETS.len() + 1]);
        let idx = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        counts[idx] += 1;
        *m.latency_sum.entry(route).or_default() += secs;
    }

    /// A metadata body sent gzip-encoded.
    pub fn gzip_response(&self) {
        self.gzip_responses.fetch_add(1, Ordering::Relaxed);
    }

    /// A metadata file read from the database into the read cache (a cache miss).
    pub fn read_cache_load(&self) {
        self.read_cache_loads.fetch_add(1, Ordering::Relaxed);
    }

    /// A gate decision on a manifest read, by registry and outcome.
    pub fn gate_decision(&self, registry: &str, outcome: &'static str) {
        *self
            .lock()
            .gate_decisions
            .entry((registry.to_string(), outcome))
            .or_default() += 1;
    }

    pub fn publish(&self) {
        self.lock().publishes += 1;
    }

    pub fn validation_failure(&self, kind: &'static str) {
        *self.lock().validation_failures.entry(kind).or_default() += 1;
    }

    /// Unix time at which the most recently produced server-signed role expires.
    pub fn server_signed_expiry(&self, role: &'static str, unix: i64) {
        self.lock().server_signed_expiry.insert(role, unix);
    }

    pub fn render(&self) -> String {
        let m = self.lock();
        let mut out = String::new();
        out.push_str("# HELP signet_http_requests_total HTTP requests by route and status.\n# TYPE signet_http_requests_total counter\n");
        for ((route, status), n) in &m.requests {
            out.push_str(&format!(
                "signet_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP signet_http_request_duration_seconds Request latency by route.\n# TYPE signet_http_request_duration_seconds histogram\n");
        for (route, counts) in &m.latency_counts {
            let mut cum = 0;
            for (i, b) in BUCKETS.iter().enumerate() {
                cum += counts[i];
                out.push_str(&format!("signet_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {cum}\n"));
            }
            cum += counts[BUCKETS.len()];
            out.push_str(&format!("signet_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {cum}\n"));
            out.push_str(&format!(
                "signet_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n",
                m.latency_sum.get(route).copied().unwrap_or(0.0)
            ));
            out.push_str(&format!(
                "signet_http_request_duration_seconds_count{{route=\"{route}\"}} {cum}\n"
            ));
        }
        out.push_str(&format!(
            "# HELP signet_publishes_total Accepted metadata updates.\n# TYPE signet_publishes_total counter\nsignet_publishes_total {}\n",
            m.publishes
        ));
        out.push_str(&format!(
            "# HELP signet_gzip_responses_total Metadata responses sent gzip-encoded.\n# TYPE signet_gzip_responses_total counter\nsignet_gzip_responses_total {}\n",
            self.gzip_responses.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "# HELP signet_read_cache_loads_total Current metadata read from the database on a cache miss.\n# TYPE signet_read_cache_loads_total counter\nsignet_read_cache_loads_total {}\n",
            self.read_cache_loads.load(Ordering::Relaxed)
        ));
        out.push_str("# HELP signet_validation_failures_total Rejected updates by kind.\n# TYPE signet_validation_failures_total counter\n");
        for (kind, n) in &m.validation_failures {
            out.push_str(&format!(
                "signet_validation_failures_total{{kind=\"{kind}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP signet_server_signed_expiry_timestamp_seconds Expiry of the newest server-signed metadata by role.\n# TYPE signet_server_signed_expiry_timestamp_seconds gauge\n");
        for (role, t) in &m.server_signed_expiry {
            out.push_str(&format!(
                "signet_server_signed_expiry_timestamp_seconds{{role=\"{role}\"}} {t}\n"
            ));
        }
        out.push_str("# HELP signet_gate_decisions_total Manifest reads decided by the signed-only gate, by registry and outcome (allowed, denied, would_deny, exempt, off).\n# TYPE signet_gate_decisions_total counter\n");
        for ((registry, outcome), n) in &m.gate_decisions {
            out.push_str(&format!(
                "signet_gate_decisions_total{{registry=\"{registry}\",outcome=\"{outcome}\"}} {n}\n"
            ));
        }
        out
    }
}

/// Whether the read cache serves its files as current: 0 while another instance's changes
/// cannot be heard (reads then go to the database).
pub fn read_cache_trusted_gauge(trusted: bool) -> String {
    format!(
        "# HELP signet_read_cache_trusted 1 when other instances' changes are heard and cached files are served; 0 while reads go to the database.\n# TYPE signet_read_cache_trusted gauge\nsignet_read_cache_trusted {}\n",
        u8::from(trusted)
    )
}

/// The read cache's gauges: bytes held, its budget, and how many repositories it holds.
pub fn read_cache_gauges(bytes: usize, limit: usize, repositories: usize) -> String {
    format!(
        "# HELP signet_read_cache_bytes Bytes of cached current metadata.\n# TYPE signet_read_cache_bytes gauge\nsignet_read_cache_bytes {bytes}\n\
         # HELP signet_read_cache_limit_bytes The read cache's budget.\n# TYPE signet_read_cache_limit_bytes gauge\nsignet_read_cache_limit_bytes {limit}\n\
         # HELP signet_read_cache_repositories Repositories with cached metadata.\n# TYPE signet_read_cache_repositories gauge\nsignet_read_cache_repositories {repositories}\n"
    )
}
