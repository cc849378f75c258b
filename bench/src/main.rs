//! `signet-bench`: the same workload against the reference notary-server (memory store, and
//! PostgreSQL; notary-signer over mutual TLS), Signet on SQLite, Signet on PostgreSQL, and
//! nginx serving the same files as static TLS content (the ceiling). Prints a table with
//! ratios and writes JSON lines. Loads: wrk (GETs), a publish driver in this binary.

mod handshakes;
mod measure;
mod report;

use measure::{alive, rss_kib, settle, with_cpu, Measure};
use signet_interop::upload::{self, RepoKeys};
use signet_interop::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Opts {
    repos: usize,
    duration: u64,
    out: PathBuf,
    server_bin: PathBuf,
    big_tags: usize,
    /// Only Signet (no reference servers, no nginx): quick memory and throughput checks.
    signet_only: bool,
    /// Signet and nginx, without the reference servers (quick comparisons with the ceiling).
    no_notary: bool,
    /// After populating, print each server's URL and pid and keep them running this many
    /// seconds instead of measuring (for profiling, or measuring with other tools).
    hold: u64,
    /// Extra arguments for `signet-server serve` (e.g. `--read-cache-mib 0` to measure misses).
    server_args: Vec<String>,
    /// Run only the workloads whose name contains this (quick experiments).
    only: Option<String>,
    /// A previous `signet-server` build, run beside the current one on SQLite (regressions
    /// show as the `vs prev` column).
    baseline_bin: Option<PathBuf>,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        repos: 1000,
        duration: 5,
        out: PathBuf::from("bench-results.jsonl"),
        server_bin: PathBuf::from("target/release/signet-server"),
        big_tags: 10_000,
        signet_only: false,
        no_notary: false,
        hold: 0,
        server_args: Vec::new(),
        only: None,
        baseline_bin: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--repos" => o.repos = v.parse().expect("--repos N"),
            "--duration" => o.duration = v.parse().expect("--duration SECONDS"),
            "--out" => o.out = PathBuf::from(v),
            "--server-bin" => o.server_bin = PathBuf::from(v),
            "--big-tags" => o.big_tags = v.parse().expect("--big-tags N"),
            "--server-arg" => o.server_args.push(v),
            "--only" => o.only = Some(v),
            "--hold" => o.hold = v.parse().expect("--hold SECONDS"),
            "--baseline-bin" => o.baseline_bin = Some(PathBuf::from(v)),
            "--signet-only" => {
                o.signet_only = true;
                i += 1;
                continue;
            }
            "--no-notary" => {
                o.no_notary = true;
                i += 1;
                continue;
            }
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    o
}

