//! The signed-only registry gate with distribution 2.8 behind it and content trust off on
//! every client: skopeo, containerd's ctr and docker 28 + dockerd 20.10 pull a signed tag and
//! a signed multi-platform index; each is refused, with the gate's message in its output, for
//! an unsigned tag, a tag re-pushed after signing and an unsigned digest; audit mode serves
//! them all and counts the would-be refusals. Pushes (skopeo, through the gate) and blobs
//! pass. One setup for every case: the daemons take most of the time.

use signet_interop::upload::{self, RepoKeys};
use signet_interop::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// An OCI image layout on disk that skopeo copies from.
struct Layout {
    dir: PathBuf,
    refs: Vec<serde_json::Value>,
}

struct Desc {
    digest: String,
    size: usize,
}

impl Layout {
    fn new(dir: PathBuf) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir,
            refs: Vec::new(),
        }
    }

    fn blob(&self, bytes: &[u8]) -> Desc {
        let hex = sha256_hex(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&hex), bytes).unwrap();
        Desc {
            digest: format!("sha256:{hex}"),
            size: bytes.len(),
        }
    }

    /// A one-layer image whose file says `content`, for `arch`; its manifest's descriptor.
    fn image(&self, content: &str, arch: &str) -> Desc {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("content.txt"), content).unwrap();
        let tar = root.path().join("layer.tar");
        let st = Command::new("tar")
            .args(["--mtime=@0", "--owner=0", "--group=0", "-C"])
            .arg(root.path())
            .arg("-cf")
            .arg(&tar)
            .arg("content.txt")
            .status()
            .unwrap();
        assert!(st.success());
        let layer = self.blob(&std::fs::read(&tar).unwrap());
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["/content.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        });
        let config = self.blob(config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.digest, "size": layer.size}],
        });
        self.blob(manifest.to_string().as_bytes())
    }

    fn index(&self, images: &[(&Desc, &str)]) -> Desc {
        let manifests: Vec<_> = images
            .iter()
            .map(|(d, arch)| serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d.digest, "size": d.size, "platform": {"architecture": arch, "os": "linux"}}))
            .collect();
        let index =
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        self.blob(index.to_string().as_bytes())
    }

    fn tag(&mut self, name: &str, desc: &Desc, media: &str) {
        self.refs.push(serde_json::json!({"mediaType": media, "digest": desc.digest, "size": desc.size, "annotations": {"org.opencontainers.image.ref.name": name}}));
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.refs});
        std::fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}

/// skopeo with the gate's CA and a policy that accepts anything (no signature checks:
/// content trust is the gate's job here).
struct Skopeo {
    certs: PathBuf,
    policy: PathBuf,
}

impl Skopeo {
    fn new(dir: &Path, ca: &Path) -> Skopeo {
        let certs = dir.join("skopeo-certs");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::copy(ca, certs.join("ca.crt")).unwrap();
        let policy = dir.join("policy.json");
        std::fs::write(
            &policy,
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .unwrap();
        Skopeo { certs, policy }
    }

    fn push(&self, layout: &Layout, tag: &str, dest: &str) {
        let r = self.run(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-cert-dir",
            &self.certs.display().to_string(),
            &format!("oci:{}:{tag}", layout.dir.display()),
            &format!("docker://{dest}"),
        ]);
        assert!(r.status.success(), "skopeo push {dest}: {}", r.stderr);
    }

    fn pull(&self, src: &str, out: &Path) -> Run {
        let _ = std::fs::remove_dir_all(out);
        self.run(&[
            "copy",
            "--src-cert-dir",
            &self.certs.display().to_string(),
            &format!("docker://{src}"),
            &format!("oci:{}:x", out.display()),
        ])
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(
            Command::new("skopeo")
                .arg("--policy")
                .arg(&self.policy)
                .args(args)
                .output()
                .expect("skopeo"),
        )
    }
}

/// containerd on its own socket and directories, the CRI plugin off; ctr reaches the gate
/// over HTTPS with its CA (a hosts.toml: ctr speaks plain HTTP to loopback otherwise).
struct Containerd {
    sock: PathBuf,
    hosts: PathBuf,
    _proc: Proc,
}

