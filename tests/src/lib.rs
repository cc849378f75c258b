//! Harness for interop tests: starts Signet and the reference notary-server/notary-signer on
//! loopback, and runs the real notary and docker CLIs against them.
//!
//! ```no_run
//! use signet_interop::*;
//! if !require_binaries(&["notary"]) { return; }
//! let srv = SignetServer::start();
//! let cli = NotaryCli::new(&srv.url, &srv.ca_path);
//! let out = cli.run(&["list", "example.com/app"]);
//! ```

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod admin;
pub mod upload;

/// The passphrases every test uses.
pub const ROOT_PASS: &str = "rootpass123";
pub const REPO_PASS: &str = "repopass123";

/// True if every binary is on PATH. When one is missing: panics if
/// `SIGNET_REQUIRE_INTEROP=1` (CI), otherwise prints a note so the caller can skip.
pub fn require_binaries(bins: &[&str]) -> bool {
    let missing: Vec<&str> = bins
        .iter()
        .copied()
        .filter(|b| which(b).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("SIGNET_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("interop binaries missing: {missing:?} (SIGNET_REQUIRE_INTEROP=1)");
    }
    eprintln!("skipping: interop binaries missing: {missing:?}");
    false
}

pub fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// The `signet-server` binary next to the test binaries (built by `cargo build` or a
/// workspace test run); `None` when it was not built.
pub fn signet_server_bin() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("signet-server")))
        .filter(|p| p.exists())
}

/// A free loopback port (bound then released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A throwaway CA with one server certificate (also usable as a client certificate).
pub struct TestCa {
    pub dir: tempfile::TempDir,
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new(names: &[&str]) -> TestCa {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "interop test CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let key = rcgen::KeyPair::generate().expect("key");
        let mut all: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
        all.extend(names.iter().map(|s| s.to_string()));
        let mut params = rcgen::CertificateParams::new(all).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &ca, &ca_key).expect("cert");
        let out = TestCa {
            ca_cert: dir.path().join("ca.crt"),
            cert: dir.path().join("server.crt"),
            key: dir.path().join("server.key"),
            dir,
        };
        std::fs::write(&out.ca_cert, ca.pem()).expect("write");
        std::fs::write(&out.cert, cert.pem()).expect("write");
        std::fs::write(&out.key, key.serialize_pem()).expect("write");
        out
    }
}

