//! `signet-server export` and `import --archive`: a repository moves between two Signet
//! servers with every version and, when asked, its server keys; the notary 0.7 client that
//! used the first server keeps publishing on the second with the same root.

use signet_interop::*;
use signet_server::store::{MetaReader, SqliteStore, Store};
use std::path::Path;
use std::process::Command;

const GUN: &str = "registry.example.com/team/api";
const ARCHIVE_PASS: &str = "archive passphrase 42";

fn run(
    bin: &Path,
    args: &[&str],
    data_dir: &Path,
    archive_pass: Option<&str>,
) -> (i32, String, String) {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("SIGNET_SIGNER_PASSPHRASE", "interop-signer-pass")
        .env_remove("SIGNET_ARCHIVE_PASSPHRASE");
    if let Some(p) = archive_pass {
        cmd.env("SIGNET_ARCHIVE_PASSPHRASE", p);
    }
    let out = cmd.output().expect("run signet-server");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn versions(dir: &Path) -> Vec<(String, i64, String)> {
    let store = SqliteStore::open(&dir.join("signet.sqlite")).unwrap();
    store
        .versions(GUN)
        .unwrap()
        .into_iter()
        .map(|v| (v.role, v.version, v.sha256_hex))
        .collect()
}

#[test]
fn a_repository_moves_between_signet_servers_with_its_keys() {
    if !require_binaries(&["notary"]) {
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
    let first = SignetServer::start();
    let admin = NotaryCli::new(&first.url, &first.ca_path);
    admin.run(&["init", GUN]).ok("init");
    admin.run(&["publish", GUN]).ok("publish");
    admin
        .run(&["key", "rotate", GUN, "snapshot", "-r"])
        .ok("snapshot key to the server");
    for (tag, body) in [("1.0", b"api one".as_slice()), ("2.0", b"api two")] {
        let f = write_file(files.path(), tag, body);
        admin.run(&["add", GUN, tag, f.to_str().unwrap()]).ok("add");
        admin.run(&["publish", GUN]).ok("publish");
    }
    let listed = admin.list(GUN);
    assert_eq!(listed.len(), 2);
    let first_dir = first.stop();
    let source_versions = versions(first_dir.path());
    assert!(source_versions.len() >= 10, "{source_versions:?}");

    // Export with the server keys, under a passphrase.
    let out_dir = tempfile::tempdir().unwrap();
    let archive = out_dir.path().join("trust.tar");
    let archive_arg = archive.to_str().unwrap();
    let (code, out, err) = run(
        &bin,
        &[
            "export",
            "--gun",
            GUN,
            "-o",
            archive_arg,
            "--include-server-keys",
        ],
        first_dir.path(),
        Some(ARCHIVE_PASS),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["exported"]["repositories"], 1);
    assert_eq!(summary["exported"]["files"], source_versions.len());
    assert_eq!(
        summary["exported"]["server_keys"], 2,
        "timestamp and snapshot"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let bytes = std::fs::read(&archive).unwrap();
    assert!(
        !String::from_utf8_lossy(&bytes).contains("pkcs8"),
        "keys only encrypted"
    );
    // Never overwritten.
    let (code, _, err) = run(
        &bin,
        &["export", "--gun", GUN, "-o", archive_arg],
        first_dir.path(),
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("File exists"), "{err}");

    // A wrong passphrase stops the import before anything is stored.
    let second_dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(
        &bin,
        &["import", "--archive", archive_arg, "--all"],
        second_dir.path(),
        Some("not it"),
    );
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        format!("signet-server: {archive_arg}: the archive passphrase does not decrypt the archive's server keys")
    );
    assert!(versions(second_dir.path()).is_empty());

    let (code, out, err) = run(
        &bin,
        &["import", "--archive", archive_arg, "--all", "--json"],
        second_dir.path(),
        Some(ARCHIVE_PASS),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let repo = &summary["repositories"][0];
    assert_eq!(repo["outcome"], "imported", "{summary}");
    assert_eq!(repo["server_keys_imported"].as_array().unwrap().len(), 2);
    assert_eq!(
        versions(second_dir.path()),
        source_versions,
        "same versions, same bytes"
    );

    let root_version = source_versions
        .iter()
        .filter(|v| v.0 == "root")
        .map(|v| v.1)
        .max()
        .unwrap();
    let second = SignetServer::start_with(second_dir, Default::default(), vec![]);
    let moved = admin.moved_to(&second.url, &second.ca_path);
    assert_eq!(moved.list(GUN), listed);
    let f3 = write_file(files.path(), "3.0", b"api three");
    moved
        .run(&["add", GUN, "3.0", f3.to_str().unwrap()])
        .ok("add at the second server");
    moved
        .run(&["publish", GUN])
        .ok("publish at the second server");
    assert_eq!(moved.list(GUN).len(), 3);
    let agent = https_agent(&second.ca_path);
    let (_, root) = upload::get(
        &agent,
        &format!("{}/v2/{GUN}/_trust/tuf/root.json", second.url),
    );
    let root = signet_tuf::SignedRoot::from_bytes("root", &root).unwrap();
    assert_eq!(root.version(), root_version, "no root change");
    let (_, ts) = upload::get(
        &agent,
        &format!("{}/v2/{GUN}/_trust/tuf/timestamp.json", second.url),
    );
    let ts = signet_tuf::SignedTimestamp::from_bytes("timestamp", &ts).unwrap();
    ts.verify_threshold(&root.signed.role_keys("timestamp").unwrap())
        .expect("signed with the moved timestamp key");
    drop(second);

    // An archive altered after export: refused, nothing stored.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(text.contains("\"2.0\""));
    let altered = out_dir.path().join("altered.tar");
    let mut changed = bytes.clone();
    let at = text.find("\"2.0\"").unwrap();
    changed[at + 1] = b'7';
    std::fs::write(&altered, &changed).unwrap();
    let third_dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(
        &bin,
        &[
            "import",
            "--archive",
            altered.to_str().unwrap(),
            "--gun",
            GUN,
        ],
        third_dir.path(),
        Some(ARCHIVE_PASS),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("refused {GUN}: targets version "))
            && out.contains("the stored sha256 does not match the stored bytes (file altered)"),
        "{out}"
    );
    let store = SqliteStore::open(&third_dir.path().join("signet.sqlite")).unwrap();
    assert!(store.latest(GUN, "root").unwrap().is_none());
}