impl Containerd {
    fn start(dir: &Path, gate: &str, ca: &Path) -> Containerd {
        let d = dir.join("containerd");
        std::fs::create_dir_all(&d).unwrap();
        let cfg = d.join("config.toml");
        std::fs::write(
            &cfg,
            "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
        )
        .unwrap();
        let sock = d.join("containerd.sock");
        let proc = Proc::spawn(
            "containerd",
            Command::new("containerd")
                .arg("--config")
                .arg(&cfg)
                .arg("--address")
                .arg(&sock)
                .arg("--root")
                .arg(d.join("root"))
                .arg("--state")
                .arg(d.join("state")),
            d.join("containerd.log"),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "containerd: {}", proc.log_tail());
            std::thread::sleep(Duration::from_millis(100));
        }
        let hosts = d.join("hosts");
        std::fs::create_dir_all(hosts.join(gate)).unwrap();
        std::fs::write(
            hosts.join(gate).join("hosts.toml"),
            format!(
                "server = \"https://{gate}\"\nca = {ca:?}\n[host.\"https://{gate}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = {ca:?}\n",
                ca = ca.display().to_string()
            ),
        )
        .unwrap();
        Containerd {
            sock,
            hosts,
            _proc: proc,
        }
    }

    fn pull(&self, reference: &str) -> Run {
        Run::from(
            Command::new("ctr")
                .arg("--address")
                .arg(&self.sock)
                .args(["images", "pull", "--snapshotter", "native", "--hosts-dir"])
                .arg(&self.hosts)
                .arg(reference)
                .output()
                .expect("ctr"),
        )
    }
}

fn docker_pull(dockerd: &Dockerd, config: &Path, reference: &str) -> Run {
    Run::from(
        Command::new(DOCKER)
            .env("DOCKER_HOST", &dockerd.host)
            .env("DOCKER_CONFIG", config)
            .env("DOCKER_CONTENT_TRUST", "0")
            .args(["pull", "--quiet", reference])
            .output()
            .expect("docker pull"),
    )
}

/// The manifest bytes the registry holds for `reference`, fetched from it directly.
fn registry_manifest(agent: &ureq::Agent, registry: u16, reference: &str) -> Vec<u8> {
    let r = agent
        .get(&format!(
            "http://127.0.0.1:{registry}/v2/app/manifests/{reference}"
        ))
        .set("Accept", &format!("{OCI_MANIFEST}, {OCI_INDEX}"))
        .call()
        .expect("manifest from the registry");
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut v).unwrap();
    v
}