/// A child process killed (by PID) when dropped, with its log kept for error messages.
pub struct Proc {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> Proc {
        let f = std::fs::File::create(&log).expect("log file");
        let f2 = f.try_clone().expect("log file");
        let child = cmd
            .stdout(Stdio::from(f))
            .stderr(Stdio::from(f2))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc {
            name: name.to_string(),
            child,
            log,
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS agent trusting one CA (for direct API calls in tests).
pub fn https_agent(ca: &Path) -> ureq::Agent {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).expect("read CA");
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.expect("CA pem")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    ureq::AgentBuilder::new()
        .tls_config(Arc::new(cfg))
        .timeout(Duration::from_secs(30))
        .build()
}

/// Polls `url` until it answers 200 or the deadline passes.
pub fn wait_healthy(agent: &ureq::Agent, url: &str, procs: &[&Proc]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = agent.get(url).call() {
            if r.status() == 200 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let logs: Vec<String> = procs
        .iter()
        .map(|p| format!("--- {} ---\n{}", p.name, p.log_tail()))
        .collect();
    panic!("{url} never became healthy\n{}", logs.join("\n"));
}

/// The reference notary-server with notary-signer over mutual TLS, memory storage.
pub struct NotaryServer {
    pub url: String,
    pub ca_path: PathBuf,
    pub port: u16,
    _server: Proc,
    _signer: Proc,
    _ca: TestCa,
}

impl NotaryServer {
    pub fn start() -> NotaryServer {
        Self::start_with_storage(None)
    }

    /// The last lines of notary-server's and notary-signer's logs.
    pub fn logs(&self) -> String {
        format!(
            "--- notary-server ---\n{}\n--- notary-signer ---\n{}",
            self._server.log_tail(),
            self._signer.log_tail()
        )
    }

    /// PID of the notary-server process (for memory measurements).
    pub fn server_pid(&self) -> u32 {
        self._server.pid()
    }

    /// Starts notary-server again with the same configuration (same port, same notary-signer
    /// and storage) after it died, and waits until it is healthy. Returns the new PID.
    pub fn restart_server(&mut self) -> u32 {
        let d = self._ca.dir.path();
        let log = d.join(format!("server-{}.log", self._server.pid()));
        self._server = Proc::spawn(
            "notary-server",
            Command::new("notary-server")
                .arg("-config")
                .arg(d.join("server.json")),
            log,
        );
        wait_healthy(
            &https_agent(&self.ca_path),
            &format!("{}/_notary_server/health", self.url),
            &[&self._server, &self._signer],
        );
        self._server.pid()
    }

    /// With `Some(url)`, notary-server stores metadata in that PostgreSQL database (whose
    /// schema must exist: see [`NOTARY_SERVER_PG_SCHEMA`]).
    pub fn start_with_storage(postgres_url: Option<&str>) -> NotaryServer {
        let storage = match postgres_url {
            Some(url) => {
                serde_json::json!({"backend": "postgres", "db_url": format!("{url}?sslmode=disable")})
            }
            None => serde_json::json!({"backend": "memory"}),
        };
        Self::start_configured(storage, serde_json::json!({"backend": "memory"}), &[], None)
    }

    /// Memory storage, with docker's token auth on (notary's `auth: {type: token}`): every
    /// request needs a token from `auth.realm` for `auth.service`, signed under a
    /// certificate of `auth.root_cert_bundle` (e.g. Signet's token endpoint and its
    /// `token-signing.crt`).
    pub fn start_with_token_auth(auth: &TokenAuth) -> NotaryServer {
        let options = serde_json::json!({"type": "token", "options": {
            "realm": auth.realm, "service": auth.service, "issuer": auth.issuer,
            "rootcertbundle": auth.root_cert_bundle, "autoredirect": false}});
        Self::start_configured(
            serde_json::json!({"backend": "memory"}),
            serde_json::json!({"backend": "memory"}),
            &[],
            Some(options),
        )
    }

    /// notary-server and notary-signer both on SQL databases (schemas already created: see
    /// [`NOTARY_SERVER_PG_SCHEMA`], [`NOTARY_SIGNER_PG_SCHEMA`] and the MySQL ones), the
    /// signer encrypting its keys under `alias` with `passphrase` (given to it, as notary
    /// documents, in `NOTARY_SIGNER_<ALIAS>`).
    pub fn start_with_sql(sql: &NotarySql, alias: &str, passphrase: &str) -> NotaryServer {
        let (backend, server_url, signer_url) = match sql {
            NotarySql::Postgres { server, signer } => (
                "postgres",
                format!("{server}?sslmode=disable"),
                format!("{signer}?sslmode=disable"),
            ),
            NotarySql::Mysql { server, signer } => ("mysql", server.clone(), signer.clone()),
        };
        let env_var = format!("NOTARY_SIGNER_{}", alias.to_uppercase());
        Self::start_configured(
            serde_json::json!({"backend": backend, "db_url": server_url}),
            serde_json::json!({"backend": backend, "db_url": signer_url, "default_alias": alias}),
            &[(&env_var, passphrase)],
            None,
        )
    }

    fn start_configured(
        storage: serde_json::Value,
        signer_storage: serde_json::Value,
        signer_env: &[(&str, &str)],
        auth: Option<serde_json::Value>,
    ) -> NotaryServer {
        let ca = TestCa::new(&[]);
        let d = ca.dir.path();
        let signer_port = free_port();
        let port = free_port();
        let signer_cfg = serde_json::json!({
            "server": {"grpc_addr": format!("127.0.0.1:{signer_port}"),
                       "tls_cert_file": ca.cert, "tls_key_file": ca.key, "client_ca_file": ca.ca_cert},
            "logging": {"level": "info"},
            "storage": signer_storage
        });
        let mut server_cfg = serde_json::json!({
            "server": {"http_addr": format!("127.0.0.1:{port}"), "tls_cert_file": ca.cert, "tls_key_file": ca.key},
            "trust_service": {"type": "remote", "hostname": "127.0.0.1", "port": signer_port.to_string(),
                              "tls_ca_file": ca.ca_cert, "key_algorithm": "ecdsa",
                              "tls_client_cert": ca.cert, "tls_client_key": ca.key},
            "logging": {"level": "info"},
            "storage": storage
        });
        std::fs::write(d.join("signer.json"), signer_cfg.to_string()).expect("write");
        if let Some(auth) = auth {
            server_cfg["auth"] = auth;
        }
        std::fs::write(d.join("server.json"), server_cfg.to_string()).expect("write");
        let mut signer_cmd = Command::new("notary-signer");
        signer_cmd.arg("-config").arg(d.join("signer.json"));
        for (k, v) in signer_env {
            signer_cmd.env(k, v);
        }
        let signer = Proc::spawn("notary-signer", &mut signer_cmd, d.join("signer.log"));
        std::thread::sleep(Duration::from_millis(300));
        let server = Proc::spawn(
            "notary-server",
            Command::new("notary-server")
                .arg("-config")
                .arg(d.join("server.json")),
            d.join("server.log"),
        );
        let url = format!("https://127.0.0.1:{port}");
        wait_healthy(
            &https_agent(&ca.ca_cert),
            &format!("{url}/_notary_server/health"),
            &[&server, &signer],
        );
        NotaryServer {
            url,
            ca_path: ca.ca_cert.clone(),
            port,
            _server: server,
            _signer: signer,
            _ca: ca,
        }
    }
}

/// The SQL databases of a reference notary-server and notary-signer, as notary takes them
/// (`postgres://…` URLs; go-sql-driver DSNs `user@tcp(host:port)/db?parseTime=True`).
pub enum NotarySql {
    Postgres { server: String, signer: String },
    Mysql { server: String, signer: String },
}

/// Signet's server, in-process on its own runtime thread, self-signed TLS, temp data dir.
pub struct SignetServer {
    pub url: String,
    pub ca_path: PathBuf,
    pub addr: std::net::SocketAddr,
    /// The signed-only registry gate's address, when one was started beside the trust API.
    pub gate_addr: Option<std::net::SocketAddr>,
    pub data_dir: tempfile::TempDir,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SignetServer {
    pub fn start() -> SignetServer {
        Self::start_with(
            tempfile::tempdir().expect("tempdir"),
            Default::default(),
            vec![],
        )
    }

    /// Starts on a PostgreSQL database (several servers may share one).
    pub fn start_on_postgres(url: &str) -> SignetServer {
        Self::start_full(
            tempfile::tempdir().expect("tempdir"),
            Default::default(),
            vec![],
            Some(signet_server::serve::Database::Postgres(url.to_string())),
        )
    }

    /// Starts on an existing data directory (e.g. to restart a stopped server), with the
    /// given HTTP settings and extra names for the self-signed certificate.
    pub fn start_with(
        data_dir: tempfile::TempDir,
        http: signet_server::http::HttpConfig,
        extra_names: Vec<String>,
    ) -> SignetServer {
        Self::start_full(data_dir, http, extra_names, None)
    }

    /// Starts with the given token settings (e.g. how failed logins are slowed down).
    pub fn start_with_auth(auth: signet_server::auth::AuthConfig) -> SignetServer {
        Self::start_configured(
            tempfile::tempdir().expect("tempdir"),
            Default::default(),
            vec![],
            None,
            auth,
            None,
        )
    }

    /// Starts the trust API and, beside it on another loopback port, the signed-only
    /// registry gate in front of `upstream` (`http://127.0.0.1:<port>`).
    pub fn start_with_gate(upstream: &str) -> SignetServer {
        Self::start_with_gate_on(upstream, None)
    }

    /// [`SignetServer::start_with_gate`] on a given database (e.g. a PostgreSQL shared with
    /// other instances).
    pub fn start_with_gate_on(
        upstream: &str,
        database: Option<signet_server::serve::Database>,
    ) -> SignetServer {
        Self::start_configured(
            tempfile::tempdir().expect("tempdir"),
            Default::default(),
            vec![],
            database,
            Default::default(),
            Some(signet_server::serve::GateConfig {
                upstream: upstream.to_string(),
                upstream_ca: None,
                listen: Some("127.0.0.1:0".parse().expect("addr")),
            }),
        )
    }

    fn start_full(
        data_dir: tempfile::TempDir,
        http: signet_server::http::HttpConfig,
        extra_names: Vec<String>,
        database: Option<signet_server::serve::Database>,
    ) -> SignetServer {
        Self::start_configured(
            data_dir,
            http,
            extra_names,
            database,
            Default::default(),
            None,
        )
    }

    fn start_configured(
        data_dir: tempfile::TempDir,
        http: signet_server::http::HttpConfig,
        extra_names: Vec<String>,
        database: Option<signet_server::serve::Database>,
        auth: signet_server::auth::AuthConfig,
        gate: Option<signet_server::serve::GateConfig>,
    ) -> SignetServer {
        let cfg = signet_server::serve::ServeConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data_dir.path().to_path_buf(),
            database,
            tls: signet_server::serve::TlsMode::SelfSigned { extra_names },
            http,
            signer_passphrase: zeroize::Zeroizing::new("interop-signer-pass".into()),
            auth,
            maintenance: Default::default(),
            gate,
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let running = signet_server::serve::start(cfg)
                    .await
                    .expect("start signet");
                ready_tx
                    .send((
                        running.addr,
                        running.ca_cert.clone().expect("ca"),
                        running.gate_addr,
                    ))
                    .expect("ready");
                let _ = tokio::task::spawn_blocking(move || stop_rx.recv()).await;
                running.shutdown().await;
            });
        });
        let (addr, ca_path, gate_addr) = ready_rx.recv().expect("signet started");
        SignetServer {
            url: format!("https://{addr}"),
            ca_path,
            addr,
            gate_addr,
            data_dir,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl SignetServer {
    /// Stops the server and hands back its data directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.shutdown();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.data_dir, dir)
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SignetServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The output of a CLI run, with both streams as text.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output) -> Run {
        Run {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Panics with both streams unless the command succeeded.
    pub fn ok(self, what: &str) -> Run {
        assert!(
            self.status.success(),
            "{what} failed ({}):\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// The notary 0.7 CLI with its own trust dir, pointed at one server.
pub struct NotaryCli {
    pub trust_dir: tempfile::TempDir,
    server: String,
    ca: PathBuf,
    auth: Option<String>,
}

impl NotaryCli {
    pub fn new(server: &str, ca: &Path) -> NotaryCli {
        NotaryCli {
            trust_dir: tempfile::tempdir().expect("tempdir"),
            server: server.to_string(),
            ca: ca.to_path_buf(),
            auth: None,
        }
    }

    /// Credentials for a token-auth trust server: every command gets
    /// `NOTARY_AUTH=base64(user:password)`, which notary uses for the token endpoint's basic
    /// auth (notary sends none for read-only commands such as `list`).
    pub fn with_auth(mut self, user: &str, password: &str) -> NotaryCli {
        self.auth = Some(basic_auth(user, password));
        self
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new("notary");
        c.arg("-d")
            .arg(self.trust_dir.path())
            .arg("-s")
            .arg(&self.server)
            .arg("--tlscacert")
            .arg(&self.ca)
            .env("NOTARY_ROOT_PASSPHRASE", ROOT_PASS)
            .env("NOTARY_TARGETS_PASSPHRASE", REPO_PASS)
            .env("NOTARY_SNAPSHOT_PASSPHRASE", REPO_PASS)
            .env("NOTARY_DELEGATION_PASSPHRASE", REPO_PASS)
            .stdin(Stdio::null());
        if let Some(auth) = &self.auth {
            c.env("NOTARY_AUTH", auth);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().expect("run notary"))
    }

    /// Runs with `input` on standard input (for confirmation prompts).
    pub fn run_with_input(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run notary");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input);
        }
        Run::from(child.wait_with_output().expect("wait notary"))
    }

    /// A client with a copy of this one's trust directory (keys and cached metadata),
    /// pointed at another server: a user moving to a new server address.
    pub fn moved_to(&self, server: &str, ca: &Path) -> NotaryCli {
        let moved = NotaryCli::new(server, ca);
        let st = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", self.trust_dir.path().display()))
            .arg(moved.trust_dir.path())
            .status()
            .expect("cp");
        assert!(st.success(), "copying the trust dir");
        NotaryCli {
            auth: self.auth.clone(),
            ..moved
        }
    }

    /// `notary list` parsed into (name, sha256 hex, size, role) rows.
    pub fn list(&self, gun: &str) -> Vec<(String, String, u64, String)> {
        let out = self.run(&["list", gun]).ok("notary list");
        parse_notary_list(&out.stdout)
    }
}

pub fn parse_notary_list(stdout: &str) -> Vec<(String, String, u64, String)> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("----"))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4).then(|| {
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[2].parse().unwrap_or(0),
                    f[3].to_string(),
                )
            })
        })
        .collect()
}

