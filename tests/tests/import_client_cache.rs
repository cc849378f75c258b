//! `signet-server import --from-cache`: the server is gone, a notary 0.7 client's trust cache
//! is all that is left. Imported into Signet, that client and a fresh one verify against it.

use signet_interop::*;
use signet_server::store::{MetaReader, SqliteStore};
use std::path::Path;
use std::process::Command;

const GUN: &str = "docker.io/acme/web";
const OTHER: &str = "example.com/other";

fn import(bin: &Path, data_dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin)
        .arg("import")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("SIGNET_SIGNER_PASSPHRASE", "interop-signer-pass")
        .output()
        .expect("run signet-server import");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_client_cache_is_imported_when_the_server_is_gone() {
    if !require_binaries(&["notary", "notary-server", "notary-signer"]) {
        return;
    }
    let Some(bin) = signet_server_bin() else {
        assert!(
            std::env::var("SIGNET_REQUIRE_INTEROP").is_err(),
            "signet-server binary not built"
        );
        eprintln!("skipping: signet-server binary not built");
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let reference = NotaryServer::start();
    let admin = NotaryCli::new(&reference.url, &reference.ca_path);
    admin.run(&["init", GUN]).ok("init");
    let f1 = write_file(files.path(), "v1.bin", b"web 1.0");
    admin
        .run(&["add", GUN, "1.0", f1.to_str().unwrap()])
        .ok("add 1.0");
    admin.run(&["publish", GUN]).ok("publish 1.0");
    admin
        .run_with_input(&["key", "rotate", GUN, "root"], b"yes\n")
        .ok("rotate root");
    let f2 = write_file(files.path(), "v2.bin", b"web 2.0");
    admin
        .run(&["add", GUN, "2.0", f2.to_str().unwrap()])
        .ok("add 2.0");
    admin.run(&["publish", GUN]).ok("publish 2.0");
    admin.run(&["init", OTHER]).ok("init other");
    admin.run(&["publish", OTHER]).ok("publish other");
    let reader = NotaryCli::new(&reference.url, &reference.ca_path);
    let listed = reader.list(GUN);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(reader.list(OTHER).is_empty());
    // The reference goes away; only the reader's cache is left.
    drop(reference);
    let cache = reader.trust_dir.path();
    let cached_root =
        std::fs::read(cache.join("tuf").join(GUN).join("metadata/root.json")).unwrap();

    let signet_dir = tempfile::tempdir().unwrap();
    let (code, out, err) = import(
        &bin,
        signet_dir.path(),
        &[
            "--from-cache",
            cache.to_str().unwrap(),
            "--gun",
            GUN,
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let repo = &summary["repositories"][0];
    assert_eq!(repo["gun"], GUN, "{summary}");
    assert_eq!(repo["outcome"], "imported");
    assert_eq!(repo["versions_imported"], 4, "the four cached roles");
    let notes = repo["notes"].to_string();
    assert!(
        notes.contains("the source gave no timestamp key: Signet serves the imported timestamp until it expires"),
        "{notes}"
    );
    let store = SqliteStore::open(&signet_dir.path().join("signet.sqlite")).unwrap();
    let root = store.latest(GUN, "root").unwrap().unwrap();
    assert_eq!(root.version, 2, "the cached root is the rotated one");
    assert_eq!(&root.bytes[..], &cached_root[..], "stored verbatim");
    drop(store);

    let signet = SignetServer::start_with(signet_dir, Default::default(), vec![]);
    // The client that read the old server, and one that never did (trust on first use).
    let moved = reader.moved_to(&signet.url, &signet.ca_path);
    assert_eq!(moved.list(GUN), listed);
    let fresh = NotaryCli::new(&signet.url, &signet.ca_path);
    assert_eq!(fresh.list(GUN), listed);
    let check = fresh
        .command()
        .args(["verify", GUN, "2.0", "-i", f2.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // A cache file altered on disk: refused, nothing stored.
    let altered = tempfile::tempdir().unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", cache.display()))
        .arg(altered.path())
        .status()
        .unwrap();
    assert!(st.success());
    let targets = altered
        .path()
        .join("tuf")
        .join(GUN)
        .join("metadata/targets.json");
    let text = std::fs::read_to_string(&targets).unwrap();
    let version = signet_tuf::SignedTargets::from_bytes("targets", text.as_bytes())
        .unwrap()
        .version();
    std::fs::write(&targets, text.replace("\"2.0\"", "\"6.6\"")).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let (code, out, _) = import(
        &bin,
        empty.path(),
        &[
            "--from-cache",
            altered.path().to_str().unwrap(),
            "--gun",
            GUN,
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("refused {GUN}: targets version {version} is not signed by a threshold of the targets keys of any root version")),
        "{out}"
    );
    let store = SqliteStore::open(&empty.path().join("signet.sqlite")).unwrap();
    assert!(store.latest(GUN, "root").unwrap().is_none());
    // A repository the cache does not hold is named as such.
    let (code, out, _) = import(
        &bin,
        empty.path(),
        &[
            "--from-cache",
            cache.to_str().unwrap(),
            "--gun",
            "docker.io/acme/other",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("refused docker.io/acme/other: source: ")
            && out.contains("no cached metadata for docker.io/acme/other"),
        "{out}"
    );

    // In registry mode, Docker Hub names are served by a registry with login server
    // docker.io: the cache's docker.io repository is imported, the other is refused.
    let hub_dir = SignetServer::start().stop();
    for args in [
        &[
            "registry",
            "create",
            "dockerhub",
            "--login-server",
            "docker.io",
            "--sku",
            "Premium",
        ][..],
        &["registry", "content-trust", "dockerhub", "enable"][..],
    ] {
        let out = Command::new(&bin)
            .args(args)
            .arg("--data-dir")
            .arg(hub_dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (code, out, err) = import(
        &bin,
        hub_dir.path(),
        &["--from-cache", cache.to_str().unwrap(), "--all", "--json"],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["repositories"][1]["gun"], OTHER);
    assert_eq!(
        summary["repositories"][1]["reason"],
        "no registry serves example.com with content trust enabled (create one with login server example.com and enable content trust first)"
    );
    assert_eq!(summary["repositories"][0]["gun"], GUN);
    assert_eq!(summary["repositories"][0]["outcome"], "imported");
}

/// docker 28's cache (`$DOCKER_CONFIG/trust`) of a repository it initialised and inspected at
/// the reference, imported after the reference is gone: the same client inspects at Signet.
#[test]
fn a_docker_cache_is_imported_when_the_server_is_gone() {
    if !require_binaries(&["docker", "notary-server", "notary-signer"]) {
        return;
    }
    let Some(bin) = signet_server_bin() else {
        assert!(
            std::env::var("SIGNET_REQUIRE_INTEROP").is_err(),
            "signet-server binary not built"
        );
        eprintln!("skipping: signet-server binary not built");
        return;
    };
    const REPO: &str = "docker.io/acme/worker";
    let keys = tempfile::tempdir().unwrap();
    let reference = NotaryServer::start();
    let docker = DockerCli::new(&reference.url, Some(&reference.ca_path));
    docker
        .run(&[
            "trust",
            "key",
            "generate",
            "alice",
            "--dir",
            keys.path().to_str().unwrap(),
        ])
        .ok("docker trust key generate");
    docker
        .run(&[
            "trust",
            "signer",
            "add",
            "--key",
            keys.path().join("alice.pub").to_str().unwrap(),
            "alice",
            REPO,
        ])
        .ok("docker trust signer add");
    let inspected = docker
        .run(&["trust", "inspect", REPO])
        .ok("docker trust inspect at the reference")
        .stdout;
    drop(reference);

    let signet_dir = tempfile::tempdir().unwrap();
    let (code, out, err) = import(
        &bin,
        signet_dir.path(),
        &[
            "--from-cache",
            docker.trust_dir().to_str().unwrap(),
            "--gun",
            REPO,
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with(&format!("imported {REPO}: ")), "{out}");
    let signet = SignetServer::start_with(signet_dir, Default::default(), vec![]);
    let moved = docker.moved_to(&signet.url, &signet.ca_path);
    let at_signet = moved
        .run(&["trust", "inspect", REPO])
        .ok("docker trust inspect at Signet")
        .stdout;
    let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    assert_eq!(parse(&at_signet), parse(&inspected));
    let fresh = DockerCli::new(&signet.url, Some(&signet.ca_path));
    let first_use = fresh
        .run(&["trust", "inspect", REPO])
        .ok("docker trust inspect by a new client")
        .stdout;
    assert_eq!(parse(&first_use), parse(&inspected));
}