fn metric(text: &str, registry: &str, outcome: &str) -> u64 {
    let key =
        format!("signet_gate_decisions_total{{registry=\"{registry}\",outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn gate_serves_signed_manifests_only() {
    if !require_binaries(&[
        "docker-registry",
        "skopeo",
        "ctr",
        "containerd",
        "dockerd",
        DOCKER,
    ]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let srv = SignetServer::start_with_gate(&format!("http://127.0.0.1:{}", registry.port));
    let gate = format!("127.0.0.1:{}", srv.gate_addr.expect("gate").port());
    let gun = format!("{gate}/app");
    let skopeo = Skopeo::new(work.path(), &srv.ca_path);
    let plain = ureq::AgentBuilder::new().build();

    // Images, pushed through the gate (pushes and blob uploads pass untouched).
    let mut layout = Layout::new(work.path().join("layout"));
    let signed = layout.image("signed", "amd64");
    let other = layout.image("unsigned", "amd64");
    let arm = layout.image("arm", "arm64");
    let index = layout.index(&[(&signed, "amd64"), (&arm, "arm64")]);
    layout.tag("signed", &signed, OCI_MANIFEST);
    layout.tag("other", &other, OCI_MANIFEST);
    layout.tag("multi", &index, OCI_INDEX);
    for (tag, dest) in [
        ("signed", "signed"),
        ("signed", "repushed"),
        ("other", "unsigned"),
        ("multi", "multi"),
    ] {
        skopeo.push(&layout, tag, &format!("{gun}:{dest}"));
    }

    // Trust data under the GUN of the gate's address: signed, repushed (then re-pushed with
    // other content) and the multi-platform index.
    let signed_bytes = registry_manifest(&plain, registry.port, "signed");
    let index_bytes = registry_manifest(&plain, registry.port, "multi");
    assert_eq!(sha256_hex(&signed_bytes), signed.digest["sha256:".len()..]);
    let agent = https_agent(&srv.ca_path);
    let keys = RepoKeys::new(&gun);
    let ts = upload::server_key(&agent, &srv.url, &gun, "timestamp");
    let snap = upload::server_key(&agent, &srv.url, &gun, "snapshot");
    let root = keys.root(1, &ts, &snap);
    let targets = keys.targets(
        1,
        &[
            ("signed", &signed_bytes),
            ("repushed", &signed_bytes),
            ("multi", &index_bytes),
        ],
    );
    let (s, b) = upload::post_update(
        &agent,
        &srv.url,
        &gun,
        &[("root", &root), ("targets", &targets)],
    );
    assert_eq!(s, 200, "{b}");
    skopeo.push(&layout, "other", &format!("{gun}:repushed"));

    let refused = [
        (format!("{gun}:unsigned"), "tag unsigned is not signed"),
        (format!("{gun}:repushed"), "differs from the signed digest"),
        (
            format!("{gun}@{}", other.digest),
            "is not signed by any tag",
        ),
    ];
    let allowed = [
        format!("{gun}:signed"),
        format!("{gun}:multi"),
        format!("{gun}@{}", signed.digest),
    ];

    // skopeo; first a platform manifest by digest before any client read its index: the
    // gate reads the signed manifests to find the index that names it.
    let out = work.path().join("out");
    let run = skopeo.pull(&format!("{gun}@{}", arm.digest), &out);
    assert!(run.status.success(), "skopeo child first: {}", run.stderr);
    for r in &allowed {
        let run = skopeo.pull(r, &out);
        assert!(run.status.success(), "skopeo {r}: {}", run.stderr);
    }
    for (r, msg) in &refused {
        let run = skopeo.pull(r, &out);
        assert!(!run.status.success(), "skopeo pulled {r}");
        assert!(run.stderr.contains(msg), "skopeo {r}: {}", run.stderr);
        assert!(run.stderr.contains("denied"), "skopeo {r}: {}", run.stderr);
    }

    // A path the registry decodes into a manifest read is decided like one.
    for path in ["app/manifests%2Funsigned", "app%2Fmanifests/unsigned"] {
        let url = format!("https://{gate}/v2/{path}");
        let (direct, _) = upload::send(
            plain
                .get(&format!("http://127.0.0.1:{}/v2/{path}", registry.port))
                .set("Accept", OCI_MANIFEST),
            b"",
        );
        let (gated, _) = upload::send(agent.get(&url).set("Accept", OCI_MANIFEST), b"");
        // distribution decodes `%2F` before routing: this is the manifest, served directly.
        assert_eq!((direct, gated), (200, 403), "{url}");
    }

    // containerd's ctr: resolves tags with HEAD, then the index and its platform's manifest
    // by digest.
    let containerd = Containerd::start(work.path(), &gate, &srv.ca_path);
    for r in &allowed {
        let run = containerd.pull(r);
        assert!(
            run.status.success(),
            "ctr {r}: {}{}",
            run.stdout,
            run.stderr
        );
    }
    for (r, msg) in &refused {
        let run = containerd.pull(r);
        assert!(!run.status.success(), "ctr pulled {r}");
        assert!(run.stderr.contains(msg), "ctr {r}: {}", run.stderr);
        assert!(!run.stderr.contains("x509"), "ctr {r}: {}", run.stderr);
    }

    // docker 28 + dockerd 20.10, content trust off.
    let dockerd = Dockerd::start(registry.port);
    let docker_config = work.path().join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    for r in &allowed {
        let run = docker_pull(&dockerd, &docker_config, r);
        assert!(
            run.status.success(),
            "docker {r}: {}{}",
            run.stdout,
            run.stderr
        );
    }
    for (r, msg) in &refused {
        let run = docker_pull(&dockerd, &docker_config, r);
        assert!(!run.status.success(), "docker pulled {r}");
        assert!(run.stderr.contains(msg), "docker {r}: {}", run.stderr);
    }

    let metrics = |srv: &SignetServer| upload::get(&agent, &format!("{}/metrics", srv.url));
    let (_, text) = metrics(&srv);
    let text = String::from_utf8(text).unwrap();
    assert!(metric(&text, "open", "denied") >= 9, "{text}");
    assert!(metric(&text, "open", "allowed") >= 9, "{text}");

    // A registry for the gate's address: content trust enabled starts it in enforce; the
    // CLI switches it to audit, which serves everything and counts what it would refuse.
    let admin = signet_interop::admin::AdminClient::new(&srv);
    admin.ok(
        "POST",
        "registries",
        serde_json::json!({"name": "gated", "loginServer": gate, "sku": "Premium"}),
    );
    admin.ok(
        "PUT",
        "registries/gated/content-trust",
        serde_json::json!({"status": "enabled"}),
    );
    let (s, policy) = admin.call("GET", "registries/gated/gate", None);
    assert_eq!((s, policy["mode"].as_str()), (200, Some("enforce")));
    let run = skopeo.pull(&refused[0].0, &out);
    assert!(run.stderr.contains(refused[0].1), "{}", run.stderr);
    let cli = Command::new(signet_server_bin().expect("signet-server binary"))
        .args([
            "registry",
            "gate",
            "gated",
            "audit",
            "--exempt",
            "other/*",
            "--data-dir",
        ])
        .arg(srv.data_dir.path())
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(String::from_utf8_lossy(&cli.stdout).contains(r#""mode":"audit""#));
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv_policy_mode(&admin) != "audit" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(700));
    for (r, _) in &refused {
        let run = skopeo.pull(r, &out);
        assert!(run.status.success(), "audit: skopeo {r}: {}", run.stderr);
    }
    let run = containerd.pull(&refused[0].0);
    assert!(run.status.success(), "audit: ctr: {}", run.stderr);
    let (_, text) = metrics(&srv);
    let text = String::from_utf8(text).unwrap();
    assert!(metric(&text, "gated", "would_deny") >= 4, "{text}");
    assert!(metric(&text, "gated", "denied") >= 1, "{text}");
    let (s, audit) = admin.call("GET", "audit?limit=5", None);
    assert_eq!(s, 200);
    assert!(audit.to_string().contains("gate.set"), "{audit}");
}

fn srv_policy_mode(admin: &signet_interop::admin::AdminClient) -> String {
    admin.call("GET", "registries/gated/gate", None).1["mode"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Two instances on one PostgreSQL: trust data published through one takes effect at the
/// other's gate on the next request (the read cache hears the change; the verified targets
/// are keyed by the timestamp).
#[test]
fn a_publish_on_another_instance_reaches_the_gate() {
    if !Postgres::available() || !require_binaries(&["docker-registry", "skopeo"]) {
        return;
    }
    let pg = Postgres::start();
    let url = pg.create_database("gate");
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let publisher = SignetServer::start_on_postgres(&url);
    let gated = SignetServer::start_with_gate_on(
        &format!("http://127.0.0.1:{}", registry.port),
        Some(signet_server::serve::Database::Postgres(url.clone())),
    );
    let gate = format!("127.0.0.1:{}", gated.gate_addr.expect("gate").port());
    let gun = format!("{gate}/app");
    let skopeo = Skopeo::new(work.path(), &gated.ca_path);
    let mut layout = Layout::new(work.path().join("layout"));
    let image = layout.image("signed", "amd64");
    layout.tag("v1", &image, OCI_MANIFEST);
    skopeo.push(&layout, "v1", &format!("{gun}:v1"));
    let manifest = registry_manifest(&ureq::AgentBuilder::new().build(), registry.port, "v1");
    let out = work.path().join("out");
    let pull = || skopeo.pull(&format!("{gun}:v1"), &out);
    let run = pull();
    assert!(run.stderr.contains("no trust data"), "{}", run.stderr);

    let agent = https_agent(&publisher.ca_path);
    let keys = RepoKeys::new(&gun);
    let ts = upload::server_key(&agent, &publisher.url, &gun, "timestamp");
    let snap = upload::server_key(&agent, &publisher.url, &gun, "snapshot");
    let root = keys.root(1, &ts, &snap);
    let targets = keys.targets(1, &[("v1", &manifest)]);
    let (s, b) = upload::post_update(
        &agent,
        &publisher.url,
        &gun,
        &[("root", &root), ("targets", &targets)],
    );
    assert_eq!(s, 200, "{b}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let run = pull();
        if run.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "never allowed: {}", run.stderr);
        std::thread::sleep(Duration::from_millis(200));
    }
    // Unsigned on the publisher: refused at the gate.
    let targets = keys.targets(2, &[("v0", b"other")]);
    let (s, b) = upload::post_update(&agent, &publisher.url, &gun, &[("targets", &targets)]);
    assert_eq!(s, 200, "{b}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let run = pull();
        if run.stderr.contains("tag v1 is not signed") {
            break;
        }
        assert!(Instant::now() < deadline, "still served: {}", run.stderr);
        std::thread::sleep(Duration::from_millis(200));
    }
}
