//! `gate-bench`: what the signed-only registry gate costs, side by side in one run: warm
//! manifest GETs (wrk, keep-alive) and a large blob pull (curl), direct to distribution 2.8
//! vs through `signet-server serve --gate-upstream` in front of it. Prints p50/p99 and the
//! p99 the gate adds, requests per second, blob MB/s and the throughput ratio; writes one
//! JSON line.
//!
//! The gate is HTTPS (as deployed) in front of the registry on plain HTTP; the registry is
//! measured both on plain HTTP (its best case) and on HTTPS (a second registry over the same
//! storage): the like-for-like comparison for a client, which talks TLS either way.

use signet_interop::upload::{self, RepoKeys};
use signet_interop::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

struct Opts {
    server_bin: PathBuf,
    duration: u64,
    blob_mib: usize,
    rounds: usize,
    connections: usize,
    out: PathBuf,
    /// The gate on plain HTTP (loopback): its proxying cost without TLS.
    insecure_http: bool,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        server_bin: PathBuf::from("target/release/signet-server"),
        duration: 5,
        blob_mib: 50,
        rounds: 3,
        connections: 8,
        out: PathBuf::from("gate-bench-results.jsonl"),
        insecure_http: false,
    };
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--insecure-http") {
        args.remove(i);
        o.insecure_http = true;
    }
    for pair in args.chunks(2) {
        let v = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--server-bin" => o.server_bin = PathBuf::from(v),
            "--duration" => o.duration = v.parse().expect("--duration SECONDS"),
            "--blob-mib" => o.blob_mib = v.parse().expect("--blob-mib N"),
            "--rounds" => o.rounds = v.parse().expect("--rounds N"),
            "--connections" => o.connections = v.parse().expect("--connections N"),
            "--out" => o.out = PathBuf::from(v),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pushes a blob to the registry directly (monolithic upload); its digest.
fn push_blob(agent: &ureq::Agent, registry: &str, bytes: &[u8]) -> String {
    let digest = format!("sha256:{}", sha256_hex(bytes));
    let r = agent
        .post(&format!("{registry}/v2/app/blobs/uploads/"))
        .call()
        .expect("start upload");
    let loc = r.header("Location").expect("upload location").to_string();
    let loc = if loc.starts_with('/') {
        format!("{registry}{loc}")
    } else {
        loc
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    agent
        .put(&format!("{loc}{sep}digest={digest}"))
        .set("Content-Type", "application/octet-stream")
        .send_bytes(bytes)
        .expect("finish upload");
    digest
}

/// A pseudo-random body (incompressible, no RNG dependency).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[derive(Default, Clone, Copy)]
struct Wrk {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn to_ms(v: &str) -> f64 {
    let num = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
    if let Some(x) = v.strip_suffix("us") {
        num(x) / 1000.0
    } else if let Some(x) = v.strip_suffix("ms") {
        num(x)
    } else if let Some(x) = v.strip_suffix('s') {
        num(x) * 1000.0
    } else {
        f64::NAN
    }
}

fn wrk(url: &str, o: &Opts) -> Wrk {
    let out = Command::new("wrk")
        .args(["-t", &o.connections.clamp(1, 2).to_string()])
        .args(["-c", &o.connections.to_string()])
        .args(["-d", &format!("{}s", o.duration), "--latency"])
        .args(["-H", &format!("Accept: {OCI_MANIFEST}"), url])
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "wrk saw errors for {url}:\n{text}"
    );
    let mut w = Wrk::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["50%", v] => w.p50_ms = to_ms(v),
            ["99%", v] => w.p99_ms = to_ms(v),
            ["Requests/sec:", v] => w.rps = v.parse().unwrap_or(0.0),
            _ => {}
        }
    }
    w
}