/// One server under test.
struct Target {
    name: &'static str,
    url: String,
    ca: PathBuf,
    pid: AtomicU32,
    /// The reference server (kept alive here); restarted after a crash when its data
    /// survives it (PostgreSQL), so later workloads still measure it.
    reference: Option<Mutex<NotaryServer>>,
    restartable: bool,
    /// How many times it had to be restarted.
    restarts: AtomicU64,
    keys: BTreeMap<String, RepoKeys>,
    /// Next targets version to publish per repository (publish runs continue each other).
    next_version: Mutex<BTreeMap<String, i64>>,
    _guards: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl Target {
    fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// Restarts a crashed restartable reference server; true if it was restarted.
    fn revive(&self) -> bool {
        if alive(self.pid()) || !self.restartable {
            return false;
        }
        let Some(ns) = &self.reference else {
            return false;
        };
        let pid = ns.lock().unwrap().restart_server();
        self.pid.store(pid, Ordering::Relaxed);
        self.restarts.fetch_add(1, Ordering::Relaxed);
        eprintln!("{}: crashed; restarted (pid {pid})", self.name);
        true
    }
}

fn gun(i: usize) -> String {
    format!("example.com/bench-{i}")
}

const BIG: &str = "example.com/bench-big";

/// The row name of the `--baseline-bin` server.
const PREVIOUS: &str = "signet-prev sqlite";

/// Signet as a separate process (so its memory can be measured on its own).
fn start_signet(
    bin: &Path,
    database: Option<&str>,
    extra: &[String],
) -> (String, PathBuf, Proc, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(bin);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "warn",
        "--data-dir",
    ])
    .arg(dir.path())
    .args(extra);
    cmd.env("SIGNET_SIGNER_PASSPHRASE", "bench-signer-passphrase");
    if let Some(db) = database {
        cmd.args(["--database", db]);
    }
    let log = dir.path().join("out.log");
    let proc = Proc::spawn("signet-server", &mut cmd, log.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(url) = text
            .lines()
            .find_map(|l| l.strip_prefix("signet-server listening on "))
        {
            let url = url.trim().to_string();
            return (url, dir.path().join("tls/ca.crt"), proc, dir);
        }
        assert!(
            Instant::now() < deadline,
            "signet-server did not start:\n{}",
            proc.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// R repositories with 10 tags each plus one with `big_tags`, in parallel.
fn populate(t: &mut Target, repos: usize, big_tags: usize) {
    let started = Instant::now();
    let agent = https_agent(&t.ca);
    let next = AtomicU64::new(0);
    let made: Mutex<BTreeMap<String, RepoKeys>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        // notary-signer's memory key store dies with a Go runtime fatal error in
        // CryptoService.Create under concurrent key creation (4 of 5 probe runs of 1,500
        // repositories from 8 threads): create the reference's repositories one at a time.
        let threads = if t.name.starts_with("notary") { 1 } else { 8 };
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i > repos {
                    break;
                }
                let (g, tags) = if i == repos {
                    (BIG.to_string(), big_tags)
                } else {
                    (gun(i), 10)
                };
                // The reference's signer connection drops now and then under this load
                // ("transport is closing"): retry a repository a few times before giving up.
                let mut attempt = 0;
                let keys = loop {
                    let keys = RepoKeys::new(&g);
                    let (Some(ts), Some(snap)) = (
                        server_key_retrying(&agent, &t.url, &g, "timestamp", t.name),
                        server_key_retrying(&agent, &t.url, &g, "snapshot", t.name),
                    ) else {
                        break None;
                    };
                    let names: Vec<String> = (0..tags).map(|n| format!("tag-{n}")).collect();
                    let files: Vec<(&str, &[u8])> =
                        names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
                    let (st, body) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        upload::post_update(
                            &agent,
                            &t.url,
                            &g,
                            &[
                                ("root", &keys.root(1, &ts, &snap)),
                                ("targets", &keys.targets(1, &files)),
                            ],
                        )
                    }))
                    .unwrap_or((0, "connection failed".into()));
                    if st == 200 {
                        break Some(keys);
                    }
                    attempt += 1;
                    if attempt >= 10 {
                        eprintln!(
                            "{}: populate {g} keeps failing ({body}); skipping it",
                            t.name
                        );
                        break None;
                    }
                    eprintln!("{}: populate {g} answered {st} {body}; retrying", t.name);
                    std::thread::sleep(Duration::from_millis(300 * attempt));
                };
                let Some(keys) = keys else {
                    continue;
                };
                made.lock().unwrap().insert(g, keys);
            });
        }
    });
    t.keys = made.into_inner().unwrap();
    eprintln!(
        "{}: populated {} of {} repositories in {:.1}s",
        t.name,
        t.keys.len(),
        repos + 1,
        started.elapsed().as_secs_f64()
    );
}

/// GET `<role>.key`, retried: notary-server answers 500 now and then when its signer is busy.
fn server_key_retrying(
    agent: &ureq::Agent,
    url: &str,
    gun: &str,
    role: &str,
    name: &str,
) -> Option<signet_keys::PublicKey> {
    for attempt in 0..10 {
        let (status, body) = upload::get(agent, &format!("{url}/v2/{gun}/_trust/tuf/{role}.key"));
        if status == 200 {
            let v: serde_json::Value = serde_json::from_slice(&body).expect("key JSON");
            return signet_keys::PublicKey::from_b64(
                v["keytype"].as_str().unwrap_or(""),
                v["keyval"]["public"].as_str().unwrap_or(""),
            )
            .ok();
        }
        eprintln!("{name}: GET {gun} {role}.key answered {status}, retrying ({attempt})");
        std::thread::sleep(Duration::from_millis(200 * (attempt + 1)));
    }
    eprintln!("{name}: GET {gun} {role}.key kept failing; skipping the repository");
    None
}

