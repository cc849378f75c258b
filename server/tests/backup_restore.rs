//! Backup and restore of a running server: SQLite through `signet-server backup`/`restore`
//! while notary 0.7 keeps publishing, PostgreSQL through pg_dump/pg_restore as the README
//! gives them. Both restored servers serve byte-identical metadata and go on signing with
//! the same server-held keys.

mod common;

use common::{cli, cli_json};
use signet_interop::*;
use std::path::Path;

const STATIC: [&str; 2] = ["example.com/one", "example.com/two"];
const BUSY: &str = "example.com/busy";

fn publish(cli: &NotaryCli, gun: &str, tag: &str, dir: &Path) {
    let f = write_file(dir, tag, tag.as_bytes());
    cli.run(&["add", gun, tag, f.to_str().unwrap()])
        .ok("notary add");
    cli.run(&["publish", gun]).ok("notary publish");
}

fn fetch(agent: &ureq::Agent, url: &str, gun: &str, role: &str) -> Vec<u8> {
    let resp = agent
        .get(&format!("{url}/v2/{gun}/_trust/tuf/{role}.json"))
        .call()
        .unwrap_or_else(|e| panic!("GET {gun} {role}: {e}"));
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
    body
}

/// The key that signed a metadata file.
fn signing_key(meta: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(meta).unwrap();
    v["signatures"][0]["keyid"].as_str().unwrap().to_string()
}

