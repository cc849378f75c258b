//! What the tests of this binary share: running `signet-server` on a data directory.
// Each test binary includes this module and uses only part of it.
#![allow(dead_code)]

use signet_interop::Run;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs the signet-server binary with `args` and `stdin`, on `data_dir` when given.
pub fn cli(data_dir: Option<&Path>, args: &[&str], stdin: &str) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet-server"));
    cmd.args(args);
    if let Some(d) = data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run signet-server");
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    let out = child.wait_with_output().expect("wait signet-server");
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Like [`cli`], and the command must succeed; its stdout as JSON.
pub fn cli_json(data_dir: &Path, args: &[&str], stdin: &str) -> serde_json::Value {
    let run = cli(Some(data_dir), args, stdin);
    assert!(
        run.status.success(),
        "signet-server {args:?} failed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("signet-server {args:?}: not JSON ({e}): {}", run.stdout))
}

/// Retries `check` for up to five seconds (a running server picks up configuration
/// changes made by the CLI within its one-second poll).
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `signet-server serve` as a child process on a free loopback port of `data_dir`, with
/// extra arguments; killed when dropped.
pub struct ServeProcess {
    pub url: String,
    pub ca_path: std::path::PathBuf,
    _proc: signet_interop::Proc,
}

pub fn serve(data_dir: &Path, extra: &[&str]) -> ServeProcess {
    let port = signet_interop::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet-server"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("SIGNET_SIGNER_PASSPHRASE", "serve-process-pass");
    let proc = signet_interop::Proc::spawn(
        "signet-server",
        &mut cmd,
        data_dir.with_extension("serve.log"),
    );
    let url = format!("https://127.0.0.1:{port}");
    let ca_path = data_dir.join("tls/ca.crt");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&proc.log)
        .unwrap_or_default()
        .contains(&format!("listening on {url}"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "signet-server did not start:\n{}",
            proc.log_tail()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    ServeProcess {
        url,
        ca_path,
        _proc: proc,
    }
}
