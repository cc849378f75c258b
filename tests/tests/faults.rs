//! The fault suite: kill -9 under publishes (SQLite and PostgreSQL), PostgreSQL stopped and
//! restarted under load and while idle, the change listener's connection lost, two instances
//! racing to publish and to renew, each read through the other. (SIGTERM under load is
//! `graceful_shutdown.rs`.)
//!
//! What must hold: every acknowledged publish survives; an instance never serves a file older
//! than one it served before, nor one older than another instance's change for longer than the
//! notice takes to arrive; reads of repositories nobody writes to keep working while the
//! database is away; a read never fails because another instance renewed first.

use signet_interop::upload::{self, RepoKeys};
use signet_interop::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// A `signet-server` process, for faults an in-process server cannot take (kill -9).
struct ServerProcess {
    child: Child,
    url: String,
    agent: ureq::Agent,
}

impl ServerProcess {
    fn start(bin: &std::path::Path, data: &std::path::Path, database: Option<&str>) -> Self {
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data)
            .env("SIGNET_SIGNER_PASSPHRASE", "faults-test-pass")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(db) = database {
            cmd.args(["--database", db]);
        }
        let mut child = cmd.spawn().expect("start signet-server");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut banner = String::new();
        out.read_line(&mut banner).expect("banner");
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let url = banner
            .trim()
            .strip_prefix("signet-server listening on ")
            .unwrap_or_else(|| panic!("banner: {banner:?}"))
            .to_string();
        let agent = https_agent(&data.join("tls/ca.crt"));
        ServerProcess { child, url, agent }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> Option<std::path::PathBuf> {
    let bin = signet_server_bin();
    if bin.is_none() {
        assert!(
            std::env::var("SIGNET_REQUIRE_INTEROP").is_err(),
            "signet-server binary not built"
        );
        eprintln!("skipping: signet-server binary not built");
    }
    bin
}

/// POSTs one targets file; `None` when the connection failed (server killed, no answer).
fn try_publish(agent: &ureq::Agent, url: &str, gun: &str, targets: &[u8]) -> Option<(u16, String)> {
    let boundary = "faultsboundary91c2";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"targets\"\r\n\r\n").into_bytes();
    body.extend_from_slice(targets);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let req = agent.post(&format!("{url}/v2/{gun}/_trust/tuf/")).set(
        "Content-Type",
        &format!("multipart/form-data; boundary={boundary}"),
    );
    match req.send_bytes(&body) {
        Ok(r) => Some((r.status(), r.into_string().unwrap_or_default())),
        Err(ureq::Error::Status(code, r)) => Some((code, r.into_string().unwrap_or_default())),
        Err(_) => None,
    }
}

/// The first publish (root and targets v1) of `gun` on `url`.
fn create(agent: &ureq::Agent, url: &str, gun: &str) -> RepoKeys {
    let keys = RepoKeys::new(gun);
    let ts = upload::server_key(agent, url, gun, "timestamp");
    let snap = upload::server_key(agent, url, gun, "snapshot");
    let (s, b) = upload::post_update(
        agent,
        url,
        gun,
        &[
            ("root", &keys.root(1, &ts, &snap)),
            ("targets", &keys.targets(1, &[])),
        ],
    );
    assert_eq!(s, 200, "create {gun}: {b}");
    keys
}

/// The version of the current `role` served, or the status and body of the failure.
fn served_version(agent: &ureq::Agent, url: &str, gun: &str, role: &str) -> Result<i64, String> {
    match agent
        .get(&format!("{url}/v2/{gun}/_trust/tuf/{role}.json"))
        .call()
    {
        Ok(r) => {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut r.into_reader(), &mut body)
                .map_err(|e| e.to_string())?;
            signet_tuf::Envelope::parse(role, &body)
                .ok()
                .and_then(|e| e.version())
                .ok_or_else(|| format!("unparsable {role}"))
        }
        Err(ureq::Error::Status(code, r)) => {
            let body = r.into_string().unwrap_or_default();
            Err(format!("{code} {body}"))
        }
        Err(e) => Err(format!("transport: {e}")),
    }
}

