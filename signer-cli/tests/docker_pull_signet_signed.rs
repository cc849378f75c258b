//! A tag signed by `signet` (no daemon involved in signing) is pulled with content trust by
//! a real dockerd, and `docker trust inspect` shows it.

use signet_interop::*;
use std::process::Command;

#[test]
fn docker_pulls_a_tag_signed_by_signet() {
    if !require_binaries(&["dockerd", "docker-registry", "unshare", "docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let registry = Registry::start();
    let daemon = Dockerd::start(registry.port);
    let repo = format!("{REGISTRY_NAME}:{}/signed-by-signet", registry.port);
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    daemon.import_image(&format!("{repo}:v1"), b"content signed by signet\n");

    // Push without trust, take the digest and size from the registry's answer.
    let push = docker
        .command()
        .env("DOCKER_HOST", &daemon.host)
        .env("DOCKER_CONTENT_TRUST", "0")
        .args(["push", &format!("{repo}:v1")])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&push.stdout).to_string();
    assert!(push.status.success(), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("digest: "))
        .expect("digest line");
    let digest = line
        .split("digest: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let size = line.split("size: ").nth(1).unwrap().trim().to_string();

    let signet = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
        for (k, v) in docker.command().get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        let o = c.args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    signet(&[
        "sign",
        &format!("{repo}:v1"),
        "--digest",
        &digest,
        "--size",
        &size,
    ]);

    docker
        .run_with_daemon(&daemon, &["rmi", &format!("{repo}:v1")])
        .ok("rmi");
    let pull = docker
        .run_with_daemon(&daemon, &["pull", &format!("{repo}:v1")])
        .ok("trusted pull");
    assert!(
        pull.stdout.contains(&format!("{repo}@{digest}")),
        "{}",
        pull.stdout
    );
    let inspect = docker
        .run(&["trust", "inspect", "--pretty", &repo])
        .ok("inspect");
    assert!(
        inspect
            .stdout
            .contains(digest.trim_start_matches("sha256:")),
        "{}",
        inspect.stdout
    );
}
