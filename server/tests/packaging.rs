//! What packaging relies on: `--version` names the commit, completions and man pages come
//! from the clap definitions, the systemd unit is hardened.

mod common;

use common::cli;
use std::process::Command;

#[test]
fn version_names_the_commit_being_built() {
    let run = cli(None, &["--version"], "");
    assert!(run.status.success());
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    // Built from a checkout, the commit; from a tree without git (or SIGNET_GIT_COMMIT set
    // for a source tarball), whatever the build was told or "unknown".
    let given = std::env::var("SIGNET_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty());
    let want = match (given, head) {
        (Some(c), _) => c,
        (None, Some(h)) => h,
        (None, None) => "unknown".into(),
    };
    assert_eq!(
        run.stdout.trim(),
        format!(
            "signet-server {} (commit {want})",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    for (shell, marker) in [
        ("bash", "_signet__server()"),
        ("zsh", "#compdef signet-server"),
        ("fish", "complete -c signet-server"),
    ] {
        let run = cli(None, &["completion", shell], "");
        assert!(run.status.success(), "{shell}: {}", run.stderr);
        assert!(
            run.stdout.contains(marker),
            "{shell}: {}",
            &run.stdout[..200.min(run.stdout.len())]
        );
        for sub in ["repository", "set-password", "expiring", "backup", "gc"] {
            assert!(run.stdout.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let bad = cli(None, &["completion", "tcsh"], "");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        bad.stderr.contains("invalid value 'tcsh'"),
        "{}",
        bad.stderr
    );

    let dir = tempfile::tempdir().unwrap();
    let run = cli(None, &["man-pages", dir.path().to_str().unwrap()], "");
    assert!(run.status.success(), "{}", run.stderr);
    let listed: Vec<&str> = run.stdout.lines().collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    on_disk.sort();
    let mut listed_sorted: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed_sorted.sort();
    assert_eq!(listed_sorted, on_disk);
    let page =
        std::fs::read_to_string(dir.path().join("signet-server-repository-reset.1")).unwrap();
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq \\(aq"),
        "roff: {}",
        &page[..80]
    );
    assert!(
        page.contains(".TH signet-server-repository-reset 1"),
        "{page}"
    );
    assert!(page.contains("signet\\-server repository reset"), "{page}");
    assert!(
        page.contains("so it can start again with a new root"),
        "{page}"
    );
    assert!(dir
        .path()
        .join("signet-server-identity-set-password.1")
        .exists());
    assert!(dir.path().join("signet-server.1").exists());
    let refused = cli(None, &["man-pages", "/proc/version/x"], "");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        refused
            .stderr
            .starts_with("signet-server: /proc/version/x: "),
        "{}",
        refused.stderr
    );
}

/// `systemd-analyze security` rates the unit's sandbox (0 best, 10 worst; "OK" is below
/// 4.5). Skipped where systemd-analyze is not installed.
#[test]
fn systemd_unit_is_hardened() {
    let unit = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/systemd/signet-server.service");
    let Ok(out) = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .output()
    else {
        eprintln!("skipping: systemd-analyze not installed");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for signet-server.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(level <= 2.0, "exposure {level}:\n{text}");
}
