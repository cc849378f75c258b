//! Where a publish spends its time on the server: validation + signing (`plan_update`) versus
//! the durable commit (`update_many`), for sequential targets publishes on SQLite.
//!
//!     cargo run --release -p signet-server --example publish_phases -- 2000

use signet_keys::PrivateKey;
use signet_server::signer::{ServerRole, Signer};
use signet_server::store::{SqliteStore, Store};
use signet_server::update::{plan_update, Upload};
use signet_tuf::{sign_and_serialize, FileMeta, GoTime, Root, Targets};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

fn main() {
    let n: i64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!("publish-phases-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = Arc::new(SqliteStore::open(&dir.join("db")).expect("store"));
    let signer = Signer::open(store.clone(), b"pass").expect("signer");
    let gun = "example.com/phases";
    let now = OffsetDateTime::now_utc();
    let root_key = PrivateKey::generate_ecdsa();
    let cert = signet_keys::root_certificate(&root_key, gun, now, now + time::Duration::days(3650))
        .expect("cert");
    let targets_key = PrivateKey::generate_ecdsa();
    let mut root = Root::new(GoTime::from_instant(now + time::Duration::days(3650)));
    root.set_role_keys("root", vec![cert.clone()], 1);
    root.set_role_keys("targets", vec![targets_key.public_key()], 1);
    root.set_role_keys(
        "snapshot",
        vec![signer
            .get_or_create(gun, ServerRole::Snapshot, &[])
            .expect("key")],
        1,
    );
    root.set_role_keys(
        "timestamp",
        vec![signer
            .get_or_create(gun, ServerRole::Timestamp, &[])
            .expect("key")],
        1,
    );
    let root_bytes = sign_and_serialize("root", &root, &[(&cert.id(), &root_key)]).expect("root");
    let targets = |v: i64| {
        let mut t = Targets::new(GoTime::from_instant(now + time::Duration::days(365)));
        t.version = v;
        t.targets
            .get_or_insert_with(Default::default)
            .insert("tag".into(), FileMeta::from_bytes(&v.to_be_bytes()));
        sign_and_serialize("targets", &t, &[(&targets_key.id(), &targets_key)]).expect("targets")
    };
    let validated_roots = signet_server::update::ValidatedRoots::default();
    let rows = plan_update(
        gun,
        store.as_ref(),
        &signer,
        &validated_roots,
        vec![
            Upload {
                role: "root".into(),
                bytes: root_bytes,
            },
            Upload {
                role: "targets".into(),
                bytes: targets(1),
            },
        ],
        now,
    )
    .expect("first");
    store.update_many(gun, &rows, now).expect("store");
    let bodies: Vec<Vec<u8>> = (2..n + 2).map(targets).collect();
    let (mut plan, mut commit) = (Duration::ZERO, Duration::ZERO);
    for body in bodies {
        let t0 = Instant::now();
        let rows = plan_update(
            gun,
            store.as_ref(),
            &signer,
            &validated_roots,
            vec![Upload {
                role: "targets".into(),
                bytes: body,
            }],
            OffsetDateTime::now_utc(),
        )
        .expect("plan");
        let t1 = Instant::now();
        store
            .update_many(gun, &rows, OffsetDateTime::now_utc())
            .expect("commit");
        plan += t1 - t0;
        commit += t1.elapsed();
    }
    println!(
        "{n} publishes: validate+sign {:.3} ms/publish, durable commit {:.3} ms/publish",
        plan.as_secs_f64() * 1000.0 / n as f64,
        commit.as_secs_f64() * 1000.0 / n as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
