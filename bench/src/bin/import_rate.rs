//! `import_rate`: how fast `signet-server import --notary-db` moves repositories out of a
//! notary-server PostgreSQL database, and the importer's peak RSS.
//!
//! Fills notary-server's `tuf_files` and notary-signer's `private_keys` in a throwaway
//! PostgreSQL cluster with N generated repositories shaped like docker's (root certificate
//! for the GUN, targets key held by the client, snapshot and timestamp keys held by the
//! signer and encrypted as notary-signer does, two publishes: 7 files), then runs the
//! release `signet-server import --all --json` under `/usr/bin/time -v`.
//!
//!     cargo build --release -p signet-server -p signet-bench
//!     target/release/import_rate --repos 10000

use signet_interop::{Postgres, NOTARY_SERVER_PG_SCHEMA, NOTARY_SIGNER_PG_SCHEMA};
use signet_keys::PrivateKey;
use signet_tuf::role_name::{ROOT, SNAPSHOT, TARGETS, TIMESTAMP};
use signet_tuf::{sign_and_serialize, FileMeta, GoTime, Root, Snapshot, Targets, Timestamp};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;
use time::{Duration, OffsetDateTime};

const ALIAS: &str = "benchalias";
const PASS: &str = "bench signer passphrase";

struct Generated {
    files: Vec<(String, String, i32, Vec<u8>)>,
    keys: Vec<(String, String, String, Vec<u8>, String)>,
}

fn repository(gun: &str, now: OffsetDateTime) -> Generated {
    let expires = GoTime::from_instant(now + Duration::days(365));
    let root_key = PrivateKey::generate_ecdsa();
    let cert = signet_keys::root_certificate(&root_key, gun, now, now + Duration::days(3650))
        .expect("certificate");
    let targets_key = PrivateKey::generate_ecdsa();
    let snapshot_key = PrivateKey::generate_ecdsa();
    let timestamp_key = PrivateKey::generate_ecdsa();
    let mut root = Root::new(expires.clone());
    root.set_role_keys(ROOT, vec![cert.clone()], 1);
    root.set_role_keys(TARGETS, vec![targets_key.public_key()], 1);
    root.set_role_keys(SNAPSHOT, vec![snapshot_key.public_key()], 1);
    root.set_role_keys(TIMESTAMP, vec![timestamp_key.public_key()], 1);
    let root_raw = sign_and_serialize(ROOT, &root, &[(&cert.id(), &root_key)]).expect("root");
    let mut out = Generated {
        files: vec![(gun.to_string(), ROOT.into(), 1, root_raw.clone())],
        keys: Vec::new(),
    };
    let mut targets = Targets::new(expires.clone());
    let mut snapshot = Snapshot::new(expires.clone());
    for version in 1..=2 {
        targets.version = version;
        targets.targets.get_or_insert_with(Default::default).insert(
            format!("v{version}"),
            FileMeta::from_bytes(format!("{gun} {version}").as_bytes()),
        );
        let targets_raw =
            sign_and_serialize(TARGETS, &targets, &[(&targets_key.id(), &targets_key)])
                .expect("targets");
        snapshot.version = version;
        snapshot.set_meta(ROOT, &root_raw);
        snapshot.set_meta(TARGETS, &targets_raw);
        let snapshot_raw =
            sign_and_serialize(SNAPSHOT, &snapshot, &[(&snapshot_key.id(), &snapshot_key)])
                .expect("snapshot");
        let mut ts = Timestamp::for_snapshot(expires.clone(), version, &snapshot_raw);
        ts.version = version;
        let ts_raw = sign_and_serialize(TIMESTAMP, &ts, &[(&timestamp_key.id(), &timestamp_key)])
            .expect("timestamp");
        out.files
            .push((gun.into(), TARGETS.into(), version as i32, targets_raw));
        out.files
            .push((gun.into(), SNAPSHOT.into(), version as i32, snapshot_raw));
        out.files
            .push((gun.into(), TIMESTAMP.into(), version as i32, ts_raw));
    }
    for (role, key) in [(SNAPSHOT, &snapshot_key), (TIMESTAMP, &timestamp_key)] {
        // What notary-signer encrypts: the SEC1 `ECPrivateKey` DER (Go's MarshalECPrivateKey).
        let PrivateKey::Ecdsa(secret) = key else {
            unreachable!("generated as ECDSA")
        };
        let sec1 = secret.to_sec1_der().expect("sec1");
        out.keys.push((
            key.id().to_string(),
            gun.to_string(),
            role.to_string(),
            key.public_key().public_bytes().to_vec(),
            signet_server::import::jwe::encrypt(&sec1, PASS.as_bytes()),
        ));
    }
    out
}

