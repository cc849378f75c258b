//! Publish, read and refresh scenarios of the trust service, in-process: a SQLite store in a
//! temporary directory, no sockets, no TLS.

use super::*;
use crate::multipart::Part;
use crate::signer::ServerRole;
use crate::store::SqliteStore;
use crate::tenancy::service::RegistrySpec;
use signet_keys::{PrivateKey, PublicKey};
use signet_tuf::{sign_and_serialize, FileMeta, GoTime, Root, SignedTimestamp, Targets};
use time::{Duration, OffsetDateTime};

mod gate;
mod shared_db;

const OPEN_GUN: &str = "example.com/unit";
const LOGIN_SERVER: &str = "registry.example.com";
const REGISTRY_GUN: &str = "registry.example.com/team/app";

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) service: Arc<TrustService>,
    root_key: PrivateKey,
    targets_key: PrivateKey,
}

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
    fixture_on(dir, store)
}

/// A fixture over `store`, which lives in `dir`.
fn fixture_on(dir: tempfile::TempDir, store: Arc<dyn Store>) -> Fixture {
    let signer = Arc::new(Signer::open(store.clone(), b"pass").unwrap());
    let token_keys = Arc::new(
        crate::token::TokenKeys::load_or_create(store.as_ref(), &signer, "signet").unwrap(),
    );
    let tenancy = crate::tenancy::load(store.as_ref()).unwrap();
    let service = TrustService::new(ServiceParts {
        store,
        signer,
        config: ServiceConfig {
            read_cache_bytes: 1 << 20,
            maintenance: None,
        },
        auth: AuthConfig::default(),
        token_keys,
        tenancy,
    });
    Fixture {
        _dir: dir,
        service,
        root_key: PrivateKey::generate_ecdsa(),
        targets_key: PrivateKey::generate_ecdsa(),
    }
}

fn part(role: &str, body: Vec<u8>) -> Part {
    Part {
        filename: Some(role.to_string()),
        body,
    }
}

impl Fixture {
    /// Registry `contoso` for [`LOGIN_SERVER`], Premium, content trust on: the server now
    /// requires tokens.
    fn premium_registry_with_content_trust(&self) {
        let admin = self.service.admin("test");
        tokio::task::block_in_place(|| {
            admin
                .create_registry(&RegistrySpec {
                    name: "contoso".into(),
                    login_server: LOGIN_SERVER.into(),
                    sku: "Premium".into(),
                    cmk_key_id: None,
                    admin_user_enabled: false,
                    anonymous_pull_enabled: false,
                })
                .unwrap();
            admin.set_content_trust("contoso", true).unwrap();
        });
    }

    fn open_caller(&self) -> Caller {
        Caller {
            actor: None,
            tenancy: self.service.tenancy(),
        }
    }

    async fn server_key(&self, gun: &str, role: ServerRole) -> PublicKey {
        self.service.server_key(gun, role, false).await.unwrap()
    }

    /// A root for `gun` listing the server's timestamp and snapshot keys.
    async fn root(&self, gun: &str, version: i64) -> Vec<u8> {
        let now = OffsetDateTime::now_utc();
        let cert = signet_keys::root_certificate(
            &self.root_key,
            gun,
            now - Duration::days(30),
            now + Duration::days(3650),
        )
        .unwrap();
        let mut r = Root::new(GoTime::from_instant(now + Duration::days(365)));
        r.version = version;
        r.set_role_keys("root", vec![cert.clone()], 1);
        r.set_role_keys("targets", vec![self.targets_key.public_key()], 1);
        r.set_role_keys(
            "snapshot",
            vec![self.server_key(gun, ServerRole::Snapshot).await],
            1,
        );
        r.set_role_keys(
            "timestamp",
            vec![self.server_key(gun, ServerRole::Timestamp).await],
            1,
        );
        sign_and_serialize("root", &r, &[(&cert.id(), &self.root_key)]).unwrap()
    }

