//! `signet --version` names the commit; completions and man pages come from clap.

use std::process::Command;

fn signet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(args)
        .output()
        .expect("run signet")
}

#[test]
fn version_completions_and_man_pages() {
    let out = signet(&["--version"]);
    let version = String::from_utf8_lossy(&out.stdout);
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let given = std::env::var("SIGNET_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty());
    let want = given.or(head).unwrap_or_else(|| "unknown".into());
    assert_eq!(
        version.trim(),
        format!("signet {} (commit {want})", env!("CARGO_PKG_VERSION"))
    );

    for (shell, marker) in [
        ("bash", "_signet()"),
        ("zsh", "#compdef signet"),
        ("fish", "complete -c signet"),
    ] {
        let out = signet(&["completion", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{shell}");
        for sub in ["sign", "verify", "revoke", "signer", "key"] {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let out = signet(&["man-pages", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(dir.path().join("signet-key-generate.1")).unwrap();
    assert!(page.contains(".TH signet-key-generate 1"), "{page}");
    assert!(page.contains("signet key generate"), "{page}");
    assert!(dir.path().join("signet.1").exists());
    let listed = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(listed, std::fs::read_dir(dir.path()).unwrap().count());
}