/// Polls until `f` holds or `limit` passes (the caller's assertions then tell what is missing).
fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls until `f` holds, for at most `limit`; the failure names `what`.
fn within(limit: Duration, what: &str, mut f: impl FnMut() -> Result<bool, String>) {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    loop {
        match f() {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => last = e,
        }
        assert!(Instant::now() < deadline, "{what} (last error: {last})");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn version_is(
    agent: &ureq::Agent,
    url: &str,
    gun: &str,
    role: &str,
    want: i64,
) -> Result<bool, String> {
    served_version(agent, url, gun, role).map(|v| v == want)
}

/// Writers publish targets versions to their own repositories until the server is killed;
/// after a restart every acknowledged version is there.
fn kill9_under_publishes(database: Option<&str>) {
    const WRITERS: usize = 6;
    let Some(bin) = server_binary() else { return };
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&bin, data.path(), database);
    let guns: Vec<String> = (0..WRITERS)
        .map(|i| format!("example.com/kill9/{i}"))
        .collect();
    let keys: Vec<RepoKeys> = guns
        .iter()
        .map(|g| create(&server.agent, &server.url, g))
        .collect();
    let acked: Vec<AtomicI64> = (0..WRITERS).map(|_| AtomicI64::new(1)).collect();
    let writing = AtomicBool::new(true);
    std::thread::scope(|scope| {
        for i in 0..WRITERS {
            let (server, keys, acked, gun, writing) =
                (&server, &keys[i], &acked[i], &guns[i], &writing);
            scope.spawn(move || {
                let mut v = 2;
                while writing.load(Ordering::SeqCst) {
                    let body = keys.targets(v, &[(&format!("t{v}"), b"x")]);
                    match try_publish(&server.agent, &server.url, gun, &body) {
                        Some((200, _)) => {
                            acked.store(v, Ordering::SeqCst);
                            v += 1;
                        }
                        Some((status, body)) => panic!("{gun} v{v}: {status} {body}"),
                        None => return,
                    }
                }
            });
        }
        // Every writer has had a few publishes acknowledged (however loaded the machine)...
        wait_for(Duration::from_secs(60), || {
            acked.iter().all(|a| a.load(Ordering::SeqCst) >= 4)
        });
        // ...and is mid-request: kill -9, then let them see the dead connection.
        server.kill9_ref();
        writing.store(false, Ordering::SeqCst);
    });
    drop(server);
    let acked: Vec<i64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    assert!(
        acked.iter().all(|&v| v > 2),
        "too few publishes before the kill: {acked:?}"
    );

    let server = ServerProcess::start(&bin, data.path(), database);
    for (i, gun) in guns.iter().enumerate() {
        let current = served_version(&server.agent, &server.url, gun, "targets")
            .unwrap_or_else(|e| panic!("{gun} after restart: {e}"));
        // Acknowledged means stored; one more may have committed without its answer.
        assert!(
            current == acked[i] || current == acked[i] + 1,
            "{gun}: serves v{current}, v{} was acknowledged",
            acked[i]
        );
        for v in 1..=acked[i] {
            let (s, _) = upload::get(
                &server.agent,
                &format!("{}/v2/{gun}/_trust/tuf/{v}.targets.json", server.url),
            );
            assert_eq!(s, 200, "{gun}: acknowledged v{v} lost");
        }
        // And the repository takes the next publish.
        let next = keys[i].targets(current + 1, &[]);
        let answer = try_publish(&server.agent, &server.url, gun, &next);
        assert!(matches!(answer, Some((200, _))), "{gun}: {answer:?}");
    }
    eprintln!("kill -9 ({database:?}): acknowledged versions {acked:?} all survived");
}

impl ServerProcess {
    /// kill -9 through a shared reference (the writers still hold the server's agent).
    fn kill9_ref(&self) {
        let st = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
    }
}

#[test]
fn kill9_under_publishes_on_sqlite_loses_no_acknowledged_publish() {
    kill9_under_publishes(None);
}

#[test]
fn kill9_under_publishes_on_postgres_loses_no_acknowledged_publish() {
    if !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    let url = pg.create_database("kill9");
    kill9_under_publishes(Some(&url));
}

/// Two instances on one PostgreSQL, each with an agent.
struct Pair {
    a: SignetServer,
    b: SignetServer,
    aa: ureq::Agent,
    ab: ureq::Agent,
}

fn pair(url: &str) -> Pair {
    let a = SignetServer::start_on_postgres(url);
    let b = SignetServer::start_on_postgres(url);
    let (aa, ab) = (https_agent(&a.ca_path), https_agent(&b.ca_path));
    Pair { a, b, aa, ab }
}

#[test]
fn postgres_stopped_while_idle_keeps_quiet_repositories_readable_and_catches_up() {
    if !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    let p = pair(&pg.create_database("idle"));
    let gun = "example.com/faults/idle";
    let keys = create(&p.aa, &p.a.url, gun);
    // B reads (and caches) the current files, once A's notices have reached it (a late one
    // would rightly drop what B cached).
    std::thread::sleep(Duration::from_millis(300));
    let read = |role: &str| {
        upload::get(
            &p.ab,
            &format!("{}/v2/{gun}/_trust/tuf/{role}.json", p.b.url),
        )
    };
    let before: Vec<(u16, Vec<u8>)> = ["targets", "timestamp", "root"].map(read).to_vec();
    assert!(before.iter().all(|(s, _)| *s == 200));

    let trusted = |agent: &ureq::Agent, url: &str| -> Result<bool, String> {
        let (s, m) = upload::get(agent, &format!("{url}/metrics"));
        let m = String::from_utf8_lossy(&m).into_owned();
        match (s, m.contains("\nsignet_read_cache_trusted 1\n")) {
            (200, t) => Ok(t),
            _ => Err(format!("{s} {m}")),
        }
    };
    assert_eq!(trusted(&p.ab, &p.b.url), Ok(true));
    pg.stop();
    within(
        Duration::from_secs(3),
        "B notices it cannot hear changes",
        || trusted(&p.ab, &p.b.url).map(|t| !t),
    );
    // Nobody can publish while the database is away, so what B cached is current: served.
    for (role, (_, body)) in ["targets", "timestamp", "root"].iter().zip(&before) {
        let (s, got) = read(role);
        assert_eq!(
            s,
            200,
            "{role} during the outage: {}",
            String::from_utf8_lossy(&got)
        );
        assert_eq!(&got, body, "{role} during the outage");
    }
    // What was never cached fails with notary's error envelope, not a dropped connection.
    let (s, body) = upload::get(
        &p.ab,
        &format!("{}/v2/{gun}/_trust/tuf/1.targets.json", p.b.url),
    );
    assert_eq!(
        (
            s,
            upload::error_code(&String::from_utf8_lossy(&body)).as_str()
        ),
        (500, "UNKNOWN"),
        "as notary-server answers a storage failure on a read"
    );

    pg.start_again();
    // A publishes as soon as it can; B serves it promptly, whether or not its listener was
    // back when the notice was sent.
    within(
        Duration::from_secs(10),
        "A publishes after the restart",
        || match try_publish(&p.aa, &p.a.url, gun, &keys.targets(2, &[])) {
            Some((200, _)) => Ok(true),
            other => Err(format!("{other:?}")),
        },
    );
    within(Duration::from_secs(3), "B serves targets v2", || {
        version_is(&p.ab, &p.b.url, gun, "targets", 2)
    });
    within(Duration::from_secs(3), "B serves timestamp v2", || {
        version_is(&p.ab, &p.b.url, gun, "timestamp", 2)
    });
    within(Duration::from_secs(3), "B listens again", || {
        trusted(&p.ab, &p.b.url)
    });
}

#[test]
fn a_notice_sent_while_the_listener_reconnects_is_not_lost() {
    if !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    let db = "listener";
    let p = pair(&pg.create_database(db));
    let gun = "example.com/faults/listener";
    let keys = create(&p.aa, &p.a.url, gun);
    assert_eq!(served_version(&p.ab, &p.b.url, gun, "targets"), Ok(1));
    // The listeners' connections die (a proxy restart, an idle-session kill); the database
    // stays up. While B reconnects, it caches v1 again and A publishes v2.
    let killed = pg.query(
        db,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'",
    );
    assert_eq!(killed.len(), 2, "two listeners: {killed:?}");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(served_version(&p.ab, &p.b.url, gun, "targets"), Ok(1));
    assert_eq!(served_version(&p.ab, &p.b.url, gun, "timestamp"), Ok(1));
    let (s, body) =
        upload::post_update(&p.aa, &p.a.url, gun, &[("targets", &keys.targets(2, &[]))]);
    assert_eq!(s, 200, "{body}");
    within(Duration::from_secs(3), "B serves targets v2", || {
        version_is(&p.ab, &p.b.url, gun, "targets", 2)
    });
    within(Duration::from_secs(3), "B serves timestamp v2", || {
        version_is(&p.ab, &p.b.url, gun, "timestamp", 2)
    });
}

/// Per reader: the highest version seen of each repository; a lower one afterwards is a
/// regression.
#[derive(Default)]
struct Monotonic {
    seen: HashMap<String, i64>,
}

impl Monotonic {
    fn observe(&mut self, who: &str, gun: &str, v: i64) {
        let top = self.seen.entry(gun.to_string()).or_insert(0);
        assert!(v >= *top, "{who}: {gun} went back from v{top} to v{v}");
        *top = v;
    }
}

#[test]
fn postgres_restarted_under_load_loses_nothing_and_never_goes_back() {
    if !Postgres::available() {
        return;
    }
    const REPOS: usize = 4;
    let pg = Postgres::start();
    let p = pair(&pg.create_database("load"));
    let guns: Vec<String> = (0..REPOS)
        .map(|i| format!("example.com/faults/load{i}"))
        .collect();
    let keys: Vec<RepoKeys> = guns.iter().map(|g| create(&p.aa, &p.a.url, g)).collect();
    let acked: Vec<AtomicI64> = (0..REPOS).map(|_| AtomicI64::new(1)).collect();
    let running = AtomicBool::new(true);
    let failures = Mutex::new(Vec::new());
    let servers = [(&p.aa, &p.a.url), (&p.ab, &p.b.url)];
    let before_restart = std::thread::scope(|scope| {
        // One writer per repository, alternating between the instances.
        for i in 0..REPOS {
            let (keys, acked, gun, running, failures) =
                (&keys[i], &acked[i], &guns[i], &running, &failures);
            scope.spawn(move || {
                let mut v = 2;
                let mut n = 0;
                while running.load(Ordering::SeqCst) {
                    let (agent, url) = servers[(i + n) % 2];
                    n += 1;
                    match try_publish(agent, url, gun, &keys.targets(v, &[])) {
                        Some((200, _)) => {
                            acked.store(v, Ordering::SeqCst);
                            v += 1;
                        }
                        // The outage: a clean error, retried (the write may have committed
                        // just before it, then the retry is a version conflict).
                        Some((s, body)) if s >= 500 && !upload::error_code(&body).is_empty() => {}
                        Some((400, body)) if upload::error_code(&body) == "VERSION" => v += 1,
                        other => failures
                            .lock()
                            .unwrap()
                            .push(format!("{gun} v{v}: {other:?}")),
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        // Readers on both instances.
        for (r, (agent, url)) in servers.into_iter().enumerate() {
            let (guns, running, failures) = (&guns, &running, &failures);
            scope.spawn(move || {
                let mut seen = Monotonic::default();
                while running.load(Ordering::SeqCst) {
                    for gun in guns {
                        match served_version(agent, url, gun, "targets") {
                            Ok(v) => seen.observe(&format!("reader {r}"), gun, v),
                            Err(e) if e.starts_with('5') && e.contains("\"errors\"") => {}
                            Err(e) => failures.lock().unwrap().push(format!("read {gun}: {e}")),
                        }
                    }
                }
            });
        }
        wait_for(Duration::from_secs(60), || {
            acked.iter().all(|a| a.load(Ordering::SeqCst) >= 3)
        });
        pg.restart();
        // Every repository takes publishes again after the restart.
        let after: Vec<i64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
        wait_for(Duration::from_secs(60), || {
            acked
                .iter()
                .zip(&after)
                .all(|(a, before)| a.load(Ordering::SeqCst) >= before + 2)
        });
        running.store(false, Ordering::SeqCst);
        after
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    for (i, gun) in guns.iter().enumerate() {
        let acked = acked[i].load(Ordering::SeqCst);
        assert!(
            acked >= before_restart[i] + 2,
            "{gun}: v{} acknowledged before the restart, v{acked} at the end",
            before_restart[i]
        );
        for v in 1..=acked {
            let (s, _) = upload::get(
                &p.aa,
                &format!("{}/v2/{gun}/_trust/tuf/{v}.targets.json", p.a.url),
            );
            assert_eq!(s, 200, "{gun}: acknowledged v{v} lost");
        }
        let stored = served_version(&p.aa, &p.a.url, gun, "targets").unwrap();
        assert!(stored >= acked);
        within(
            Duration::from_secs(3),
            "both instances serve the last version",
            || {
                Ok(version_is(&p.ab, &p.b.url, gun, "targets", stored)?
                    && version_is(&p.aa, &p.a.url, gun, "targets", stored)?)
            },
        );
    }
}

#[test]
fn two_instances_racing_have_one_winner_per_version_and_readers_keep_up() {
    if !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    let p = pair(&pg.create_database("race"));
    let gun = "example.com/faults/race";
    let keys = create(&p.aa, &p.a.url, gun);
    let servers = [(&p.aa, &p.a.url), (&p.ab, &p.b.url)];
    let won = Mutex::new(Vec::new());
    let running = AtomicBool::new(true);
    std::thread::scope(|scope| {
        // Two writers per instance, each publishing the next version it does not know to be
        // taken; the losers learn from VERSION and move on.
        for w in 0..4 {
            let (agent, url) = servers[w % 2];
            let (keys, won, running) = (&keys, &won, &running);
            scope.spawn(move || {
                let mut v = 2;
                while running.load(Ordering::SeqCst) {
                    let body = keys.targets(v, &[(&format!("w{w}"), b"x")]);
                    match try_publish(agent, url, gun, &body) {
                        Some((200, _)) => won.lock().unwrap().push(v),
                        Some((400, b)) if upload::error_code(&b) == "VERSION" => {}
                        other => panic!("writer {w} v{v}: {other:?}"),
                    }
                    v += 1;
                }
            });
        }
        for (r, (agent, url)) in servers.into_iter().enumerate() {
            let running = &running;
            scope.spawn(move || {
                let mut seen = Monotonic::default();
                while running.load(Ordering::SeqCst) {
                    for role in ["targets", "timestamp"] {
                        let v = served_version(agent, url, gun, role)
                            .unwrap_or_else(|e| panic!("reader {r} {role}: {e}"));
                        seen.observe(&format!("reader {r}"), role, v);
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_secs(4));
        running.store(false, Ordering::SeqCst);
    });
    let mut won = won.into_inner().unwrap();
    won.sort();
    let last = *won.last().expect("some publish won");
    let mut unique = won.clone();
    unique.dedup();
    assert_eq!(unique, won, "a version accepted twice");
    // Every stored version was acknowledged to exactly one writer; none is missing.
    for v in 2..=last {
        let (s, _) = upload::get(
            &p.aa,
            &format!("{}/v2/{gun}/_trust/tuf/{v}.targets.json", p.a.url),
        );
        assert_eq!(
            s == 200,
            won.contains(&v),
            "version {v}: stored {s}, won {}",
            won.contains(&v)
        );
    }
    eprintln!(
        "race: {} versions published through two instances",
        won.len()
    );
    // Both serve the last version at once (the notice is milliseconds away, not a publish).
    within(
        Duration::from_secs(1),
        "both instances serve the last targets",
        || {
            Ok(version_is(&p.aa, &p.a.url, gun, "targets", last)?
                && version_is(&p.ab, &p.b.url, gun, "targets", last)?)
        },
    );
}

#[test]
fn two_instances_renewing_one_timestamp_both_serve_the_winners_file() {
    if !Postgres::available() {
        return;
    }
    const ROUNDS: usize = 8;
    let pg = Postgres::start();
    let db = "renew";
    let p = pair(&pg.create_database(db));
    let gun = "example.com/faults/renew";
    create(&p.aa, &p.a.url, gun);
    let servers = [(&p.aa, &p.a.url), (&p.ab, &p.b.url)];
    for round in 0..ROUNDS {
        // The stored timestamp has expired (edited in place; the server re-signs anyway), and
        // both instances drop what they cached of it.
        let (s, ts) = upload::get(
            &p.aa,
            &format!("{}/v2/{gun}/_trust/tuf/timestamp.json", p.a.url),
        );
        assert_eq!(s, 200);
        let version = signet_tuf::Envelope::parse("timestamp", &ts)
            .unwrap()
            .version()
            .unwrap();
        let expired = with_expiry(&ts, "2020-01-01T00:00:00Z");
        pg.psql(
            db,
            &format!(
                "UPDATE tuf_files SET data = decode('{}', 'hex') WHERE gun = '{gun}' AND role = 'timestamp' AND version = {version}; NOTIFY signet_changes, '{gun}'",
                hex::encode(&expired)
            ),
        );
        std::thread::sleep(Duration::from_millis(100));
        // Both instances read it at once: both find it due and renew; one renewal is stored.
        let barrier = Barrier::new(4);
        let answers: Vec<(u16, Vec<u8>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|i| {
                    let (agent, url) = servers[i % 2];
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        upload::get(agent, &format!("{url}/v2/{gun}/_trust/tuf/timestamp.json"))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (s, body) in &answers {
            assert_eq!(*s, 200, "round {round}: {}", String::from_utf8_lossy(body));
        }
        assert!(
            answers.iter().all(|(_, b)| b == &answers[0].1),
            "round {round}: the instances serve different timestamps"
        );
        let renewed = signet_tuf::Envelope::parse("timestamp", &answers[0].1)
            .unwrap()
            .version()
            .unwrap();
        assert_eq!(renewed, version + 1, "round {round}: one renewal");
    }
}

/// `timestamp` with its `expires` replaced.
fn with_expiry(timestamp: &[u8], expires: &str) -> Vec<u8> {
    let text = String::from_utf8(timestamp.to_vec()).expect("UTF-8");
    let key = "\"expires\":\"";
    let start = text.find(key).expect("expires") + key.len();
    let end = start + text[start..].find('"').expect("end of expires");
    format!("{}{expires}{}", &text[..start], &text[end..]).into_bytes()
}