/// The docker 28 CLI with its own DOCKER_CONFIG (trust dir inside), content trust on, and
/// the trust server's CA installed where docker looks for it.
pub struct DockerCli {
    pub config_dir: tempfile::TempDir,
    server: String,
}

pub const DOCKER: &str = "/usr/local/bin/docker";

impl DockerCli {
    pub fn new(server: &str, ca: Option<&Path>) -> DockerCli {
        let config_dir = tempfile::tempdir().expect("tempdir");
        if let Some(ca) = ca {
            let hostport = server.trim_start_matches("https://");
            let tls = config_dir.path().join("tls").join(hostport);
            std::fs::create_dir_all(&tls).expect("mkdir");
            std::fs::copy(ca, tls.join("ca.crt")).expect("copy CA");
        }
        DockerCli {
            config_dir,
            server: server.to_string(),
        }
    }

    pub fn trust_dir(&self) -> PathBuf {
        self.config_dir.path().join("trust")
    }

    /// A client with a copy of this one's trust directory (keys and cached metadata),
    /// pointed at another trust server: a user moving to a new server address.
    pub fn moved_to(&self, server: &str, ca: &Path) -> DockerCli {
        let moved = DockerCli::new(server, Some(ca));
        let st = Command::new("cp")
            .arg("-a")
            .arg(self.trust_dir())
            .arg(moved.config_dir.path())
            .status()
            .expect("cp");
        assert!(st.success(), "copying the trust dir");
        moved
    }