/// Checks a sample with the reference notary CLI.
fn verify_sample(t: &Target) {
    let Some(sample) = t.keys.keys().find(|g| g.as_str() != BIG) else {
        panic!("{}: no repository could be created", t.name);
    };
    let cli = NotaryCli::new(&t.url, &t.ca);
    let rows = cli.list(sample);
    assert_eq!(
        rows.len(),
        10,
        "{}: notary list of a populated repository",
        t.name
    );
}

fn parse_latency(v: &str) -> f64 {
    let v = v.trim();
    for (suffix, mult) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] {
        if let Some(n) = v.strip_suffix(suffix) {
            return n.parse::<f64>().unwrap_or(f64::NAN) * mult;
        }
    }
    f64::NAN
}

/// wrk's threads: one per core.
const WRK_THREADS: u32 = 2;

/// Unmeasured, before each measured run: reads every repository's `role` once (or the big
/// repository's targets when `role` is `None`), so a server that caches starts the run warm,
/// as it would be after a while in production, whatever the number of repositories. The same
/// requests for every server; answers are not checked here (the measured run counts errors).
fn warm_up(t: &Target, repos: usize, role: Option<&str>) {
    const THREADS: usize = 8;
    let paths: Vec<String> = match role {
        Some(role) => (0..repos)
            .map(|i| format!("/v2/{}/_trust/tuf/{role}.json", gun(i)))
            .collect(),
        None => vec![format!("/v2/{BIG}/_trust/tuf/targets.json")],
    };
    std::thread::scope(|s| {
        for tid in 0..THREADS {
            let paths = &paths;
            s.spawn(move || {
                let agent = https_agent(&t.ca);
                for p in paths.iter().skip(tid).step_by(THREADS) {
                    // Read to the end, so the connection is kept for the next request.
                    if let Ok(r) = agent.get(&format!("{}{p}", t.url)).call() {
                        let _ = std::io::copy(&mut r.into_reader(), &mut std::io::sink());
                    }
                }
            });
        }
    });
}

