//! The container image: built here by dockerd from the repository's Dockerfile on a Debian
//! base made with mmdebstrap (no image registry is reachable), running Signet as a non-root
//! user; docker 28's trust flow passes against it, and its volume outlives the container.

use signet_interop::*;
use std::path::Path;
use std::process::Command;

const GUN: &str = "192.0.2.1:5000/app";

fn docker(daemon: &Dockerd, args: &[&str]) -> Run {
    let out = Command::new(DOCKER)
        .env("DOCKER_HOST", &daemon.host)
        // docker 28 builds with BuildKit through buildx; the legacy builder needs neither.
        .env("DOCKER_BUILDKIT", "0")
        .args(args)
        .output()
        .expect("run docker");
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits until the container's health check passes (the image's own HEALTHCHECK command).
fn wait_healthy(daemon: &Dockerd, name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let state = docker(
            daemon,
            &["inspect", "--format", "{{.State.Health.Status}}", name],
        );
        match state.stdout.trim() {
            "healthy" => return,
            s => assert!(
                std::time::Instant::now() < deadline,
                "{name} is {s}: {}",
                docker(daemon, &["logs", name]).stderr
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

fn run_signet(daemon: &Dockerd, name: &str, port: u16) {
    docker(
        daemon,
        &[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "host",
            "-v",
            "signet-data:/var/lib/signet",
            "-e",
            &format!("SIGNET_LISTEN=127.0.0.1:{port}"),
            "--health-interval",
            "1s",
            "--health-start-period",
            "30s",
            "signet-server:test",
        ],
    )
    .ok("docker run");
    wait_healthy(daemon, name);
}

#[test]
fn container_image_serves_docker_trust_and_keeps_its_volume() {
    if !require_binaries(&["dockerd", "docker", "mmdebstrap", "unshare"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // The base: the Debian packages the binary needs at run time (the C library and libgcc
    // for unwinding) plus the files every Debian system has, unpacked (no package scripts
    // run: nothing in the image needs a shell), as a tarball for docker import.
    let base = work.path().join("base.tar");
    let out = Command::new("mmdebstrap")
        .args([
            "--variant=extract",
            "--include=libc6,libgcc-s1,base-files,base-passwd",
            "--mode=root",
            "--format=tar",
            "bookworm",
        ])
        .arg(&base)
        .output()
        .expect("mmdebstrap");
    assert!(
        out.status.success(),
        "mmdebstrap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let daemon = Dockerd::start(free_port());
    docker(
        &daemon,
        &["import", base.to_str().unwrap(), "signet-base:bookworm"],
    )
    .ok("docker import");

    // The build context: the repository's Dockerfile and volume skeleton, and this test's
    // signet-server binary (a debug build; the Dockerfile's default is the release one).
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let ctx = work.path().join("context");
    std::fs::create_dir_all(ctx.join("bin")).unwrap();
    std::fs::copy(repo.join("Dockerfile"), ctx.join("Dockerfile")).unwrap();
    let skeleton = ctx.join("packaging/docker/volume");
    std::fs::create_dir_all(&skeleton).unwrap();
    for f in std::fs::read_dir(repo.join("packaging/docker/volume")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), skeleton.join(f.file_name())).unwrap();
    }
    // Without debug info: vfs, the storage driver dockerd has here, copies each layer whole.
    let st = Command::new("strip")
        .arg("-o")
        .arg(ctx.join("bin/signet-server"))
        .arg(env!("CARGO_BIN_EXE_signet-server"))
        .status()
        .expect("strip");
    assert!(st.success());
    docker(
        &daemon,
        &[
            "build",
            "--network",
            "none",
            "--build-arg",
            "BASE=signet-base:bookworm",
            "--build-arg",
            "BINARY=bin/signet-server",
            "-t",
            "signet-server:test",
            ctx.to_str().unwrap(),
        ],
    )
    .ok("docker build");
    let version = docker(&daemon, &["run", "--rm", "signet-server:test", "--version"])
        .ok("signet-server --version in the image");
    assert!(
        version.stdout.starts_with("signet-server 0.1.0 (commit "),
        "{}",
        version.stdout
    );
    let user = docker(
        &daemon,
        &[
            "inspect",
            "--format",
            "{{.Config.User}}",
            "signet-server:test",
        ],
    );
    assert_eq!(user.stdout.trim(), "10001:10001");

    let port = free_port();
    run_signet(&daemon, "signet-1", port);
    // It really runs as that user, and keeps its data private in the volume.
    let top = docker(&daemon, &["top", "signet-1", "-o", "pid,uid,comm"]).ok("docker top");
    assert!(
        top.stdout
            .lines()
            .any(|l| l.split_whitespace().skip(1).collect::<Vec<_>>() == ["10001", "signet-server"]),
        "{}",
        top.stdout
    );
    let ca = work.path().join("ca.crt");
    docker(
        &daemon,
        &[
            "cp",
            "signet-1:/var/lib/signet/data/tls/ca.crt",
            ca.to_str().unwrap(),
        ],
    )
    .ok("docker cp the CA");

    // docker 28's trust flow against the containerised server.
    let url = format!("https://127.0.0.1:{port}");
    let client = DockerCli::new(&url, Some(&ca));
    let keys = tempfile::tempdir().unwrap();
    for signer in ["alice", "bob"] {
        client
            .run(&[
                "trust",
                "key",
                "generate",
                signer,
                "--dir",
                keys.path().to_str().unwrap(),
            ])
            .ok("docker trust key generate");
    }
    let add = client
        .run(&[
            "trust",
            "signer",
            "add",
            "--key",
            keys.path().join("alice.pub").to_str().unwrap(),
            "alice",
            GUN,
        ])
        .ok("docker trust signer add");
    assert!(
        add.stdout.contains("Successfully added signer: alice"),
        "{}",
        add.stdout
    );

    // A new container on the same volume: same CA, same trust data, same server keys.
    docker(&daemon, &["rm", "-f", "signet-1"]).ok("docker rm");
    run_signet(&daemon, "signet-2", port);
    let reader = DockerCli::new(&url, Some(&ca));
    let inspect = reader
        .run(&["trust", "inspect", GUN])
        .ok("docker trust inspect after the restart");
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(v[0]["Signers"][0]["Name"], "alice", "{}", inspect.stdout);
    // Adding a signer needs the server-held snapshot and timestamp keys: they still open.
    client
        .run(&[
            "trust",
            "signer",
            "add",
            "--key",
            keys.path().join("bob.pub").to_str().unwrap(),
            "bob",
            GUN,
        ])
        .ok("docker trust signer add after the restart");
    let inspect = reader.run(&["trust", "inspect", GUN]).ok("inspect");
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    let mut names: Vec<&str> = v[0]["Signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["alice", "bob"]);
    docker(&daemon, &["rm", "-f", "signet-2"]).ok("docker rm");
    docker(&daemon, &["volume", "rm", "signet-data"]).ok("docker volume rm");
}