    /// What `docker login <registry_host_port>` stores without a credential helper: merges
    /// `{"auths":{"<host:port>":{"auth":"base64(user:password)"}}}` into
    /// `$DOCKER_CONFIG/config.json`, keeping every other entry. The docker CLI hands these
    /// credentials to dockerd for the registry and uses them itself for the trust server's
    /// token challenge.
    pub fn login(&self, registry_host_port: &str, user: &str, password: &str) {
        let path = self.config_dir.path().join("config.json");
        let mut cfg: serde_json::Value = match std::fs::read(&path) {
            Ok(raw) => serde_json::from_slice(&raw).expect("config.json is JSON"),
            Err(_) => serde_json::json!({}),
        };
        let obj = cfg.as_object_mut().expect("config.json is an object");
        let auths = obj
            .entry("auths")
            .or_insert_with(|| serde_json::json!({}))
            .as_object_mut()
            .expect("config.json auths is an object");
        auths.insert(
            registry_host_port.to_string(),
            serde_json::json!({ "auth": basic_auth(user, password) }),
        );
        let text = serde_json::to_string_pretty(&cfg).expect("json");
        std::fs::write(&path, text).expect("write config.json");
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(DOCKER);
        c.env("DOCKER_CONFIG", self.config_dir.path())
            .env("DOCKER_CONTENT_TRUST", "1")
            .env("DOCKER_CONTENT_TRUST_SERVER", &self.server)
            .env("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", ROOT_PASS)
            .env("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPO_PASS)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().expect("run docker"))
    }

    /// Runs against a daemon (instead of the unreachable default socket).
    pub fn run_with_daemon(&self, daemon: &Dockerd, args: &[&str]) -> Run {
        Run::from(
            self.command()
                .env("DOCKER_HOST", &daemon.host)
                .args(args)
                .output()
                .expect("run docker"),
        )
    }
}

/// Writes `data` to a new file in `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).expect("create");
    f.write_all(data).expect("write");
    p
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// `base64(user:password)` (standard alphabet, padded), as docker's config.json and
/// `NOTARY_AUTH` hold credentials.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// A distribution 2.8 registry (Debian `docker-registry`) on loopback, plain HTTP; dockerd is
/// told it is insecure (the trust server's TLS is what these tests check).
pub struct Registry {
    pub port: u16,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

/// The `auth: token` section of a registry's config: the registry answers unauthenticated
/// requests with `401` and `WWW-Authenticate: Bearer realm="<realm>",service="<service>"`, and
/// accepts JWTs from `issuer` whose `x5c` chain ends in a certificate of `root_cert_bundle`.
pub struct TokenAuth {
    pub realm: String,
    pub service: String,
    pub issuer: String,
    pub root_cert_bundle: PathBuf,
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_inner(free_port(), None, None)
    }