fn main() {
    let mut repos = 10_000usize;
    let mut bin = PathBuf::from("target/release/signet-server");
    let mut import_args: Vec<String> = Vec::new();
    let mut with_keys = true;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned();
        match (args[i].as_str(), value) {
            ("--repos", Some(n)) => repos = n.parse().expect("--repos N"),
            ("--server-bin", Some(p)) => bin = PathBuf::from(p),
            ("--import-arg", Some(a)) => import_args.push(a),
            ("--without-signer-db", _) => {
                with_keys = false;
                i += 1;
                continue;
            }
            _ => panic!("usage: import_rate [--repos N] [--server-bin PATH] [--import-arg ARG]... [--without-signer-db]"),
        }
        i += 2;
    }
    assert!(bin.exists(), "{} not built", bin.display());
    let pg = Postgres::start();
    let server_db = pg.create_database("notaryserver");
    pg.psql("notaryserver", NOTARY_SERVER_PG_SCHEMA);
    let signer_db = pg.create_database("notarysigner");
    pg.psql("notarysigner", NOTARY_SIGNER_PG_SCHEMA);

    let started = Instant::now();
    let now = OffsetDateTime::now_utc();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (tx, rx) = std::sync::mpsc::sync_channel::<Generated>(256);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in (t..repos).step_by(threads) {
                    let gun = format!("registry.example.com/org{}/repo{i}", i / 100);
                    if tx.send(repository(&gun, now)).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut server = postgres::Client::connect(&server_db, postgres::NoTls).expect("connect");
    let mut signer = postgres::Client::connect(&signer_db, postgres::NoTls).expect("connect");
    let mut batch: Vec<Generated> = Vec::new();
    let flush = |batch: &mut Vec<Generated>,
                 server: &mut postgres::Client,
                 signer: &mut postgres::Client| {
        let files: Vec<_> = batch.iter().flat_map(|g| g.files.iter()).collect();
        let guns: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        let roles: Vec<&str> = files.iter().map(|f| f.1.as_str()).collect();
        let versions: Vec<i32> = files.iter().map(|f| f.2).collect();
        let data: Vec<&[u8]> = files.iter().map(|f| f.3.as_slice()).collect();
        let shas: Vec<String> = files.iter().map(|f| signet_tuf::sha256_hex(&f.3)).collect();
        server
            .execute(
                "INSERT INTO tuf_files (created_at, updated_at, gun, role, version, data, sha256) SELECT now(), now(), g, r, v, d, s FROM unnest($1::TEXT[], $2::TEXT[], $3::INT[], $4::BYTEA[], $5::TEXT[]) AS u(g, r, v, d, s)",
                &[&guns, &roles, &versions, &data, &shas],
            )
            .expect("insert tuf_files");
        let keys: Vec<_> = batch.iter().flat_map(|g| g.keys.iter()).collect();
        let ids: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
        let kguns: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
        let kroles: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
        let publics: Vec<&[u8]> = keys.iter().map(|k| k.3.as_slice()).collect();
        let privates: Vec<&[u8]> = keys.iter().map(|k| k.4.as_bytes()).collect();
        signer
            .execute(
                "INSERT INTO private_keys (created_at, updated_at, key_id, encryption_alg, keywrap_alg, algorithm, passphrase_alias, gun, role, public, private) SELECT now(), now(), k, 'A256GCM', 'PBES2-HS256+A128KW', 'ecdsa', $6, g, r, p, s FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BYTEA[], $5::BYTEA[]) AS u(k, g, r, p, s)",
                &[&ids, &kguns, &kroles, &publics, &privates, &ALIAS],
            )
            .expect("insert private_keys");
        batch.clear();
    };
    for g in rx {
        batch.push(g);
        if batch.len() == 200 {
            flush(&mut batch, &mut server, &mut signer);
        }
    }
    flush(&mut batch, &mut server, &mut signer);
    for w in workers {
        w.join().expect("generator");
    }
    eprintln!(
        "generated {repos} repositories in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let data_dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(&bin)
        .args([
            "import",
            "--notary-db",
            &server_db,
            "--signer-db",
            &signer_db,
            "--all",
            "--json",
        ])
        .arg("--data-dir")
        .arg(data_dir.path())
        .env("SIGNET_SIGNER_PASSPHRASE", "bench signet passphrase")
        .env(format!("NOTARY_SIGNER_{}", ALIAS.to_uppercase()), PASS)
        .output()
        .expect("run signet-server import");
    let seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import failed:\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("summary JSON");
    assert_eq!(summary["imported"], repos, "{}", summary["refused"]);
    let rss_kib: u64 = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "repositories": repos,
            "files": repos * 7,
            "server_keys": if with_keys { repos * 2 } else { 0 },
            "seconds": (seconds * 100.0).round() / 100.0,
            "repositories_per_second": (repos as f64 / seconds).round(),
            "max_rss_mib": rss_kib / 1024,
        })
    );
}
