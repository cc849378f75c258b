//! `signet-server repository reset` on a running server's data directory, with the notary
//! 0.7 CLI as signer and reader before and after.

use signet_interop::*;

const LOST: &str = "example.com/lost-root";
const KEPT: &str = "example.com/kept";

mod common;

/// Runs the signet-server binary on `data_dir` with `stdin`.
fn cli(data_dir: &std::path::Path, args: &[&str], stdin: &str) -> Run {
    common::cli(Some(data_dir), args, stdin)
}

fn publish(cli: &NotaryCli, gun: &str, tag: &str, content: &[u8], dir: &std::path::Path) {
    let f = write_file(dir, tag, content);
    cli.run(&["add", gun, tag, f.to_str().unwrap()])
        .ok("notary add");
    cli.run(&["publish", gun]).ok("notary publish");
}

#[test]
fn reset_lets_a_repository_start_over_with_a_new_root() {
    if !require_binaries(&["notary"]) {
        return;
    }
    let srv = SignetServer::start();
    let data = srv.data_dir.path();
    let files = tempfile::tempdir().unwrap();
    let signer = NotaryCli::new(&srv.url, &srv.ca_path);
    for gun in [LOST, KEPT] {
        signer.run(&["init", gun, "-p"]).ok("notary init");
        publish(&signer, gun, "v1", b"first release", files.path());
    }
    let reader = NotaryCli::new(&srv.url, &srv.ca_path);
    assert_eq!(reader.list(LOST)[0].1, sha256_hex(b"first release"));

    // Bad input and a refused confirmation change nothing.
    let bad = cli(
        data,
        &["repository", "reset", "example.com//x", "--yes"],
        "",
    );
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        bad.stderr.trim(),
        "signet-server: \"example.com//x\" is not a repository name (GUN) such as registry.example.com/team/app"
    );
    let unknown = cli(
        data,
        &["repository", "reset", "example.com/never", "--yes"],
        "",
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        unknown.stderr.trim(),
        "signet-server: repository with trust data 'example.com/never' not found"
    );
    let refused = cli(data, &["repository", "reset", LOST], "n\n");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        refused.stderr.contains(&format!(
            "Resetting '{LOST}' deletes all of its trust data (7 files) and its 1 server-held keys, irreversibly. Continue? [y/N] signet-server: not confirmed (pass --yes to skip the question)"
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(
        reader.list(LOST).len(),
        1,
        "a refused reset removed nothing"
    );

    // The reset: its report, and what signers and readers do next.
    let reset = cli(data, &["repository", "reset", LOST], "y\n");
    assert!(reset.status.success(), "{}", reset.stderr);
    let report: serde_json::Value = serde_json::from_str(&reset.stdout).unwrap();
    assert_eq!(
        report,
        serde_json::json!({"reset": LOST, "trustDataRemoved": {"files": 7, "repositories": 1}, "serverKeysRemoved": 1})
    );
    assert!(
        reset.stderr.contains(&format!(
            "Signers: remove it (rm -rf ~/.docker/trust/tuf/{LOST}, or ~/.notary/tuf/{LOST} for notary; private keys stay)"
        )),
        "{}",
        reset.stderr
    );
    // The running server drops its cached copy within its one-second configuration poll.
    let agent = https_agent(&srv.ca_path);
    let root_url = format!("{}/v2/{LOST}/_trust/tuf/root.json", srv.url);
    common::eventually("root gone after the reset", || {
        matches!(
            agent.get(&root_url).call(),
            Err(ureq::Error::Status(404, _))
        )
    });
    // The other repository is untouched.
    assert_eq!(reader.list(KEPT)[0].1, sha256_hex(b"first release"));

    // A signer who lost the root key starts over on a new machine with a new root.
    let new_signer = NotaryCli::new(&srv.url, &srv.ca_path);
    new_signer.run(&["init", LOST, "-p"]).ok("init again");
    publish(&new_signer, LOST, "v2", b"after the reset", files.path());
    // A reader pinned to the old root refuses the new one until it drops its copy.
    let pinned = reader.run(&["list", LOST]);
    assert!(!pinned.status.success(), "{}", pinned.stdout);
    std::fs::remove_dir_all(reader.trust_dir.path().join("tuf").join(LOST)).unwrap();
    assert_eq!(
        reader.list(LOST),
        vec![(
            "v2".to_string(),
            sha256_hex(b"after the reset"),
            15,
            "targets".to_string()
        )]
    );

    // The same reset over the admin API, on the other repository.
    let api = signet_interop::admin::AdminClient::new(&srv);
    let (status, v) = api.call("DELETE", &format!("repositories/{KEPT}/trust-data"), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        serde_json::json!({
            "reset": KEPT,
            "trustDataRemoved": {"files": 7, "repositories": 1},
            "serverKeysRemoved": 1,
            "next": signet_server::tenancy::service::after_reset(KEPT),
        })
    );
    let (status, v) = api.call("DELETE", &format!("repositories/{KEPT}/trust-data"), None);
    assert_eq!(status, 404);
    assert_eq!(
        v,
        serde_json::json!({"error": {"code": "NotFound", "message": format!("repository with trust data '{KEPT}' not found")}})
    );
    let (status, v) = api.call("DELETE", "repositories/example.com/a%20b/trust-data", None);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("InvalidRequest"))
    );
    common::eventually("the API reset reached the cache", || {
        matches!(
            agent
                .get(&format!("{}/v2/{KEPT}/_trust/tuf/root.json", srv.url))
                .call(),
            Err(ureq::Error::Status(404, _))
        )
    });

    // Audited once each (the refused and failed attempts left nothing).
    let audit = cli(data, &["audit", "--action", "repository"], "");
    let entries: serde_json::Value = serde_json::from_str(&audit.stdout).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["actor"], "admin-api");
    assert_eq!(entries[0]["target"], KEPT);
    assert_eq!(entries[1]["action"], "repository.reset");
    assert_eq!(entries[1]["target"], LOST);
    assert_eq!(entries[1]["detail"]["files"], 7);
}