/// One blob download with curl; MB/s.
fn curl_mbps(url: &str, ca: Option<&Path>) -> f64 {
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "--fail",
        "-o",
        "/dev/null",
        "-w",
        "%{speed_download}",
    ]);
    if let Some(ca) = ca {
        c.arg("--cacert").arg(ca);
    }
    let out = c.arg(url).output().expect("curl");
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<f64>()
        .unwrap_or(0.0)
        / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let o = parse_opts();
    assert!(
        o.server_bin.exists(),
        "{} missing (cargo build --release -p signet-server)",
        o.server_bin.display()
    );
    let registry = Registry::start();
    let direct = format!("http://127.0.0.1:{}", registry.port);
    // The same storage served over HTTPS by a second registry: the like-for-like comparison
    // with the gate's HTTPS (plain HTTP above is the registry's best case: sendfile).
    let registry_tls_ca = TestCa::new(&[]);
    let registry_tls = registry.start_tls_sharing(&registry_tls_ca);
    let direct_tls = format!("https://127.0.0.1:{}", registry_tls.port);
    let data = tempfile::tempdir().expect("tempdir");
    let (trust_port, gate_port) = (free_port(), free_port());
    let log = std::fs::File::create(data.path().join("server.log")).expect("log");
    let server = Server(
        Command::new(&o.server_bin)
            .arg("serve")
            .arg("--data-dir")
            .arg(data.path().join("signet"))
            .args(["--listen", &format!("127.0.0.1:{trust_port}")])
            .args(["--gate-upstream", &direct])
            .args(["--gate-listen", &format!("127.0.0.1:{gate_port}")])
            .args(o.insecure_http.then_some("--insecure-http"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start signet-server"),
    );
    let ca = data.path().join("signet/tls/ca.crt");
    let scheme = if o.insecure_http { "http" } else { "https" };
    let trust = format!("{scheme}://127.0.0.1:{trust_port}");
    let gate_host = format!("127.0.0.1:{gate_port}");
    let gate = format!("{scheme}://{gate_host}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !((o.insecure_http || ca.exists())
        && std::net::TcpStream::connect(("127.0.0.1", gate_port)).is_ok())
    {
        assert!(Instant::now() < deadline, "signet-server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let agent = if o.insecure_http {
        ureq::AgentBuilder::new().build()
    } else {
        https_agent(&ca)
    };
    let plain = ureq::AgentBuilder::new().build();

    // An image with one large layer, pushed to the registry directly, signed for the GUN of
    // the gate's address.
    let layer = noise(o.blob_mib << 20);
    let layer_digest = push_blob(&plain, &direct, &layer);
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = push_blob(&plain, &direct, config);
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    })
    .to_string();
    plain
        .put(&format!("{direct}/v2/app/manifests/bench"))
        .set("Content-Type", OCI_MANIFEST)
        .send_bytes(manifest.as_bytes())
        .expect("push manifest");
    let gun = format!("{gate_host}/app");
    let keys = RepoKeys::new(&gun);
    let ts = upload::server_key(&agent, &trust, &gun, "timestamp");
    let snap = upload::server_key(&agent, &trust, &gun, "snapshot");
    let root = keys.root(1, &ts, &snap);
    let targets = keys.targets(1, &[("bench", manifest.as_bytes())]);
    let (s, b) = upload::post_update(
        &agent,
        &trust,
        &gun,
        &[("root", &root), ("targets", &targets)],
    );
    assert_eq!(s, 200, "publish: {b}");
    let served = agent
        .get(&format!("{gate}/v2/app/manifests/bench"))
        .set("Accept", OCI_MANIFEST)
        .call()
        .expect("the gate serves the signed manifest")
        .into_string()
        .expect("manifest");
    assert_eq!(served, manifest, "the gate serves the registry's bytes");

    let manifest_path = "/v2/app/manifests/bench";
    let blob_path = format!("/v2/app/blobs/{layer_digest}");
    let (mut d_runs, mut t_runs, mut g_runs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut d_blob, mut t_blob, mut g_blob) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..o.rounds {
        d_runs.push(wrk(&format!("{direct}{manifest_path}"), &o));
        t_runs.push(wrk(&format!("{direct_tls}{manifest_path}"), &o));
        g_runs.push(wrk(&format!("{gate}{manifest_path}"), &o));
        d_blob.push(curl_mbps(&format!("{direct}{blob_path}"), None));
        t_blob.push(curl_mbps(
            &format!("{direct_tls}{blob_path}"),
            Some(&registry_tls_ca.ca_cert),
        ));
        let ca = (!o.insecure_http).then_some(ca.as_path());
        g_blob.push(curl_mbps(&format!("{gate}{blob_path}"), ca));
    }
    let summary = |runs: &[Wrk]| Wrk {
        rps: median(runs.iter().map(|w| w.rps).collect()),
        p50_ms: median(runs.iter().map(|w| w.p50_ms).collect()),
        p99_ms: median(runs.iter().map(|w| w.p99_ms).collect()),
    };
    let (d, t, g) = (summary(&d_runs), summary(&t_runs), summary(&g_runs));
    let (db, tb, gb) = (median(d_blob), median(t_blob), median(g_blob));
    let (_, metrics) = upload::get(&agent, &format!("{trust}/metrics"));
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    let allowed: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("signet_gate_decisions_total{") && l.contains("outcome=\"allowed\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    let denied = metrics.contains("outcome=\"denied\"");

    println!(
        "manifest GETs ({} connections, {}s x {} rounds, medians):",
        o.connections, o.duration, o.rounds
    );
    println!(
        "  {:<12} {:>10} {:>9} {:>9}",
        "", "req/s", "p50 ms", "p99 ms"
    );
    for (name, w) in [("direct http", d), ("direct https", t), ("gate", g)] {
        println!(
            "  {name:<12} {:>10.0} {:>9.3} {:>9.3}",
            w.rps, w.p50_ms, w.p99_ms
        );
    }
    println!(
        "  the gate adds {:.3} ms at p99 ({:.3} ms at p50) to direct https, {:.3} ms to direct http; {:.0}% of direct https req/s",
        g.p99_ms - t.p99_ms,
        g.p50_ms - t.p50_ms,
        g.p99_ms - d.p99_ms,
        100.0 * g.rps / t.rps
    );
    println!(
        "{} MiB blob pull (curl, median of {}): direct http {db:.0} MB/s, direct https {tb:.0} MB/s, gate {gb:.0} MB/s: {:.0}% of direct https, {:.0}% of direct http",
        o.blob_mib,
        o.rounds,
        100.0 * gb / tb,
        100.0 * gb / db
    );
    println!("gate decisions: {allowed} allowed, denied: {denied}");
    let line = serde_json::json!({
        "bench": "gate",
        "connections": o.connections, "duration_s": o.duration, "rounds": o.rounds,
        "gate_tls": !o.insecure_http,
        "direct": {"rps": d.rps, "p50_ms": d.p50_ms, "p99_ms": d.p99_ms, "blob_mbps": db},
        "direct_tls": {"rps": t.rps, "p50_ms": t.p50_ms, "p99_ms": t.p99_ms, "blob_mbps": tb},
        "gate": {"rps": g.rps, "p50_ms": g.p50_ms, "p99_ms": g.p99_ms, "blob_mbps": gb},
        "p99_added_ms": g.p99_ms - t.p99_ms,
        "p99_added_vs_http_ms": g.p99_ms - d.p99_ms,
        "blob_throughput_ratio": gb / tb,
        "blob_throughput_ratio_vs_http": gb / db,
        "decisions_allowed": allowed,
    });
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&o.out)
        .expect("results file");
    writeln!(f, "{line}").expect("write results");
    drop(server);
}