    /// A second registry over this one's storage, serving HTTPS with `tls`: the same content
    /// reached over TLS (the gate benchmark compares it with the gate's TLS).
    pub fn start_tls_sharing(&self, tls: &TestCa) -> Registry {
        Self::start_on(
            free_port(),
            None,
            Some(tls),
            Some(&self._dir.path().join("data")),
        )
    }

    /// The same registry with token authentication (see [`TokenAuth`]).
    pub fn start_with_token_auth(auth: &TokenAuth) -> Registry {
        Self::start_inner(free_port(), Some(auth), None)
    }

    /// Token authentication on a chosen port: the registry's token service is usually its
    /// login server, `registry.test:<port>`, which must be known before it starts.
    pub fn start_with_token_auth_on(port: u16, auth: &TokenAuth) -> Registry {
        Self::start_inner(port, Some(auth), None)
    }

    /// Token authentication over HTTPS with the certificate of `tls` (on 127.0.0.1).
    pub fn start_tls_with_token_auth_on(port: u16, auth: &TokenAuth, tls: &TestCa) -> Registry {
        Self::start_inner(port, Some(auth), Some(tls))
    }

    fn start_inner(port: u16, auth: Option<&TokenAuth>, tls: Option<&TestCa>) -> Registry {
        Self::start_on(port, auth, tls, None)
    }

    fn start_on(
        port: u16,
        auth: Option<&TokenAuth>,
        tls: Option<&TestCa>,
        storage: Option<&Path>,
    ) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = storage.map_or_else(|| dir.path().join("data"), Path::to_path_buf);
        let mut cfg = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            root.display()
        );
        if let Some(t) = tls {
            cfg.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                yaml_str(&t.cert.display().to_string()),
                yaml_str(&t.key.display().to_string()),
            ));
        }
        if let Some(a) = auth {
            cfg.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                yaml_str(&a.realm),
                yaml_str(&a.service),
                yaml_str(&a.issuer),
                yaml_str(&a.root_cert_bundle.display().to_string()),
            ));
        }
        std::fs::write(dir.path().join("config.yml"), cfg).expect("write");
        let proc = Proc::spawn(
            "docker-registry",
            Command::new("docker-registry")
                .arg("serve")
                .arg(dir.path().join("config.yml")),
            dir.path().join("registry.log"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry never listened:\n{}",
                proc.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            port,
            _proc: proc,
            _dir: dir,
        }
    }

    /// The last lines of the registry's log.
    pub fn log_tail(&self) -> String {
        self._proc.log_tail()
    }
}

/// dockerd 20.10 as root in its own mount namespace, whose /etc/hosts maps `registry.test`
/// to 127.0.0.1 — the docker CLI, outside that namespace, cannot resolve the name, so it
/// treats the registry as secure and verifies the trust server's certificate.
pub struct Dockerd {
    pub host: String,
    dir: tempfile::TempDir,
    proc: Option<Proc>,
}

pub const REGISTRY_NAME: &str = "registry.test";

/// The system CA bundle Go would load first on Debian.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

impl Dockerd {
    pub fn start(registry_port: u16) -> Dockerd {
        Self::start_trusting(registry_port, None)
    }

