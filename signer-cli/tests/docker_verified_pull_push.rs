//! `signet push` and `signet pull` through dockerd 20.10 and distribution 2.8: what
//! `DOCKER_CONTENT_TRUST=1 docker push/pull` did, without docker's content-trust code. The
//! registry is named by its loopback address so that signet, outside dockerd's namespace, can
//! ask it what a tag points at.

use signet_interop::*;
use std::path::Path;
use std::process::{Command, Stdio};

fn run(cmd: &mut Command) -> Run {
    let o = cmd.stdin(Stdio::null()).output().expect("run");
    Run {
        status: o.status,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `signet` (or the docker CLI) with docker's test environment, talking to `daemon`.
fn with_env(docker: &DockerCli, daemon: &Dockerd, program: &Path) -> Command {
    let mut c = Command::new(program);
    for (k, v) in docker.command().get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.env("DOCKER_HOST", &daemon.host);
    c
}

fn signet(docker: &DockerCli, daemon: &Dockerd, args: &[&str]) -> Run {
    run(with_env(docker, daemon, Path::new(env!("CARGO_BIN_EXE_signet"))).args(args))
}

/// Every image the daemon holds for `repo`, by ID.
fn local_images(docker: &DockerCli, daemon: &Dockerd, repo: &str) -> Vec<String> {
    let out = docker
        .run_with_daemon(daemon, &["images", "--no-trunc", "--quiet", repo])
        .ok("docker images");
    out.stdout.lines().map(str::to_string).collect()
}

fn remove_all(docker: &DockerCli, daemon: &Dockerd, repo: &str) {
    for id in local_images(docker, daemon, repo) {
        docker
            .run_with_daemon(daemon, &["rmi", "--force", &id])
            .ok("docker rmi");
    }
    assert!(local_images(docker, daemon, repo).is_empty());
}

fn pushed_digest(out: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.contains(": digest: sha256:"))
        .unwrap_or_else(|| panic!("no digest line in {out}"));
    line.split("digest: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn signet_push_then_verified_pull_through_the_daemon() {
    if !require_binaries(&["dockerd", "docker-registry", "unshare", "docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let registry = Registry::start();
    let daemon = Dockerd::start(registry.port);
    let repo = format!("127.0.0.1:{}/pushed-app", registry.port);
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));

    // Signed push: the daemon pushes, signet initialises the repository and signs.
    daemon.import_image(&format!("{repo}:v1"), b"signed content\n");
    let push = signet(&docker, &daemon, &["push", &format!("{repo}:v1")]).ok("signet push");
    let signed = pushed_digest(&push.stdout);
    assert!(
        push.stdout.ends_with(&format!(
            "Signing and pushing trust metadata\nFinished initializing \"{repo}\"\nSuccessfully signed {repo}:v1\n"
        )),
        "{}",
        push.stdout
    );
    let inspect = docker
        .run(&["trust", "inspect", &repo])
        .ok("docker trust inspect");
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(
        v[0]["SignedTags"],
        serde_json::json!([{"SignedTag": "v1", "Digest": signed.trim_start_matches("sha256:"), "Signers": ["Repo Admin"]}])
    );

    // A fresh verified pull by tag: pulled by the signed digest and tagged.
    remove_all(&docker, &daemon, &repo);
    let pull = signet(&docker, &daemon, &["pull", &format!("{repo}:v1")]).ok("signet pull");
    assert!(
        pull.stdout
            .starts_with(&format!("Pull (1 of 1): {repo}:v1@{signed}\n")),
        "{}",
        pull.stdout
    );
    assert!(
        pull.stderr
            .contains(&format!("Tagging {repo}@{signed} as {repo}:v1")),
        "{}",
        pull.stderr
    );
    let digests = docker
        .run_with_daemon(
            &daemon,
            &[
                "image",
                "inspect",
                "--format",
                "{{json .RepoDigests}}",
                &format!("{repo}:v1"),
            ],
        )
        .ok("image inspect");
    assert_eq!(
        digests.stdout.trim(),
        format!("[\"{repo}@{signed}\"]"),
        "the local tag is the signed image"
    );

    // The tag pushed again with other content and no signature: refused, nothing pulled.
    daemon.import_image(&format!("{repo}:v1"), b"unsigned replacement\n");
    let mut plain = with_env(&docker, &daemon, Path::new(DOCKER));
    let repush = run(plain
        .env("DOCKER_CONTENT_TRUST", "0")
        .args(["push", &format!("{repo}:v1")]))
    .ok("untrusted push");
    let moved = pushed_digest(&repush.stdout);
    assert_ne!(moved, signed);
    remove_all(&docker, &daemon, &repo);
    let refused = signet(&docker, &daemon, &["pull", &format!("{repo}:v1")]);
    assert_eq!(refused.status.code(), Some(3), "{}", refused.stderr);
    assert_eq!(refused.stderr.lines().count(), 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&moved) && refused.stderr.contains(&signed),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    assert!(local_images(&docker, &daemon, &repo).is_empty());

    // The same through the plugin (`docker signet pull`, docker 28's exit status 1).
    let install = run(
        with_env(&docker, &daemon, Path::new(env!("CARGO_BIN_EXE_signet")))
            .args(["plugin", "install", "--name", "signet"]),
    );
    install.ok("plugin install");
    // A repository signed only with the repository key: the same tables as docker's.
    let theirs = docker
        .run(&["trust", "inspect", "--pretty", &repo])
        .ok("docker trust inspect --pretty");
    let ours = docker
        .run(&["signet", "inspect", "--pretty", &repo])
        .ok("docker signet inspect --pretty");
    assert_eq!(ours.stdout, theirs.stdout);
    assert!(ours.stdout.contains("(Repo Admin)"), "{}", ours.stdout);
    let via_plugin = docker.run_with_daemon(&daemon, &["signet", "pull", &format!("{repo}:v1")]);
    assert_eq!(via_plugin.status.code(), Some(1), "{}", via_plugin.stderr);
    assert!(via_plugin.stderr.contains(&moved), "{}", via_plugin.stderr);
    assert!(local_images(&docker, &daemon, &repo).is_empty());

    // An unsigned tag: one line, non-zero, nothing pulled.
    daemon.import_image(&format!("{repo}:unsigned"), b"never signed\n");
    let mut plain = with_env(&docker, &daemon, Path::new(DOCKER));
    run(plain
        .env("DOCKER_CONTENT_TRUST", "0")
        .args(["push", &format!("{repo}:unsigned")]))
    .ok("untrusted push");
    remove_all(&docker, &daemon, &repo);
    let unsigned = signet(&docker, &daemon, &["pull", &format!("{repo}:unsigned")]);
    assert_eq!(unsigned.status.code(), Some(3), "{}", unsigned.stderr);
    assert_eq!(
        unsigned.stderr,
        format!("signet: {repo}: no signed tag \"unsigned\"\n")
    );
    assert!(local_images(&docker, &daemon, &repo).is_empty());
    // Trust data that does not verify (the server offers an older timestamp than this client
    // has seen: a rollback): one line, exit status 3, nothing pulled.
    let cached = docker
        .trust_dir()
        .join("tuf")
        .join(&repo)
        .join("metadata")
        .join("timestamp.json");
    let mut ts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cached).expect("cached timestamp")).unwrap();
    ts["signed"]["version"] = 999.into();
    std::fs::write(&cached, serde_json::to_vec(&ts).unwrap()).unwrap();
    let rollback = signet(&docker, &daemon, &["pull", &format!("{repo}:v1")]);
    assert_eq!(rollback.status.code(), Some(3), "{}", rollback.stderr);
    assert_eq!(rollback.stderr.lines().count(), 1, "{}", rollback.stderr);
    assert!(rollback.stderr.contains("rollback"), "{}", rollback.stderr);
    assert!(local_images(&docker, &daemon, &repo).is_empty());
}
