// Shared by the build scripts of `signet-server` and `signet` (each `include!`s it): sets
// SIGNET_GIT_COMMIT to the commit being built, so `--version` names it.
//
// Sources, first that answers: the SIGNET_GIT_COMMIT environment variable (for builds from a
// source tarball or a container build context without .git), then `git rev-parse`. Without
// either the version says "unknown" and the build goes on.

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn emit_git_commit() {
    println!("cargo:rerun-if-env-changed=SIGNET_GIT_COMMIT");
    let from_env = std::env::var("SIGNET_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric()));
    let commit = from_env.or_else(|| {
        // Rebuild when HEAD moves: HEAD itself, the branch it points to, packed refs. In a
        // worktree HEAD is per worktree and refs are shared; --git-path resolves both.
        for path in ["HEAD", "packed-refs"] {
            if let Some(p) = git(&["rev-parse", "--git-path", path]) {
                println!("cargo:rerun-if-changed={p}");
            }
        }
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            if let Some(p) = git(&["rev-parse", "--git-path", &branch]) {
                println!("cargo:rerun-if-changed={p}");
            }
        }
        git(&["rev-parse", "--short=12", "HEAD"])
    });
    println!(
        "cargo:rustc-env=SIGNET_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}
