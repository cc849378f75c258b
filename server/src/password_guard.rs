//! Password checks at the token endpoint, bounded and slowed down.
//!
//! Each check is an argon2id hash (19 MiB with the default parameters), so unbounded checks
//! let anyone who knows a user name (a registry's admin user is its name) push the server to
//! gigabytes and starve the database work that shares the blocking pool. Checks therefore run
//! on a small pool of their own threads (memory at most `workers` × the argon2 cost) behind a
//! bounded queue, and repeated failures for one identity or from one client address are
//! answered `429` with a delay before the next check, without computing a hash. The delay
//! grows with the failures, is capped, and is forgotten after a quiet spell: never a permanent
//! lockout.

use crate::clock_map::ClockMap;
use std::net::IpAddr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the checks are bounded and failures slowed down.
#[derive(Clone, Debug)]
pub struct GuardConfig {
    /// Checks running at once, each on its own thread.
    pub workers: usize,
    /// Checks waiting for a thread; beyond this a request is answered busy at once.
    pub queue: usize,
    pub identity: ThrottlePolicy,
    pub client: ThrottlePolicy,
}

/// Failures allowed freely, then a delay doubling from `first_delay` up to `max_delay`;
/// forgotten after `forget_after` without a failure.
#[derive(Clone, Copy, Debug)]
pub struct ThrottlePolicy {
    pub free_failures: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub forget_after: Duration,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(2, 4),
            queue: 64,
            identity: ThrottlePolicy {
                free_failures: 5,
                first_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(30),
                forget_after: Duration::from_secs(15 * 60),
            },
            // Addresses are shared (NAT, CI runners): more failures go free.
            client: ThrottlePolicy {
                free_failures: 20,
                first_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(60),
                forget_after: Duration::from_secs(15 * 60),
            },
        }
    }
}

impl std::fmt::Debug for PasswordGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PasswordGuard({} threads)", self.workers)
    }
}

/// Why a password was not checked: both are answered `429` with `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many recent failures for this identity or from this address.
    SlowDown { retry_after: Duration },
    /// Every check thread is busy and the queue is full.
    Busy,
}

impl Refusal {
    /// Whole seconds for `Retry-After`, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Refusal::SlowDown { retry_after } => {
                retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)
            }
            Refusal::Busy => 1,
        }
        .max(1)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Entries kept per table; an evicted entry only forgets past failures.
const THROTTLE_ENTRIES: usize = 65_536;
/// Longer user names are keyed by this prefix (no real name is that long).
const IDENTITY_KEY_BYTES: usize = 256;

pub struct PasswordGuard {
    jobs: SyncSender<Job>,
    /// Check threads running; with none, every check is answered busy.
    workers: usize,
    throttles: Arc<Throttles>,
}

/// The connection's peer address, put in the extensions of the requests that go through the
/// router (`http::dispatch`).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub IpAddr);

struct Throttles {
    identities: Mutex<Throttle<String>>,
    clients: Mutex<Throttle<IpAddr>>,
}

impl Throttles {
    /// How long the identity or the address must still wait, the longer of the two.
    fn wait(&self, identity: &String, client: Option<&IpAddr>, now: Instant) -> Option<Duration> {
        [
            lock(&self.identities).wait(identity, now),
            client.and_then(|c| lock(&self.clients).wait(c, now)),
        ]
        .into_iter()
        .flatten()
        .max()
    }
}

impl Throttles {
    /// A success clears the identity's failures; a failure counts for both.
    fn record(&self, identity: String, client: Option<IpAddr>, passed: bool, now: Instant) {
        if passed {
            lock(&self.identities).forget(&identity);
            return;
        }
        lock(&self.identities).failed(identity, now);
        if let Some(c) = client {
            lock(&self.clients).failed(c, now);
        }
    }
}

/// What a queued check came to.
enum Outcome<T> {
    Checked(Option<T>),
    /// Failures recorded while it waited for a thread made it wait: not computed.
    Refused(Duration),
}

impl PasswordGuard {
    pub fn new(cfg: GuardConfig) -> Arc<Self> {
        let (jobs, queue) = sync_channel::<Job>(cfg.queue);
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = 0;
        for i in 0..cfg.workers.max(1) {
            let queue = queue.clone();
            match std::thread::Builder::new()
                .name(format!("password-check-{i}"))
                .spawn(move || run_worker(&queue))
            {
                Ok(_) => workers += 1,
                Err(e) => tracing::warn!(error = %e, "cannot start a password check thread"),
            }
        }
        Arc::new(PasswordGuard {
            jobs,
            workers,
            throttles: Arc::new(Throttles {
                identities: Mutex::new(Throttle::new(cfg.identity)),
                clients: Mutex::new(Throttle::new(cfg.client)),
            }),
        })
    }