    /// Like [`Dockerd::start`]; with `extra_ca`, dockerd also trusts that CA wherever it uses
    /// the system roots: it runs with `SSL_CERT_FILE` naming a bundle of the system CAs plus
    /// `extra_ca`. That covers secure registries (and their token realms). A registry that is
    /// insecure — `registry.test:<registry_port>`, or any name resolving into 127.0.0.0/8 —
    /// gets its tokens through a transport that skips certificate verification, so a realm
    /// on Signet is reached there with or without the CA.
    pub fn start_trusting(registry_port: u16, extra_ca: Option<&Path>) -> Dockerd {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let cert_file = extra_ca.map(|ca| {
            let mut bundle = std::fs::read(SYSTEM_CA_BUNDLE).unwrap_or_default();
            if !bundle.is_empty() && !bundle.ends_with(b"\n") {
                bundle.push(b'\n');
            }
            bundle.extend(std::fs::read(ca).expect("read extra CA"));
            let path = d.join("ca-bundle.crt");
            std::fs::write(&path, bundle).expect("write CA bundle");
            path
        });
        std::fs::write(
            d.join("hosts"),
            format!("127.0.0.1 localhost {REGISTRY_NAME}\n"),
        )
        .expect("write");
        let sock = d.join("docker.sock");
        let script = format!(
            "mount --bind {hosts} /etc/hosts && exec dockerd --iptables=false --bridge=none --storage-driver=vfs \
             --data-root {data} --exec-root {exec} --pidfile {pid} -H unix://{sock} --insecure-registry {REGISTRY_NAME}:{registry_port}",
            hosts = d.join("hosts").display(),
            data = d.join("data").display(),
            exec = d.join("exec").display(),
            pid = d.join("docker.pid").display(),
            sock = sock.display(),
        );
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", &script]);
        if let Some(f) = &cert_file {
            cmd.env("SSL_CERT_FILE", f);
        }
        let proc = Proc::spawn("dockerd", &mut cmd, d.join("dockerd.log"));
        let host = format!("unix://{}", sock.display());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new(DOCKER)
                .args(["version", "--format", "{{.Server.Version}}"])
                .env("DOCKER_HOST", &host)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd never came up:\n{}",
                proc.log_tail()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        Dockerd {
            host,
            dir,
            proc: Some(proc),
        }
    }

    /// The last lines of dockerd's log.
    pub fn log_tail(&self) -> String {
        self.proc.as_ref().map(Proc::log_tail).unwrap_or_default()
    }

