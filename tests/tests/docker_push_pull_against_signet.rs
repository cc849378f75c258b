//! A real signed `docker push` and verified `docker pull` through dockerd 20.10 and a
//! distribution 2.8 registry, with Signet as the trust server.

use signet_interop::*;

#[test]
fn signed_push_verified_pull_unsigned_refused_wrong_ca_refused() {
    if !require_binaries(&["dockerd", "docker-registry", "unshare", "docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let registry = Registry::start();
    let daemon = Dockerd::start(registry.port);
    let repo = format!("{REGISTRY_NAME}:{}/app", registry.port);
    let cli = DockerCli::new(&srv.url, Some(&srv.ca_path));
    daemon.import_image(&format!("{repo}:v1"), b"signed content\n");

    let push = cli
        .run_with_daemon(&daemon, &["push", &format!("{repo}:v1")])
        .ok("signed push");
    assert!(
        push.stdout
            .contains(&format!("Successfully signed {repo}:v1")),
        "{}",
        push.stdout
    );
    let digest = push
        .stdout
        .lines()
        .find_map(|l| l.split("digest: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .expect("pushed digest")
        .to_string();

    // The signed digest is what Signet serves in targets.json.
    let agent = https_agent(&srv.ca_path);
    let (s, raw) = upload::get(
        &agent,
        &format!("{}/v2/{repo}/_trust/tuf/targets.json", srv.url),
    );
    assert_eq!(s, 200);
    let targets = signet_tuf::SignedTargets::from_bytes("targets", &raw).unwrap();
    let v1 = targets.signed.target_map().get("v1").expect("v1 signed");
    assert_eq!(
        format!("sha256:{}", hex::encode(v1.hash("sha256").unwrap())),
        digest
    );

    // Verified pull: resolved through Signet to the signed digest.
    cli.run_with_daemon(&daemon, &["rmi", &format!("{repo}:v1")])
        .ok("rmi");
    let pull = cli
        .run_with_daemon(&daemon, &["pull", &format!("{repo}:v1")])
        .ok("trusted pull");
    assert!(
        pull.stdout.contains(&format!("{repo}@{digest}")),
        "{}",
        pull.stdout
    );

    let inspect = cli
        .run_with_daemon(&daemon, &["trust", "inspect", "--pretty", &repo])
        .ok("inspect");
    let hex_digest = digest.trim_start_matches("sha256:");
    assert!(
        inspect
            .stdout
            .lines()
            .any(|l| l.starts_with("v1") && l.contains(hex_digest)),
        "{}",
        inspect.stdout
    );

    // An unsigned tag is refused with content trust on.
    cli.run_with_daemon(
        &daemon,
        &["tag", &format!("{repo}:v1"), &format!("{repo}:unsigned")],
    )
    .ok("tag");
    let unsigned_push = cli
        .command()
        .env("DOCKER_HOST", &daemon.host)
        .env("DOCKER_CONTENT_TRUST", "0")
        .args(["push", &format!("{repo}:unsigned")])
        .output()
        .unwrap();
    assert!(unsigned_push.status.success());
    cli.run_with_daemon(&daemon, &["rmi", &format!("{repo}:unsigned")])
        .ok("rmi unsigned");
    let refused = cli.run_with_daemon(&daemon, &["pull", &format!("{repo}:unsigned")]);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("No valid trust data for unsigned"),
        "{}",
        refused.stderr
    );

    // Revoking the signature makes the tag unpullable with content trust.
    cli.run_with_daemon(&daemon, &["trust", "revoke", "-y", &format!("{repo}:v1")])
        .ok("trust revoke");
    let (_, raw) = upload::get(
        &agent,
        &format!("{}/v2/{repo}/_trust/tuf/targets.json", srv.url),
    );
    let targets = signet_tuf::SignedTargets::from_bytes("targets", &raw).unwrap();
    assert!(
        targets.signed.target_map().get("v1").is_none(),
        "v1 revoked"
    );
    cli.run_with_daemon(&daemon, &["rmi", &format!("{repo}:v1")])
        .ok("rmi");
    let revoked = cli.run_with_daemon(&daemon, &["pull", &format!("{repo}:v1")]);
    assert!(!revoked.status.success());
    assert!(
        revoked.stderr.contains("No valid trust data for v1"),
        "{}",
        revoked.stderr
    );

    // A client trusting another CA cannot talk to the trust server at all.
    let other = TestCa::new(&[]);
    let wrong = DockerCli::new(&srv.url, Some(&other.ca_cert));
    let out = wrong.run_with_daemon(&daemon, &["pull", &format!("{repo}:v1")]);
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains("x509: certificate signed by unknown authority"),
        "{}",
        out.stderr
    );
}
