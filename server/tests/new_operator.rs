//! What a new operator trips on (issue 16): the `signet-server` binary's admin commands on a
//! data directory that does not exist, `--listen` forms, the start-up banner, policy error
//! codes, `audit --limit 0`, and a second PostgreSQL instance with another passphrase.

use signet_interop::*;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_signet-server");

/// Runs the binary in `cwd` with `args`, nothing on stdin.
fn run_in(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("SIGNET_DATA_DIR")
        .env_remove("SIGNET_DATABASE")
        .env_remove("SIGNET_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run signet-server");
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A `serve` process: the banner lines it printed, killed by PID when dropped.
struct Serve {
    child: std::process::Child,
    banner: Vec<String>,
}

impl Serve {
    /// Starts `serve` with `args` and reads its banner (up to the token certificate line).
    fn start(cwd: &Path, args: &[&str]) -> Result<Serve, Run> {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .current_dir(cwd)
            .env_remove("SIGNET_DATA_DIR")
            .env_remove("SIGNET_DATABASE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run signet-server serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut banner = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let last = line.starts_with("Token signing certificate");
            banner.push(line);
            if last {
                return Ok(Serve { child, banner });
            }
        }
        let out = child.wait_with_output().expect("wait");
        Err(Run {
            status: out.status,
            stdout: banner.join("\n"),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn line(&self, prefix: &str) -> &str {
        self.banner
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {:?}", self.banner))
    }

    /// Stops the server (by its PID) and returns what it logged.
    fn stop(mut self) -> String {
        use std::io::Read;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut log = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut log);
        }
        log
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Item 3: admin commands never create a database; they say where they looked.
#[test]
fn admin_commands_refuse_a_database_that_does_not_exist() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let expected = format!(
        "signet-server: no Signet database at {}/signet-data/signet.sqlite: run this where the server keeps its data, or point at it with --data-dir DIR (or SIGNET_DATA_DIR, --database, --config); only `signet-server serve` and `restore` create one",
        cwd.path().display()
    );
    for args in [
        &["registry", "list"][..],
        &[
            "registry",
            "create",
            "contoso",
            "--login-server",
            "registry.test:4922",
            "--sku",
            "Premium",
        ],
        &["identity", "add", "alice", "--password-stdin"],
        &["audit"],
        &["gc"],
        &["token-certificate"],
    ] {
        let r = run_in(cwd.path(), args);
        assert_eq!(r.status.code(), Some(1), "{args:?}: {}", r.stdout);
        assert_eq!(r.stderr.trim(), expected, "{args:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    assert!(
        !cwd.path().join("signet-data").exists(),
        "no data directory was created"
    );
    let other = cwd.path().join("elsewhere.sqlite");
    let r = run_in(
        cwd.path(),
        &["registry", "list", "--database", other.to_str().unwrap()],
    );
    assert!(
        r.stderr
            .contains(&format!("no Signet database at {}", other.display())),
        "{}",
        r.stderr
    );
    assert!(!other.exists());

    // On the data directory of a server, they work.
    let srv = SignetServer::start();
    let data = srv.data_dir.path().to_str().expect("utf-8").to_string();
    let r = run_in(cwd.path(), &["registry", "list", "--data-dir", &data]);
    assert_eq!(
        (r.status.code(), r.stdout.trim()),
        (Some(0), "[]"),
        "{}",
        r.stderr
    );
}

/// Item 10: `--listen` takes `localhost:PORT` and `:PORT`; the banner names a CA folder a
/// client can use, never 0.0.0.0.
#[test]
fn listen_forms_and_the_banner_suit_what_operators_type() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let srv = Serve::start(cwd.path(), &["--listen", &format!("localhost:{port}")])
        .unwrap_or_else(|r| panic!("localhost: {} {}", r.stdout, r.stderr));
    assert_eq!(
        srv.line("signet-server listening on"),
        format!("signet-server listening on https://127.0.0.1:{port}")
    );
    assert!(srv
        .line("Trust it for docker with")
        .contains(&format!("\"$DOCKER_CONFIG/tls/127.0.0.1:{port}\"")));
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("listening on loopback");
    drop(srv);

    for (extra, folder) in [
        (None, "HOST:{port}".to_string()),
        (
            Some("registry.example"),
            "registry.example:{port}".to_string(),
        ),
    ] {
        let port = free_port();
        let folder = folder.replace("{port}", &port.to_string());
        let mut args = vec!["--listen".to_string(), format!(":{port}")];
        if let Some(name) = extra {
            args.extend(["--tls-san".to_string(), name.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let data = tempfile::tempdir().expect("tempdir");
        let mut full = args.clone();
        let dir = data.path().join("d");
        full.extend(["--data-dir", dir.to_str().unwrap()]);
        let srv = Serve::start(cwd.path(), &full)
            .unwrap_or_else(|r| panic!(":port: {} {}", r.stdout, r.stderr));
        let trust = srv.line("Trust it for docker with");
        assert!(!trust.contains("0.0.0.0"), "{trust}");
        assert!(
            trust.contains(&format!("\"$DOCKER_CONFIG/tls/{folder}\"")),
            "{trust}"
        );
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("listening on every interface");
    }
    let r = run_in(cwd.path(), &["serve", "--listen", "localhost"]);
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(
        r.stderr.trim(),
        "signet-server: --listen 'localhost': no port (use HOST:PORT such as 127.0.0.1:4443, localhost:4443 or :4443)"
    );
}

/// Item 10: policy refusals carry their code like the managed registry's CLI; `audit
/// --limit 0` shows nothing.
#[test]
fn policy_refusals_carry_their_code_and_audit_limit_zero_is_empty() {
    let srv = SignetServer::start();
    let data = srv.data_dir.path();
    common::cli_json(
        data,
        &[
            "registry",
            "create",
            "encrypted",
            "--login-server",
            "enc.test",
            "--sku",
            "Premium",
            "--cmk",
            "kv/key1",
        ],
        "",
    );
    let r = common::cli(
        Some(data),
        &["registry", "content-trust", "encrypted", "enable"],
        "",
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(
        r.stderr.starts_with("signet-server: (BlockedForEncryptionEnabledRegistry) Content trust is not supported when encryption with a customer-managed key is enabled on registry 'encrypted'."),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1);
    let all = common::cli_json(data, &["audit"], "");
    assert!(!all.as_array().expect("array").is_empty());
    assert_eq!(
        common::cli_json(data, &["audit", "--limit", "0"], ""),
        serde_json::json!([])
    );
    let one = common::cli_json(data, &["audit", "--limit", "1"], "");
    assert_eq!(one.as_array().expect("array").len(), 1);
}

/// A reader that stops early (`signet-server registry create … | head -1`) closes the pipe
/// before the command writes: the output goes nowhere, the command still does its work and
/// exits with its own status, not with a panic's backtrace.
#[test]
fn output_to_a_closed_pipe_does_not_stop_the_command() {
    let srv = SignetServer::start();
    let data = srv.data_dir.path();
    let mut child = Command::new(BIN)
        .args([
            "registry",
            "create",
            "piped",
            "--login-server",
            "piped.test",
            "--sku",
            "Basic",
            "--data-dir",
        ])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run signet-server registry create");
    // The reader goes away before the command has opened its database, let alone printed.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait signet-server");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let registries = common::cli_json(data, &["registry", "list"], "");
    assert_eq!(registries[0]["name"], "piped", "{registries}");
}

/// Item 9: a second instance on the same PostgreSQL database with another signer passphrase
/// says what every instance must share; PostgreSQL's NOTICE lines stay out of the log.
#[test]
fn a_second_postgres_instance_names_what_instances_share() {
    if !Postgres::available() || !require_binaries(&["runuser"]) {
        return;
    }
    let pg = Postgres::start();
    let url = pg.create_database("shared");
    let first = SignetServer::start_on_postgres(&url);
    let cwd = tempfile::tempdir().expect("tempdir");
    let wrong = write_file(cwd.path(), "wrong.pass", b"another-passphrase\n");
    let right = write_file(cwd.path(), "right.pass", b"interop-signer-pass\n");
    let args = |pass: &Path, dir: &str| {
        vec![
            "--listen".to_string(),
            "127.0.0.1:0".to_string(),
            "--database".to_string(),
            url.clone(),
            "--data-dir".to_string(),
            cwd.path().join(dir).display().to_string(),
            "--signer-passphrase-file".to_string(),
            pass.display().to_string(),
        ]
    };
    let a = args(&wrong, "second");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let refused = match Serve::start(cwd.path(), &a) {
        Ok(s) => panic!("started with another passphrase: {:?}", s.banner),
        Err(r) => r,
    };
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        refused.stderr.contains("the signer passphrase does not open the server keys in this database: they were sealed with a different one (by another instance or an earlier run). Every instance on a database needs the same signer passphrase"),
        "{}",
        refused.stderr
    );
    assert!(refused
        .stderr
        .contains("and the same operator token and TLS material"));

    let a = args(&right, "third");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let second =
        Serve::start(cwd.path(), &a).unwrap_or_else(|r| panic!("{} {}", r.stdout, r.stderr));
    let log = second.stop();
    assert!(
        !log.contains("NOTICE") && !log.contains("already exists"),
        "{log}"
    );

    // Item 3 on PostgreSQL: an admin command on a database no server uses creates nothing.
    let empty = pg.create_database("empty");
    for _ in 0..2 {
        let r = run_in(cwd.path(), &["registry", "list", "--database", &empty]);
        assert_eq!(r.status.code(), Some(1), "{}", r.stdout);
        assert_eq!(
            r.stderr.trim(),
            "signet-server: this PostgreSQL database has no Signet tables: point --database (or SIGNET_DATABASE, --config) at the one the servers use; only `signet-server serve` creates them"
        );
    }
    let r = run_in(cwd.path(), &["registry", "list", "--database", &url]);
    assert_eq!(
        (r.status.code(), r.stdout.trim()),
        (Some(0), "[]"),
        "{}",
        r.stderr
    );
    drop(first);
}