fn wrk(
    url: &str,
    path_lua: &str,
    duration: u64,
    conns: u32,
    new_conn: bool,
    dir: &Path,
) -> Measure {
    let script = dir.join("req.lua");
    let header = if new_conn {
        "wrk.headers[\"Connection\"] = \"close\"\n"
    } else {
        ""
    };
    std::fs::write(&script, format!("{header}math.randomseed(7)\nrequest = function()\n  return wrk.format(\"GET\", {path_lua})\nend\n")).unwrap();
    let out = Command::new("wrk")
        .args([
            &format!("-t{WRK_THREADS}"),
            &format!("-c{conns}"),
            &format!("-d{duration}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_string()))
    };
    let errors = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .flat_map(|l| {
            l.split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum();
    Measure {
        rps: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50_ms: field("50%").map(|v| parse_latency(&v)).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(|v| parse_latency(&v)).unwrap_or(f64::NAN),
        errors,
        crashed: false,
        cpu_us: 0.0,
    }
}

/// Who makes a workload's requests.
enum Client {
    /// wrk on keep-alive connections.
    Wrk,
    /// wrk with `Connection: close`: a new connection per request, whose TLS session OpenSSL
    /// resumes.
    WrkClose,
    /// [`handshakes`]: a new connection per request as docker makes it (no resumption), or
    /// with a session cache.
    NewConnection { resume: bool },
}

fn new_connections(
    url: &str,
    conns: u32,
    duration: u64,
    resume: bool,
    path: &(dyn Fn(u64) -> String + Sync),
) -> Measure {
    let o = handshakes::run(url, conns, duration, resume, path);
    let mut l = o.latencies_ms;
    l.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        l.get(((l.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Measure {
        rps: o.ok as f64 / o.seconds,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        errors: o.errors,
        crashed: false,
        cpu_us: 0.0,
    }
}

/// Publishes of a new targets version, `workers` at a time, each on its own repository.
/// Upper bound of the publish rate any server reaches here, for sizing the prebuilt bodies.
const PREBUILT_PUBLISHES_PER_SEC: u64 = 2000;

fn publishes(t: &Target, workers: usize, duration: u64) -> Measure {
    let agent = https_agent(&t.ca);
    let stop = AtomicBool::new(false);
    let lat: Mutex<Vec<f64>> = Mutex::new(Vec::new());
    let errors = AtomicU64::new(0);
    let crashed = AtomicBool::new(false);
    // Bodies are built and signed before the clock starts, so the load generator (on the
    // same two cores) spends its time sending, not signing; a worker that runs out builds more
    // as it goes.
    let per_worker = (PREBUILT_PUBLISHES_PER_SEC * duration / workers as u64).max(200) as i64;
    let build = |keys: &RepoKeys, version: i64| {
        keys.targets(version, &[("tag", format!("{version}").as_bytes())])
    };
    let prebuilt: Vec<Vec<Vec<u8>>> = (0..workers)
        .map(|w| {
            let g = gun(w + 2);
            let Some(keys) = t.keys.get(&g) else {
                return Vec::new();
            };
            let first = t.next_version.lock().unwrap().get(&g).copied().unwrap_or(2);
            (first..first + per_worker)
                .map(|v| build(keys, v))
                .collect()
        })
        .collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for (w, bodies) in prebuilt.into_iter().enumerate() {
            let (agent, stop, lat, errors, crashed) = (&agent, &stop, &lat, &errors, &crashed);
            let g = gun(w + 2);
            // A repository the reference failed to create is simply not published to.
            let Some(keys) = t.keys.get(&g) else {
                continue;
            };
            let next_version = &t.next_version;
            let build = &build;
            s.spawn(move || {
                let mut version = next_version.lock().unwrap().get(&g).copied().unwrap_or(2);
                let first = version;
                while !stop.load(Ordering::Relaxed) {
                    // bodies[i] is version first + i (a failed publish retries the same one).
                    let body = match usize::try_from(version - first)
                        .ok()
                        .and_then(|i| bodies.get(i))
                    {
                        Some(b) => b.clone(),
                        None => build(keys, version),
                    };
                    let t0 = Instant::now();
                    // A reference server that dies under load refuses connections from then on:
                    // count that as errors instead of aborting the whole run.
                    let st = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        upload::post_update(agent, &t.url, &g, &[("targets", &body)]).0
                    })) {
                        Ok(st) => st,
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            if !alive(t.pid()) {
                                crashed.store(true, Ordering::Relaxed);
                                break;
                            }
                            continue;
                        }
                    };
                    lat.lock()
                        .unwrap()
                        .push(t0.elapsed().as_secs_f64() * 1000.0);
                    if st == 200 {
                        version += 1;
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                next_version.lock().unwrap().insert(g.clone(), version);
            });
        }
        std::thread::sleep(Duration::from_secs(duration));
        stop.store(true, Ordering::Relaxed);
    });
    let secs = start.elapsed().as_secs_f64();
    let mut l = lat.into_inner().unwrap();
    l.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        l.get(((l.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let errs = errors.load(Ordering::Relaxed);
    Measure {
        rps: (l.len() as f64 - errs as f64) / secs,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        errors: errs,
        crashed: crashed.load(Ordering::Relaxed),
        cpu_us: 0.0,
    }
}

/// Stops nginx gracefully so its worker processes exit with the master.
struct NginxStop(u32);

impl Drop for NginxStop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-QUIT")
            .arg(self.0.to_string())
            .status();
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// nginx serving the Signet repositories' current files as static TLS content.
fn start_nginx(source: &Target, repos: usize) -> (Target, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("www");
    let agent = https_agent(&source.ca);
    for i in (0..repos).map(gun).chain([BIG.to_string()]) {
        let d = root.join("v2").join(&i).join("_trust/tuf");
        std::fs::create_dir_all(&d).unwrap();
        for role in ["timestamp", "root", "targets", "snapshot"] {
            let (_, body) = upload::get(
                &agent,
                &format!("{}/v2/{i}/_trust/tuf/{role}.json", source.url),
            );
            std::fs::write(d.join(format!("{role}.json")), body).unwrap();
        }
    }
    let ca = TestCa::new(&[]);
    let port = free_port();
    let conf = format!(
        "worker_processes 2; pid {d}/nginx.pid; error_log {d}/error.log; daemon off;
events {{ worker_connections 4096; }}
http {{ access_log off; sendfile on; keepalive_requests 1000000;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {cert}; ssl_certificate_key {key}; root {root}; }} }}",
        d = dir.path().display(),
        cert = ca.cert.display(),
        key = ca.key.display(),
        root = root.display()
    );
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let proc = Proc::spawn(
        "nginx",
        Command::new("nginx")
            .arg("-c")
            .arg(dir.path().join("nginx.conf")),
        dir.path().join("nginx.out"),
    );
    let url = format!("https://127.0.0.1:{port}");
    wait_healthy(
        &https_agent(&ca.ca_cert),
        &format!("{url}/v2/{}/_trust/tuf/root.json", gun(0)),
        &[&proc],
    );
    let pid = proc.pid();
    (
        Target {
            name: "nginx static",
            url,
            ca: ca.ca_cert.clone(),
            pid: AtomicU32::new(pid),
            keys: BTreeMap::new(),
            next_version: Mutex::new(BTreeMap::new()),
            _guards: vec![Box::new(NginxStop(pid)), Box::new(proc), Box::new(ca)],
            reference: None,
            restartable: false,
            restarts: AtomicU64::new(0),
        },
        dir,
    )
}

fn main() {
    let o = parse_opts();
    for bin in ["wrk", "nginx", "notary-server", "notary-signer", "notary"] {
        assert!(
            which(bin).is_some(),
            "{bin} not installed (bench/run.sh installs it)"
        );
    }
    let scratch = tempfile::tempdir().unwrap();
    let pg = Postgres::start();
    let notary_db = pg.create_database("notaryserver");
    pg.psql("notaryserver", NOTARY_SERVER_PG_SCHEMA);
    let signet_db = pg.create_database("signet");

    let mut targets: Vec<Target> = Vec::new();
    if !o.signet_only && !o.no_notary {
        for (name, ns, restartable) in [
            ("notary-server memory", NotaryServer::start(), false),
            (
                "notary-server postgres",
                NotaryServer::start_with_storage(Some(&notary_db)),
                true,
            ),
        ] {
            targets.push(Target {
                name,
                url: ns.url.clone(),
                ca: ns.ca_path.clone(),
                pid: AtomicU32::new(ns.server_pid()),
                keys: BTreeMap::new(),
                next_version: Mutex::new(BTreeMap::new()),
                _guards: vec![],
                reference: Some(Mutex::new(ns)),
                restartable,
                restarts: AtomicU64::new(0),
            });
        }
    }
    let (url, ca, proc, dir) = start_signet(&o.server_bin, None, &o.server_args);
    targets.push(Target {
        name: "signet sqlite",
        url,
        ca,
        pid: AtomicU32::new(proc.pid()),
        keys: BTreeMap::new(),
        next_version: Mutex::new(BTreeMap::new()),
        _guards: vec![Box::new(proc), Box::new(dir)],
        reference: None,
        restartable: false,
        restarts: AtomicU64::new(0),
    });
    if let Some(prev) = &o.baseline_bin {
        let (url, ca, proc, dir) = start_signet(prev, None, &[]);
        targets.push(Target {
            name: PREVIOUS,
            url,
            ca,
            pid: AtomicU32::new(proc.pid()),
            keys: BTreeMap::new(),
            next_version: Mutex::new(BTreeMap::new()),
            _guards: vec![Box::new(proc), Box::new(dir)],
            reference: None,
            restartable: false,
            restarts: AtomicU64::new(0),
        });
    }
    let (url, ca, proc, dir) = start_signet(&o.server_bin, Some(&signet_db), &o.server_args);
    targets.push(Target {
        name: "signet postgres",
        url,
        ca,
        pid: AtomicU32::new(proc.pid()),
        keys: BTreeMap::new(),
        next_version: Mutex::new(BTreeMap::new()),
        _guards: vec![Box::new(proc), Box::new(dir)],
        reference: None,
        restartable: false,
        restarts: AtomicU64::new(0),
    });

    let mut rss_idle = BTreeMap::new();
    for t in targets.iter_mut() {
        populate(t, o.repos, o.big_tags);
        verify_sample(t);
        std::thread::sleep(Duration::from_millis(500));
        rss_idle.insert(t.name, rss_kib(t.pid()));
    }
    let signet_index = targets
        .iter()
        .position(|t| t.name == "signet sqlite")
        .unwrap_or(0);
    let _nginx_dir = if o.signet_only {
        None
    } else {
        let (nginx, dir) = start_nginx(&targets[signet_index], o.repos);
        targets.push(nginx);
        Some(dir)
    };

    if o.hold > 0 {
        for t in &targets {
            println!("{} {} pid {} ca {}", t.name, t.url, t.pid(), t.ca.display());
        }
        std::thread::sleep(Duration::from_secs(o.hold));
        return;
    }
    let r = o.repos;
    let random = |role: &str| {
        format!(
            "\"/v2/example.com/bench-\" .. math.random(0, {}) .. \"/_trust/tuf/{role}.json\"",
            r - 1
        )
    };
    let big = format!("\"/v2/{BIG}/_trust/tuf/targets.json\"");
    // (name, measured path, warm-up: every repository's `Some(role)` once, or the big file
    // for `None`, connections, client)
    let workloads: Vec<(&str, String, Option<&str>, u32, Client)> = vec![
        (
            "GET timestamp.json",
            random("timestamp"),
            Some("timestamp"),
            64,
            Client::Wrk,
        ),
        (
            "GET root.json",
            random("root"),
            Some("root"),
            64,
            Client::Wrk,
        ),
        (
            "GET targets.json (10 tags)",
            random("targets"),
            Some("targets"),
            64,
            Client::Wrk,
        ),
        ("GET targets.json (10,000 tags)", big, None, 64, Client::Wrk),
        (
            "GET timestamp.json, new TLS conn, full handshake",
            String::new(),
            Some("timestamp"),
            16,
            Client::NewConnection { resume: false },
        ),
        (
            "GET timestamp.json, new TLS conn, resumed",
            String::new(),
            Some("timestamp"),
            16,
            Client::NewConnection { resume: true },
        ),
        (
            "GET timestamp.json, new TLS conn (wrk)",
            random("timestamp"),
            Some("timestamp"),
            16,
            Client::WrkClose,
        ),
    ];
    let selected = |name: &str| o.only.as_deref().is_none_or(|s| name.contains(s));
    let workloads: Vec<_> = workloads.into_iter().filter(|w| selected(w.0)).collect();
    let mut results: Vec<(String, &'static str, Measure)> = Vec::new();
    let mut rss_load = BTreeMap::new();
    let mut jsonl = std::fs::File::create(&o.out).expect("results file");
    let timestamp_path = |rnd: u64| {
        format!(
            "/v2/example.com/bench-{}/_trust/tuf/timestamp.json",
            rnd % r as u64
        )
    };
    for (wname, path, warm_path, conns, client) in &workloads {
        for t in &targets {
            t.revive();
            warm_up(t, r, *warm_path);
            settle();
            // A reference that died in the warm-up is restarted and measured, its row marked.
            let crashed_warming_up = t.revive();
            let peak = Arc::new(AtomicU64::new(0));
            let done = Arc::new(AtomicBool::new(false));
            let sampler = {
                let (peak, done, pid) = (peak.clone(), done.clone(), t.pid());
                std::thread::spawn(move || {
                    while !done.load(Ordering::Relaxed) {
                        peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(200));
                    }
                })
            };
            let mut m = with_cpu(t.pid(), o.duration, || match client {
                Client::Wrk | Client::WrkClose => wrk(
                    &t.url,
                    path,
                    o.duration,
                    *conns,
                    matches!(client, Client::WrkClose),
                    scratch.path(),
                ),
                Client::NewConnection { resume } => {
                    new_connections(&t.url, *conns, o.duration, *resume, &timestamp_path)
                }
            });
            m.crashed = crashed_warming_up || !alive(t.pid());
            done.store(true, Ordering::Relaxed);
            let _ = sampler.join();
            let e = rss_load.entry(t.name).or_insert(0u64);
            *e = (*e).max(peak.load(Ordering::Relaxed));
            results.push((wname.to_string(), t.name, m));
        }
    }
    for workers in [1usize, 16] {
        if !selected(&format!("publish, concurrency {workers}")) {
            continue;
        }
        for t in targets.iter().filter(|t| !t.keys.is_empty()) {
            t.revive();
            settle();
            let m = with_cpu(t.pid(), o.duration, || publishes(t, workers, o.duration));
            results.push((format!("publish, concurrency {workers}"), t.name, m));
        }
    }

    report::print(&o, &targets, &results, &rss_idle, &rss_load, &mut jsonl);
    println!("\nJSON lines: {}", o.out.display());
}