    fn targets_signed_by(&self, version: i64, key: &PrivateKey) -> Vec<u8> {
        let mut t = Targets::new(GoTime::from_instant(
            OffsetDateTime::now_utc() + Duration::days(365),
        ));
        t.version = version;
        t.targets
            .get_or_insert_with(Default::default)
            .insert(format!("v{version}"), FileMeta::from_bytes(b"manifest"));
        sign_and_serialize("targets", &t, &[(&key.id(), key)]).unwrap()
    }

    fn targets(&self, version: i64) -> Vec<u8> {
        self.targets_signed_by(version, &self.targets_key)
    }

    async fn first_publish(&self, gun: &str) -> (Vec<u8>, Vec<u8>) {
        let (root, targets) = (self.root(gun, 1).await, self.targets(1));
        self.service
            .publish(
                &self.open_caller(),
                gun,
                vec![part("root", root.clone()), part("targets", targets.clone())],
            )
            .await
            .unwrap();
        (root, targets)
    }

    async fn current(&self, gun: &str, role: &str) -> Result<Vec<u8>, ServiceError> {
        self.service
            .read_current(gun, role)
            .await
            .map(|f| f.bytes.to_vec())
    }

    fn timestamp_version(bytes: &[u8]) -> i64 {
        SignedTimestamp::from_bytes("timestamp", bytes)
            .unwrap()
            .version()
    }
}

#[tokio::test]
async fn a_publish_is_read_back_by_current_version_and_checksum_urls() {
    let f = fixture();
    let (root, targets) = f.first_publish(OPEN_GUN).await;
    assert_eq!(f.current(OPEN_GUN, "root").await.unwrap(), root);
    assert_eq!(f.current(OPEN_GUN, "targets").await.unwrap(), targets);
    let v1 = f
        .service
        .read_version(OPEN_GUN, "targets", 1)
        .await
        .unwrap();
    assert_eq!(v1.bytes.as_ref(), targets.as_slice());
    let sum = signet_tuf::file_meta::sha256_hex(&targets);
    let by_sum = f
        .service
        .read_checksum(OPEN_GUN, "targets", &sum)
        .await
        .unwrap();
    assert_eq!(by_sum.bytes.as_ref(), targets.as_slice());
    assert!(matches!(
        f.service
            .read_checksum(OPEN_GUN, "targets", &"0".repeat(64))
            .await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        f.service.read_version(OPEN_GUN, "targets", 2).await,
        Err(ServiceError::NotFound)
    ));
    // The server made snapshot and timestamp; the timestamp names the snapshot.
    let ts = f.current(OPEN_GUN, "timestamp").await.unwrap();
    let snap = f.current(OPEN_GUN, "snapshot").await.unwrap();
    let ts = SignedTimestamp::from_bytes("timestamp", &ts).unwrap();
    ts.signed
        .snapshot_meta()
        .unwrap()
        .check_hashes("snapshot", &snap)
        .unwrap();
    assert!(f
        .service
        .metrics()
        .render()
        .contains("signet_publishes_total 1"));
}

#[tokio::test]
async fn a_stale_version_conflicts_and_changes_nothing() {
    let f = fixture();
    let (_, targets) = f.first_publish(OPEN_GUN).await;
    let other = f.targets(1);
    assert_ne!(other, targets);
    let err = f
        .service
        .publish(&f.open_caller(), OPEN_GUN, vec![part("targets", other)])
        .await
        .unwrap_err();
    let api = err.to_api();
    assert_eq!(api.code.code(), "VERSION");
    assert_eq!(api.code.status(), 400);
    assert_eq!(f.current(OPEN_GUN, "targets").await.unwrap(), targets);
}