    /// Runs `verify` (the password check: `Some` when it matches) on a check thread, unless
    /// this identity or address must wait or every thread and queue slot is taken. A `None`
    /// result counts as a failure for both; `Some` clears the identity's failures.
    pub async fn check<T: Send + 'static>(
        &self,
        identity: &str,
        client: Option<IpAddr>,
        verify: impl FnOnce() -> Option<T> + Send + 'static,
    ) -> Result<Option<T>, Refusal> {
        let identity = identity_key(identity);
        let client = client.map(client_key);
        if let Some(retry_after) = self
            .throttles
            .wait(&identity, client.as_ref(), Instant::now())
        {
            return Err(Refusal::SlowDown { retry_after });
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let throttles = self.throttles.clone();
        let job: Job = Box::new(move || {
            // A burst queues many checks before the first failures are known: those that
            // meanwhile must wait are not computed. Failures are recorded here, on the check
            // thread, so the next queued check already sees them.
            let outcome = match throttles.wait(&identity, client.as_ref(), Instant::now()) {
                Some(d) => Outcome::Refused(d),
                None => {
                    let checked = verify();
                    // The 19 MiB of the hash would otherwise stay with this thread, and the
                    // next check would take 19 MiB more.
                    crate::heap::release_freed_memory();
                    throttles.record(identity, client, checked.is_some(), Instant::now());
                    Outcome::Checked(checked)
                }
            };
            let _ = tx.send(outcome);
        });
        if self.workers == 0 || self.jobs.try_send(job).is_err() {
            return Err(Refusal::Busy);
        }
        match rx.await {
            Ok(Outcome::Refused(retry_after)) => Err(Refusal::SlowDown { retry_after }),
            Ok(Outcome::Checked(o)) => Ok(o),
            // The check panicked (the worker survives it): a failure, not a pass.
            Err(_) => Ok(None),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Entries are replaced whole: a panic elsewhere cannot leave one half-written.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn run_worker(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, not while running it.
        let job = match lock(queue).recv() {
            Ok(job) => job,
            // The guard was dropped.
            Err(_) => return,
        };
        // A panicking check must not take the thread with it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

fn identity_key(identity: &str) -> String {
    let mut end = identity.len().min(IDENTITY_KEY_BYTES);
    while !identity.is_char_boundary(end) {
        end -= 1;
    }
    identity[..end].to_string()
}

/// An IPv6 client is keyed by its /64: one host usually holds the whole prefix.
fn client_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Recent failures per key, bounded in entries.
struct Throttle<K: std::hash::Hash + Eq + Clone> {
    policy: ThrottlePolicy,
    entries: ClockMap<K, Failures>,
}

impl<K: std::hash::Hash + Eq + Clone> Throttle<K> {
    fn new(policy: ThrottlePolicy) -> Self {
        Throttle {
            policy,
            entries: ClockMap::new(),
        }
    }

    /// How long `key` must still wait, if at all.
    fn wait(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let until = self.entries.get(key)?.blocked_until?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    fn failed(&mut self, key: K, now: Instant) {
        let p = self.policy;
        let prev = self
            .entries
            .get(&key)
            .copied()
            .filter(|f| now.saturating_duration_since(f.last) < p.forget_after);
        let count = prev.map_or(0, |f| f.count).saturating_add(1);
        let blocked_until = (count > p.free_failures).then(|| {
            let doublings = (count - p.free_failures - 1).min(20);
            now + p
                .first_delay
                .saturating_mul(1 << doublings)
                .min(p.max_delay)
        });
        let evicted = self.entries.insert_capped(
            key,
            Failures {
                count,
                last: now,
                blocked_until,
            },
            THROTTLE_ENTRIES,
        );
        drop(evicted);
    }

    fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn policy(free: u32) -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: free,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            forget_after: Duration::from_secs(600),
        }
    }

    #[test]
    fn delays_grow_are_capped_and_are_forgotten() {
        let mut t: Throttle<String> = Throttle::new(policy(2));
        let key = "admin".to_string();
        let t0 = Instant::now();
        t.failed(key.clone(), t0);
        t.failed(key.clone(), t0);
        assert_eq!(t.wait(&key, t0), None, "two failures go free");
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..6 {
            t.failed(key.clone(), now);
            let d = t.wait(&key, now).expect("delayed");
            delays.push(d.as_secs());
            // Allowed again once the delay has passed.
            now += d;
            assert_eq!(t.wait(&key, now), None);
        }
        assert_eq!(delays, vec![1, 2, 4, 8, 8, 8]);
        // A quiet spell forgets everything: the next failure is free again.
        now += Duration::from_secs(601);
        t.failed(key.clone(), now);
        assert_eq!(t.wait(&key, now), None);
        assert_eq!(t.entries.get(&key).map(|f| f.count), Some(1));
        // Other keys are unaffected; forgetting one clears it.
        assert_eq!(t.wait(&"other".to_string(), now), None);
        t.forget(&key);
        assert!(t.entries.get(&key).is_none());
    }

    #[test]
    fn client_keys_group_an_ipv6_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let long = "é".repeat(300);
        assert!(identity_key(&long).len() <= IDENTITY_KEY_BYTES);
    }

    fn guard(
        workers: usize,
        queue: usize,
        identity_free: u32,
        client_free: u32,
    ) -> Arc<PasswordGuard> {
        PasswordGuard::new(GuardConfig {
            workers,
            queue,
            identity: policy(identity_free),
            client: policy(client_free),
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_run_on_their_own_threads_at_most_workers_at_once() {
        let g = guard(2, 64, 100, 100);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (g, running, peak) = (g.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                g.check(&format!("user{i}"), None, move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                    running.fetch_sub(1, Ordering::SeqCst);
                    let name = std::thread::current().name().map(str::to_string);
                    Some(name)
                })
                .await
            }));
        }
        for t in tasks {
            let name = t.await.unwrap().unwrap().unwrap().unwrap_or_default();
            assert!(name.starts_with("password-check-"), "{name}");
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_wrong_passwords_computes_few_hashes() {
        let g = guard(2, 64, 3, 1000);
        let checks = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let (g, checks) = (g.clone(), checks.clone());
            tasks.push(tokio::spawn(async move {
                g.check("admin", None, move || {
                    checks.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    None::<()>
                })
                .await
            }));
        }
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(None) => {}
                Err(Refusal::SlowDown { .. }) => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        // The free failures and those already running when the delay began, no more.
        let computed = checks.load(Ordering::SeqCst);
        assert!(computed <= 3 + 2, "{computed} hashes computed");
        assert_eq!(refused, 40 - computed);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_busy_without_checking() {
        let g = guard(1, 1, 100, 100);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let blocker = {
            let (g, rx) = (g.clone(), release_rx.clone());
            tokio::spawn(async move {
                g.check("a", None, move || {
                    let _ = lock(&rx).recv();
                    Some(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let queued = {
            let g = g.clone();
            tokio::spawn(async move { g.check("b", None, || Some(())).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let called = Arc::new(AtomicUsize::new(0));
        let c = called.clone();
        let refused = g
            .check("c", None, move || {
                c.fetch_add(1, Ordering::SeqCst);
                Some(())
            })
            .await;
        assert_eq!(refused, Err(Refusal::Busy));
        assert_eq!(Refusal::Busy.retry_after_secs(), 1);
        release_tx.send(()).unwrap();
        assert_eq!(blocker.await.unwrap(), Ok(Some(())));
        assert_eq!(queued.await.unwrap(), Ok(Some(())));
        assert_eq!(called.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn repeated_failures_slow_down_the_identity_and_the_address_not_for_good() {
        let g = guard(2, 64, 3, 5);
        let checks = Arc::new(AtomicUsize::new(0));
        let attempt = |user: &'static str, ip: &'static str, right: bool| {
            let (g, checks) = (g.clone(), checks.clone());
            async move {
                g.check(user, Some(ip.parse().unwrap()), move || {
                    checks.fetch_add(1, Ordering::SeqCst);
                    right.then_some(user)
                })
                .await
            }
        };
        // Three wrong passwords for admin from three addresses go free; the fourth is
        // checked and then admin must wait, from any address, even with the right password.
        for ip in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"] {
            assert_eq!(attempt("admin", ip, false).await, Ok(None));
        }
        let before = checks.load(Ordering::SeqCst);
        let refused = attempt("admin", "198.51.100.9", true).await;
        let Err(Refusal::SlowDown { retry_after }) = refused else {
            panic!("{refused:?}")
        };
        assert!(retry_after <= Duration::from_secs(1) && !retry_after.is_zero());
        assert_eq!(refused.unwrap_err().retry_after_secs(), 1);
        assert_eq!(checks.load(Ordering::SeqCst), before, "no hash computed");
        // Other identities are unaffected.
        assert_eq!(
            attempt("alice", "198.51.100.9", true).await,
            Ok(Some("alice"))
        );
        // After the delay the right password gets through and clears the identity.
        tokio::time::sleep(retry_after).await;
        assert_eq!(
            attempt("admin", "198.51.100.9", true).await,
            Ok(Some("admin"))
        );
        assert_eq!(attempt("admin", "198.51.100.9", false).await, Ok(None));
        assert_eq!(
            attempt("admin", "198.51.100.9", true).await,
            Ok(Some("admin"))
        );
        // One address trying many names is slowed down on its own: 192.0.2.1 already failed
        // once above; four more go free, then it waits, whatever the name.
        for i in 0..4 {
            let user: &'static str = ["u1", "u2", "u3", "u4"][i];
            assert_eq!(attempt(user, "192.0.2.1", false).await, Ok(None));
        }
        assert_eq!(attempt("u5", "192.0.2.1", false).await, Ok(None));
        assert!(matches!(
            attempt("u6", "192.0.2.1", true).await,
            Err(Refusal::SlowDown { .. })
        ));
        assert_eq!(attempt("u6", "192.0.2.200", true).await, Ok(Some("u6")));
    }
}
