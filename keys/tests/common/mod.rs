//! Helpers shared by the tests that run reference binaries (notary, docker, openssl).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Whether `binary` can run here. If not, the test is skipped with a note, unless
/// `SIGNET_REQUIRE_INTEROP=1`, in which case the missing binary fails the test.
pub fn have(binary: &str, version_args: &[&str]) -> bool {
    let ok = Command::new(binary)
        .args(version_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("SIGNET_REQUIRE_INTEROP").as_deref() == Ok("1") {
            panic!("{binary} is required (SIGNET_REQUIRE_INTEROP=1) but cannot run");
        }
        eprintln!("skipping: {binary} not available");
    }
    ok
}

/// Runs a reference binary with a clean environment: only `HOME` (a temp dir) and `vars`,
/// stdin closed so nothing can prompt.
pub fn run(binary: &str, args: &[&str], home: &Path, vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary);
    cmd.args(args)
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {binary}: {e}"));
    out
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Rows of `notary key list` as (role, gun, key ID). The table is
/// `ROLE GUN KEY ID LOCATION` with an empty GUN column for keys without a GUN, so columns are
/// cut at the header's offsets rather than split on whitespace.
pub fn notary_key_list(stdout: &str) -> Vec<(String, String, String)> {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("ROLE"));
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let col = |name: &str| {
        header
            .find(name)
            .unwrap_or_else(|| panic!("no {name} column"))
    };
    let (gun_at, id_at, loc_at) = (col("GUN"), col("KEY ID"), col("LOCATION"));
    lines
        .filter(|l| !l.trim().is_empty() && !l.starts_with("----"))
        .map(|l| {
            let cut =
                |a: usize, b: usize| l.get(a..b.min(l.len())).unwrap_or("").trim().to_string();
            (cut(0, gun_at), cut(gun_at, id_at), cut(id_at, loc_at))
        })
        .collect()
}