    /// Imports a one-file image as `reference` (no registry or hub involved).
    pub fn import_image(&self, reference: &str, content: &[u8]) {
        let rootfs = self.dir.path().join("rootfs");
        std::fs::create_dir_all(&rootfs).expect("mkdir");
        std::fs::write(rootfs.join("content.txt"), content).expect("write");
        let tar = self
            .dir
            .path()
            .join(format!("rootfs-{}.tar", sha256_hex(content)));
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success());
        let out = Command::new(DOCKER)
            .env("DOCKER_HOST", &self.host)
            .arg("import")
            .arg(&tar)
            .arg(reference)
            .output()
            .expect("docker import");
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM first so dockerd stops its managed containerd; then the Proc kill.
        if let Some(p) = &self.proc {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(p.pid().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline && Path::new(&format!("/proc/{}", p.pid())).exists() {
                let stat =
                    std::fs::read_to_string(format!("/proc/{}/stat", p.pid())).unwrap_or_default();
                if stat.contains(") Z ") {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.proc.take();
    }
}

/// The tables notary-server 0.7's SQL storage expects in PostgreSQL, written from its
/// storage model (files by GUN/role/version with a SHA-256 index; the changefeed with its
/// category table).
pub const NOTARY_SERVER_PG_SCHEMA: &str = "
CREATE TABLE tuf_files (
  id serial PRIMARY KEY, created_at timestamp NULL, updated_at timestamp NULL, deleted_at timestamp NULL,
  gun varchar(255) NOT NULL, role varchar(255) NOT NULL, version integer NOT NULL,
  data bytea NOT NULL, sha256 char(64) DEFAULT NULL, UNIQUE (gun, role, version));
CREATE INDEX tuf_files_sha256_idx ON tuf_files (sha256);
CREATE TABLE change_category (category varchar(20) PRIMARY KEY);
INSERT INTO change_category VALUES ('update'), ('deletion');
CREATE TABLE changefeed (
  id serial PRIMARY KEY, created_at timestamp DEFAULT CURRENT_TIMESTAMP,
  gun varchar(255) NOT NULL, version integer NOT NULL, sha256 char(64) DEFAULT NULL,
  category varchar(20) NOT NULL DEFAULT 'update' REFERENCES change_category);
CREATE INDEX idx_changefeed_gun ON changefeed (gun);
";

/// notary-signer's key table in PostgreSQL, as notary's migrations create it.
pub const NOTARY_SIGNER_PG_SCHEMA: &str = "
CREATE TABLE private_keys (
  id serial PRIMARY KEY, created_at timestamp NULL DEFAULT NULL, updated_at timestamp NULL DEFAULT NULL,
  deleted_at timestamp NULL DEFAULT NULL, key_id varchar(255) NOT NULL, encryption_alg varchar(255) NOT NULL,
  keywrap_alg varchar(255) NOT NULL, algorithm varchar(50) NOT NULL, passphrase_alias varchar(50) NOT NULL,
  public bytea NOT NULL, private bytea NOT NULL, gun varchar(255) NOT NULL, role varchar(255) NOT NULL,
  last_used timestamp NULL DEFAULT NULL,
  CONSTRAINT key_id UNIQUE (key_id), CONSTRAINT key_id_2 UNIQUE (key_id, algorithm));
";

/// A throwaway PostgreSQL 15 cluster (initdb + pg_ctl from the machine's binaries) on a free
/// loopback port, run as the `postgres` user, trust authentication, stopped on drop.
pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
}

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn as_postgres(args: &[&str]) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"]).args(args);
    c
}

impl Postgres {
    pub fn available() -> bool {
        Path::new(PG_BIN).join("initdb").exists() && which("runuser").is_some()
    }

    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let chown = |p: &Path| {
            let st = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(p)
                .status()
                .expect("chown");
            assert!(st.success());
        };
        // The postgres user must be able to reach and own the cluster directory.
        std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let data = root.join("data");
        std::fs::create_dir(&data).expect("mkdir");
        chown(root);
        let initdb = format!("{PG_BIN}/initdb");
        let out = as_postgres(&[
            &initdb,
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
        ])
        .output()
        .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            root.display()
        );
        let pg_ctl = format!("{PG_BIN}/pg_ctl");
        let log = root.join("pg.log");
        let out = as_postgres(&[
            &pg_ctl,
            "-D",
            data.to_str().unwrap(),
            "-o",
            &opts,
            "-l",
            log.to_str().unwrap(),
            "-w",
            "-t",
            "60",
            "start",
        ])
        .output()
        .expect("pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Postgres { port, dir }
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let createdb = format!("{PG_BIN}/createdb");
        let port = self.port.to_string();
        let out = as_postgres(&[
            &createdb,
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            name,
        ])
        .output()
        .expect("createdb");
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Restarts the cluster on the same port with a fast shutdown: every open connection is
    /// terminated, as in a routine database restart.
    pub fn restart(&self) {
        let pg_ctl = format!("{PG_BIN}/pg_ctl");
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("pg.log");
        let out = as_postgres(&[
            &pg_ctl,
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "restart",
        ])
        .output()
        .expect("pg_ctl restart");
        assert!(
            out.status.success(),
            "pg_ctl restart: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the cluster (fast shutdown: open connections are terminated); [`Postgres::start_again`]
    /// brings it back on the same port.
    pub fn stop(&self) {
        let pg_ctl = format!("{PG_BIN}/pg_ctl");
        let data = self.dir.path().join("data");
        let out = as_postgres(&[
            &pg_ctl,
            "-D",
            data.to_str().unwrap(),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "stop",
        ])
        .output()
        .expect("pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the cluster stopped by [`Postgres::stop`] again, with its original options.
    pub fn start_again(&self) {
        let pg_ctl = format!("{PG_BIN}/pg_ctl");
        let root = self.dir.path();
        let data = root.join("data");
        let log = root.join("pg.log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            root.display()
        );
        let out = as_postgres(&[
            &pg_ctl,
            "-D",
            data.to_str().unwrap(),
            "-o",
            &opts,
            "-l",
            log.to_str().unwrap(),
            "-w",
            "-t",
            "60",
            "start",
        ])
        .output()
        .expect("pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Runs a query with psql and returns its rows unaligned, fields separated by `|`.
    pub fn query(&self, db: &str, sql: &str) -> Vec<Vec<String>> {
        let psql = format!("{PG_BIN}/psql");
        let port = self.port.to_string();
        let out = as_postgres(&[
            &psql,
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-A",
            "-t",
            "-c",
            sql,
        ])
        .output()
        .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect()
    }

    /// Runs SQL in a database with psql, failing loudly.
    pub fn psql(&self, db: &str, sql: &str) {
        let psql = format!("{PG_BIN}/psql");
        let port = self.port.to_string();
        let out = as_postgres(&[
            &psql,
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let pg_ctl = format!("{PG_BIN}/pg_ctl");
        let data = self.dir.path().join("data");
        let _ = as_postgres(&[
            &pg_ctl,
            "-D",
            data.to_str().unwrap_or(""),
            "-m",
            "immediate",
            "stop",
        ])
        .output();
    }
}

/// notary-server's tables in MySQL/MariaDB: notary's server migrations 0001-0005 applied
/// (files with their SHA-256, the changefeed and its categories).
pub const NOTARY_SERVER_MYSQL_SCHEMA: &str = "
CREATE TABLE tuf_files (
  id int(11) NOT NULL AUTO_INCREMENT, created_at timestamp NULL DEFAULT NULL,
  updated_at timestamp NULL DEFAULT NULL, deleted_at timestamp NULL DEFAULT NULL,
  gun varchar(255) NOT NULL, role varchar(255) NOT NULL, version int(11) NOT NULL,
  data longblob NOT NULL, sha256 char(64) DEFAULT NULL,
  PRIMARY KEY (id), UNIQUE KEY gun (gun, role, version), INDEX sha256 (sha256)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
CREATE TABLE change_category (category VARCHAR(20) NOT NULL, PRIMARY KEY (category))
  ENGINE=InnoDB DEFAULT CHARSET=utf8;
INSERT INTO change_category VALUES ('update'), ('deletion');
CREATE TABLE changefeed (
  id int(11) NOT NULL AUTO_INCREMENT, created_at timestamp DEFAULT CURRENT_TIMESTAMP,
  gun varchar(255) NOT NULL, version int(11) NOT NULL, sha256 CHAR(64) DEFAULT NULL,
  category VARCHAR(20) NOT NULL DEFAULT 'update', PRIMARY KEY (id),
  FOREIGN KEY (category) REFERENCES change_category (category), INDEX idx_changefeed_gun (gun)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
";

/// notary-signer's key table in MySQL/MariaDB: notary's signer migrations 0001-0002 applied.
pub const NOTARY_SIGNER_MYSQL_SCHEMA: &str = "
CREATE TABLE private_keys (
  id int(11) NOT NULL AUTO_INCREMENT, created_at timestamp NULL DEFAULT NULL,
  updated_at timestamp NULL DEFAULT NULL, deleted_at timestamp NULL DEFAULT NULL,
  key_id varchar(255) NOT NULL, encryption_alg varchar(255) NOT NULL,
  keywrap_alg varchar(255) NOT NULL, algorithm varchar(50) NOT NULL,
  passphrase_alias varchar(50) NOT NULL, public blob NOT NULL, private blob NOT NULL,
  gun VARCHAR(255) NOT NULL, role VARCHAR(255) NOT NULL, last_used DATETIME NULL DEFAULT NULL,
  PRIMARY KEY (id), UNIQUE KEY key_id (key_id), UNIQUE KEY key_id_2 (key_id, algorithm)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
";

/// A throwaway MariaDB server (Debian's `mariadbd`) in a temp dir on a free loopback port,
/// killed on drop. It has a user `notary` without a password and with every privilege, for
/// the reference servers and the import.
pub struct Mariadb {
    pub port: u16,
    dir: tempfile::TempDir,
    _server: Proc,
}

impl Mariadb {
    pub fn available() -> bool {
        which("mariadbd").is_some()
            && which("mariadb-install-db").is_some()
            && which("mariadb").is_some()
    }

    pub fn start() -> Mariadb {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let data = root.join("data");
        let out = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .output()
            .expect("mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let server = Proc::spawn(
            "mariadbd",
            Command::new("mariadbd")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--socket={}", root.join("sock").display()))
                .arg(format!("--pid-file={}", root.join("pid").display()))
                .arg(format!("--port={port}"))
                .args([
                    "--bind-address=127.0.0.1",
                    "--user=root",
                    "--skip-name-resolve",
                ]),
            root.join("mariadbd.log"),
        );
        let db = Mariadb {
            port,
            dir,
            _server: server,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = db
                .client(None)
                .args(["-e", "SELECT 1"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not start: {}",
                db._server.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        db.sql(
            None,
            "CREATE USER 'notary'@'%'; GRANT ALL ON *.* TO 'notary'@'%';",
        );
        db
    }

    fn client(&self, db: Option<&str>) -> Command {
        let mut c = Command::new("mariadb");
        c.arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                self.dir.path().join("sock").display()
            ))
            .arg("-uroot");
        if let Some(db) = db {
            c.arg(db);
        }
        c
    }

    /// Runs SQL, failing loudly.
    pub fn sql(&self, db: Option<&str>, sql: &str) {
        let out = self.client(db).args(["-e", sql]).output().expect("mariadb");
        assert!(
            out.status.success(),
            "mariadb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs a query and returns its rows (tab-separated fields).
    pub fn query(&self, db: &str, sql: &str) -> Vec<Vec<String>> {
        let out = self
            .client(Some(db))
            .args(["-N", "-B", "-e", sql])
            .output()
            .expect("mariadb");
        assert!(
            out.status.success(),
            "mariadb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect()
    }

    /// Creates a database with `schema`; returns its `mysql://` URL and the same database as
    /// notary's Go DSN.
    pub fn create_database(&self, name: &str, schema: &str) -> (String, String) {
        self.sql(None, &format!("CREATE DATABASE {name}"));
        self.sql(Some(name), schema);
        (
            format!("mysql://notary@127.0.0.1:{}/{name}", self.port),
            format!("notary@tcp(127.0.0.1:{})/{name}?parseTime=True", self.port),
        )
    }
}