#[tokio::test]
async fn an_update_with_one_bad_file_is_rolled_back_whole() {
    let f = fixture();
    let root = f.root(OPEN_GUN, 1).await;
    let forged = f.targets_signed_by(1, &PrivateKey::generate_ecdsa());
    let err = f
        .service
        .publish(
            &f.open_caller(),
            OPEN_GUN,
            vec![part("root", root), part("targets", forged)],
        )
        .await
        .unwrap_err();
    let api = err.to_api();
    assert_eq!(api.code.code(), "INVALID_UPDATE");
    assert!(String::from_utf8(api.body())
        .unwrap()
        .contains("ErrBadTargets"));
    for role in ["root", "targets", "snapshot", "timestamp"] {
        assert!(
            matches!(f.current(OPEN_GUN, role).await, Err(ServiceError::NotFound)),
            "{role} stored after a rejected update"
        );
    }
}

#[tokio::test]
async fn parts_must_be_named_after_roles_and_be_json() {
    let f = fixture();
    let caller = f.open_caller();
    let cases = [
        (part("", b"{}".to_vec()), "NO_FILENAME"),
        (part("targets/../x", b"{}".to_vec()), "INVALID_ROLE"),
        (part("targets", b"{not json".to_vec()), "MALFORMED_JSON"),
        (part("targets", vec![b'"', 0xff, b'"']), "MALFORMED_JSON"),
    ];
    for (p, code) in cases {
        let err = f
            .service
            .publish(&caller, OPEN_GUN, vec![p])
            .await
            .unwrap_err();
        assert_eq!(err.to_api().code.code(), code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_that_commits_after_content_trust_was_disabled_is_undone() {
    let f = fixture();
    f.premium_registry_with_content_trust();
    // Authorised while content trust is on...
    let caller = Caller {
        actor: Some("alice".into()),
        tenancy: f.service.tenancy(),
    };
    assert!(caller
        .tenancy
        .resolve_gun(REGISTRY_GUN)
        .unwrap()
        .0
        .trust_enabled());
    // ...then the admin CLI (another process: no hook into this service) turns it off (and
    // wipes the server keys, so the client's root is made after).
    let cli = AdminService::new(f.service.store.clone(), "cli:operator");
    tokio::task::block_in_place(|| cli.set_content_trust("contoso", false).unwrap());
    let root = f.root(REGISTRY_GUN, 1).await;
    let err = f
        .service
        .publish(
            &caller,
            REGISTRY_GUN,
            vec![part("root", root), part("targets", f.targets(1))],
        )
        .await
        .unwrap_err();
    match &err {
        ServiceError::TrustDisabled { registry, .. } => assert_eq!(registry, "contoso"),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_api().code.code(), "CONTENT_TRUST_DISABLED");
    let stored = f.service.store.latest(REGISTRY_GUN, "root").unwrap();
    assert!(stored.is_none(), "the undone publish left its root behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_timestamp_is_renewed_on_read_and_cached() {
    let f = fixture();
    // Stored as if published 20 days ago: the timestamp (14 days) has expired.
    let long_ago = OffsetDateTime::now_utc() - Duration::days(20);
    let uploads = vec![
        crate::update::Upload {
            role: "root".into(),
            bytes: f.root(OPEN_GUN, 1).await,
        },
        crate::update::Upload {
            role: "targets".into(),
            bytes: f.targets(1),
        },
    ];
    let rows = crate::update::plan_update(
        OPEN_GUN,
        f.service.store.as_ref(),
        &f.service.signer,
        &f.service.validated_roots,
        uploads,
        long_ago,
    )
    .unwrap();
    f.service
        .store
        .update_many(OPEN_GUN, &rows, long_ago)
        .unwrap();
    let old_ts = f
        .service
        .store
        .latest(OPEN_GUN, "timestamp")
        .unwrap()
        .unwrap();
    assert_eq!(Fixture::timestamp_version(&old_ts.bytes), 1);

    let renewed = f.current(OPEN_GUN, "timestamp").await.unwrap();
    assert_eq!(Fixture::timestamp_version(&renewed), 2);
    let ts = SignedTimestamp::from_bytes("timestamp", &renewed).unwrap();
    assert!(ts.signed.expires.instant() > OffsetDateTime::now_utc() + Duration::days(13));
    // Stored, and the next read is the cached copy (no second renewal).
    let stored = f
        .service
        .store
        .latest(OPEN_GUN, "timestamp")
        .unwrap()
        .unwrap();
    assert_eq!(stored.bytes.as_ref(), renewed.as_slice());
    let loads_before = f.service.metrics().render();
    assert_eq!(f.current(OPEN_GUN, "timestamp").await.unwrap(), renewed);
    assert_eq!(f.service.metrics().render(), loads_before);
    // The old version stays readable by version (clients walk back).
    let v1 = f
        .service
        .read_version(OPEN_GUN, "timestamp", 1)
        .await
        .unwrap();
    assert_eq!(v1.bytes, old_ts.bytes);
}

#[tokio::test]
async fn a_new_publish_replaces_what_the_cache_served() {
    let f = fixture();
    f.first_publish(OPEN_GUN).await;
    let ts1 = f.current(OPEN_GUN, "timestamp").await.unwrap();
    let t1 = f.current(OPEN_GUN, "targets").await.unwrap();
    let t2 = f.targets(2);
    f.service
        .publish(
            &f.open_caller(),
            OPEN_GUN,
            vec![part("targets", t2.clone())],
        )
        .await
        .unwrap();
    assert_ne!(t1, t2);
    assert_eq!(f.current(OPEN_GUN, "targets").await.unwrap(), t2);
    let ts2 = f.current(OPEN_GUN, "timestamp").await.unwrap();
    assert_eq!(
        Fixture::timestamp_version(&ts1) + 1,
        Fixture::timestamp_version(&ts2)
    );
}

#[tokio::test]
async fn delete_removes_every_version() {
    let f = fixture();
    f.first_publish(OPEN_GUN).await;
    f.current(OPEN_GUN, "targets").await.unwrap();
    f.service.delete(OPEN_GUN).await.unwrap();
    for role in ["root", "targets", "snapshot", "timestamp"] {
        assert!(matches!(
            f.current(OPEN_GUN, role).await,
            Err(ServiceError::NotFound)
        ));
    }
    assert!(matches!(
        f.service.read_version(OPEN_GUN, "root", 1).await,
        Err(ServiceError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_by_the_access_decision() {
    let f = fixture();
    f.premium_registry_with_content_trust();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let token = |actions: &[&str]| {
        let claims = crate::auth::access_claims(
            &f.service.auth,
            &crate::tenancy::Principal::Identity("alice".into()),
            "signet",
            vec![crate::token::Access {
                kind: "repository".into(),
                name: REGISTRY_GUN.into(),
                actions: actions.iter().map(|a| a.to_string()).collect(),
            }],
            now,
        );
        f.service.token_keys.issue(&claims).unwrap()
    };
    let pull = token(&["pull"]);
    let caller = f
        .service
        .authorize(Some(REGISTRY_GUN), Need::Pull, Some(&pull))
        .unwrap();
    assert_eq!(caller.actor.as_deref(), Some("alice"));
    match f
        .service
        .authorize(Some(REGISTRY_GUN), Need::PushPull, Some(&pull))
    {
        Err(ServiceError::Unauthorized { scope, .. }) => {
            assert_eq!(scope, format!("repository:{REGISTRY_GUN}:push,pull"))
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let all = token(&["*"]);
    assert!(f
        .service
        .authorize(Some(REGISTRY_GUN), Need::All, Some(&all))
        .is_ok());
    let mut forged = all.clone();
    forged.pop();
    forged.push(if all.ends_with('A') { 'B' } else { 'A' });
    assert!(matches!(
        f.service
            .authorize(Some(REGISTRY_GUN), Need::Pull, Some(&forged)),
        Err(ServiceError::Unauthorized {
            denied: crate::auth::Denied::Invalid(_),
            ..
        })
    ));
}