/// Every role of every repository from both servers, byte for byte; then a new publish on
/// the restored one is timestamped with the same server key and verifies for a new reader.
fn assert_same_and_signing(
    old: &SignetServer,
    new: &SignetServer,
    signer_trust: &Path,
    guns: &[&str],
) {
    let (a, b) = (https_agent(&old.ca_path), https_agent(&new.ca_path));
    for gun in guns {
        for role in ["root", "targets", "snapshot", "timestamp"] {
            assert_eq!(
                fetch(&a, &old.url, gun, role),
                fetch(&b, &new.url, gun, role),
                "{gun} {role} differs after restore"
            );
        }
    }
    let before = signing_key(&fetch(&a, &old.url, guns[0], "timestamp"));
    let signer = NotaryCli::new(&new.url, &new.ca_path);
    std::fs::remove_dir_all(signer.trust_dir.path()).unwrap();
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(signer_trust)
        .arg(signer.trust_dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let files = tempfile::tempdir().unwrap();
    publish(&signer, guns[0], "after-restore", files.path());
    let after = fetch(&b, &new.url, guns[0], "timestamp");
    assert_eq!(
        signing_key(&after),
        before,
        "same timestamp key after restore"
    );
    let reader = NotaryCli::new(&new.url, &new.ca_path);
    let tags: Vec<String> = reader.list(guns[0]).into_iter().map(|t| t.0).collect();
    assert!(tags.contains(&"after-restore".to_string()), "{tags:?}");
}

#[test]
fn sqlite_backup_while_publishing_restores_byte_identical() {
    if !require_binaries(&["notary"]) {
        return;
    }
    let srv = SignetServer::start();
    let data = srv.data_dir.path();
    let files = tempfile::tempdir().unwrap();
    let signer = NotaryCli::new(&srv.url, &srv.ca_path);
    for gun in STATIC.iter().chain([&BUSY]) {
        signer.run(&["init", gun, "-p"]).ok("notary init");
        publish(&signer, gun, "v1", files.path());
    }
    let work = tempfile::tempdir().unwrap();
    let backup_file = work.path().join("signet.backup");

    // Publishes keep going on another repository while the backup runs.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let published = std::thread::scope(|s| {
        let busy = s.spawn(|| {
            let mut n = 1;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 40 {
                n += 1;
                publish(&signer, BUSY, &format!("v{n}"), files.path());
            }
            n
        });
        std::thread::sleep(std::time::Duration::from_millis(700));
        let out = cli_json(data, &["backup", "-o", backup_file.to_str().unwrap()], "");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(out["contents"]["repositories"], 3, "{out}");
        assert_eq!(out["contents"]["serverKeys"], 3, "{out}");
        busy.join().unwrap()
    });
    assert!(published > 2, "publishes ran during the backup");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backup_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Refusals: an existing output, a non-empty data directory, a file that is no backup.
    let again = cli(
        Some(data),
        &["backup", "-o", backup_file.to_str().unwrap()],
        "",
    );
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        again.stderr.trim(),
        format!(
            "signet-server: {} already exists; remove it or choose another name",
            backup_file.display()
        )
    );
    let busy_dir = cli(
        None,
        &[
            "restore",
            backup_file.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(busy_dir.status.code(), Some(1));
    assert!(busy_dir
        .stderr
        .contains("is not empty; restore into a new or empty data directory"));

    let restored_dir = tempfile::tempdir().unwrap();
    let target = restored_dir.path().join("data");
    let run = cli(
        None,
        &[
            "restore",
            backup_file.to_str().unwrap(),
            "--data-dir",
            target.to_str().unwrap(),
        ],
        "",
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run
        .stderr
        .contains("with the signer passphrase the backed-up server used"));
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // The restored server (same signer passphrase, a new TLS CA) serves the same bytes for
    // the repositories that stood still, and a consistent chain for the busy one.
    let restored_tmp = tempfile::TempDir::new_in(restored_dir.path()).unwrap();
    std::fs::remove_dir(restored_tmp.path()).unwrap();
    std::fs::rename(&target, restored_tmp.path()).unwrap();
    let restored = SignetServer::start_with(restored_tmp, Default::default(), vec![]);
    let reader = NotaryCli::new(&restored.url, &restored.ca_path);
    let busy_tags = reader.list(BUSY).len();
    assert!(
        (1..=published).contains(&busy_tags),
        "{busy_tags} of {published} tags"
    );
    // Seven files per repository's first two publishes, three per later one: the backup
    // holds whole publishes only.
    assert_eq!(
        report["contents"]["files"].as_i64().unwrap(),
        21 + 3 * (busy_tags as i64 - 1),
        "{report}"
    );
    assert_same_and_signing(&srv, &restored, signer.trust_dir.path(), &STATIC);
}

#[test]
fn postgres_pg_dump_and_pg_restore_round_trip() {
    if !require_binaries(&["notary", "runuser"]) || !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    let url = pg.create_database("signet");
    let srv = SignetServer::start_on_postgres(&url);
    let files = tempfile::tempdir().unwrap();
    let signer = NotaryCli::new(&srv.url, &srv.ca_path);
    for gun in STATIC {
        signer.run(&["init", gun, "-p"]).ok("notary init");
        publish(&signer, gun, "v1", files.path());
    }
    // The README's recipe: a custom-format dump of the live database, restored into a new
    // database without the old owner.
    let dump_dir = tempfile::tempdir().unwrap();
    let dump = dump_dir.path().join("signet.dump");
    let out = std::process::Command::new(format!("{PG_BIN}/pg_dump"))
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&url)
        .output()
        .expect("pg_dump");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored_url = pg.create_database("signet_restored");
    let out = std::process::Command::new(format!("{PG_BIN}/pg_restore"))
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(&restored_url)
        .arg(&dump)
        .output()
        .expect("pg_restore");
    assert!(
        out.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = SignetServer::start_on_postgres(&restored_url);
    assert_same_and_signing(&srv, &restored, signer.trust_dir.path(), &STATIC);

    // gc on PostgreSQL: seven files per repository before the publish after the restore
    // (three more on the first); the current three and the root stay.
    let gc = cli(
        None,
        &["gc", "--keep", "1", "--database", &restored_url],
        "",
    );
    assert!(gc.status.success(), "{}", gc.stderr);
    let gc: serde_json::Value = serde_json::from_str(&gc.stdout).unwrap();
    assert_eq!(
        (gc["filesRemoved"].as_i64(), gc["filesKept"].as_i64()),
        (Some(9), Some(8)),
        "{gc}"
    );
    let reader = NotaryCli::new(&restored.url, &restored.ca_path);
    assert_eq!(reader.list(STATIC[0]).len(), 2);

    // `backup` says where to go instead of copying a PostgreSQL database.
    let run = cli(
        None,
        &["backup", "--database", &url, "-o", "/nonexistent/x"],
        "",
    );
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(
        run.stderr.trim(),
        "signet-server: backup copies a SQLite database; for PostgreSQL use pg_dump (see the README's backup section)"
    );
}
