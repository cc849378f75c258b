//! The signed-only gate's decisions over real trust data: docker's roles (`targets/releases`
//! before `targets`), required signers, digests, index children, exempt globs, audit and off,
//! unknown hosts, and a content-trust wipe taking effect on the next request.

use super::*;
use crate::gate::{GateMode, GatePolicy};
use crate::service::gate::{GateCheck, GateOutcome, Served};

fn targets_file(
    version: i64,
    key: &PrivateKey,
    files: &[(&str, &[u8])],
    delegate: &[(&str, &PrivateKey)],
) -> Vec<u8> {
    let mut t = Targets::new(GoTime::from_instant(
        OffsetDateTime::now_utc() + Duration::days(365),
    ));
    t.version = version;
    let map = t.targets.get_or_insert_with(Default::default);
    for (name, content) in files {
        map.insert(name.to_string(), FileMeta::from_bytes(content));
    }
    for (role, k) in delegate {
        t.add_delegation_keys(role, vec![k.public_key()], vec![String::new()]);
    }
    sign_and_serialize("targets", &t, &[(&key.id(), key)]).unwrap()
}

fn sha(b: &[u8]) -> [u8; 32] {
    signet_tuf::file_meta::sha256(b)
}

fn expect(b: &[u8]) -> GateCheck {
    GateCheck::Expect {
        sha256: sha(b),
        length: Some(b.len() as i64),
    }
}

fn refused(c: &GateCheck, needle: &str) -> bool {
    matches!(c, GateCheck::Refuse(r) if r.contains(needle))
}

fn served<'a>(body: &'a [u8], content_type: Option<&'a str>) -> Served<'a> {
    Served {
        stated_digest: None,
        content_type,
        body: Some(body),
        length: Some(body.len() as i64),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_decisions_follow_trust_data_and_policy() {
    let f = fixture();
    let svc = &f.service;
    let (releases, alice) = (PrivateKey::generate_ecdsa(), PrivateKey::generate_ecdsa());
    let child = b"platform manifest".to_vec();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"digest": format!("sha256:{}", hex::encode(sha(&child))), "size": child.len()}],
    }))
    .unwrap();
    let root = f.root(REGISTRY_GUN, 1).await;
    let targets = targets_file(
        1,
        &f.targets_key,
        &[("v1", b"manifest"), ("multi", &index)],
        &[("targets/releases", &releases), ("targets/alice", &alice)],
    );
    let mut rel = Targets::new(GoTime::from_instant(
        OffsetDateTime::now_utc() + Duration::days(365),
    ));
    rel.version = 1;
    let m = rel.targets.get_or_insert_with(Default::default);
    m.insert("v1".into(), FileMeta::from_bytes(b"release"));
    let rel = sign_and_serialize("targets", &rel, &[(&releases.id(), &releases)]).unwrap();
    let mut al = Targets::new(GoTime::from_instant(
        OffsetDateTime::now_utc() + Duration::days(365),
    ));
    al.version = 1;
    let m = al.targets.get_or_insert_with(Default::default);
    m.insert("v1".into(), FileMeta::from_bytes(b"release"));
    m.insert("a-only".into(), FileMeta::from_bytes(b"alice"));
    let al = sign_and_serialize("targets", &al, &[(&alice.id(), &alice)]).unwrap();
    svc.publish(
        &f.open_caller(),
        REGISTRY_GUN,
        vec![
            part("root", root),
            part("targets", targets),
            part("targets/releases", rel),
            part("targets/alice", al),
        ],
    )
    .await
    .unwrap();

    // Open mode: enforce, docker's roles.
    let d = |repo: &'static str, reference: String| async move {
        svc.gate_decide(LOGIN_SERVER, repo, &reference).await
    };
    let v1 = d("team/app", "v1".into()).await;
    assert_eq!(
        v1.check,
        expect(b"release"),
        "targets/releases wins over targets"
    );
    assert_eq!(
        svc.gate_finish(&v1, &served(b"release", None)),
        GateOutcome::Serve
    );
    assert!(matches!(
        svc.gate_finish(&v1, &served(b"manifest", None)),
        GateOutcome::Refuse(r) if r.contains("differs from the signed digest")
    ));
    assert!(refused(
        &d("team/app", "v2".into()).await.check,
        "tag v2 is not signed"
    ));
    // Warm: decisions read no database (the read cache and the verified targets answer).
    let loads = |svc: &Arc<TrustService>| {
        svc.metrics()
            .render()
            .lines()
            .find_map(|l| l.strip_prefix("signet_read_cache_loads_total "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap()
    };
    let before = loads(svc);
    for _ in 0..3 {
        assert_eq!(d("team/app", "v1".into()).await.check, expect(b"release"));
    }
    assert_eq!(loads(svc), before);
    assert!(refused(
        &d("team/app", "a-only".into()).await.check,
        "tag a-only is not signed"
    ));
    let by_digest = |b: &[u8]| format!("sha256:{}", hex::encode(sha(b)));
    assert_eq!(
        d("team/app", by_digest(b"manifest")).await.check,
        expect(b"manifest")
    );
    assert!(refused(
        &d("team/app", by_digest(b"alice")).await.check,
        "is not signed by any tag"
    ));
    assert!(refused(
        &d("team/none", "v1".into()).await.check,
        "no trust data"
    ));
    assert!(refused(
        &d("Team/App", "v1".into()).await.check,
        "not a repository name"
    ));
    assert!(refused(
        &d("team/app", "bad/tag".into()).await.check,
        "not a tag or digest"
    ));

    // A child of a signed index, once the index went through the gate.
    assert!(refused(
        &d("team/app", by_digest(&child)).await.check,
        "not signed"
    ));
    let multi = d("team/app", "multi".into()).await;
    assert_eq!(
        svc.gate_finish(&multi, &served(&index, None)),
        GateOutcome::Serve
    );
    assert_eq!(
        d("team/app", by_digest(&child)).await.check,
        GateCheck::Expect {
            sha256: sha(&child),
            length: None
        }
    );

    // A registry for the host: content trust on starts it in enforce; hosts of no registry
    // are refused.
    f.premium_registry_with_content_trust();
    assert_eq!(d("team/app", "v1".into()).await.mode, GateMode::Enforce);
    assert!(refused(
        &svc.gate_decide("other.example.com", "team/app", "v1")
            .await
            .check,
        "not the login server"
    ));
    let admin = svc.admin("test");
    let set = |p: GatePolicy| {
        tokio::task::block_in_place(|| admin.set_gate_policy("contoso", &p).unwrap())
    };
    set(GatePolicy {
        signers: vec!["alice".into()],
        ..GatePolicy::enforce()
    });
    assert_eq!(d("team/app", "a-only".into()).await.check, expect(b"alice"));
    assert_eq!(
        d("team/app", by_digest(b"alice")).await.check,
        expect(b"alice")
    );
    set(GatePolicy {
        signers: vec!["alice".into(), "releases".into()],
        ..GatePolicy::enforce()
    });
    assert_eq!(d("team/app", "v1".into()).await.check, expect(b"release"));
    assert!(refused(
        &d("team/app", "a-only".into()).await.check,
        "not signed by targets/releases"
    ));

    // Audit serves and counts; exempt and off are not checked.
    set(GatePolicy {
        mode: GateMode::Audit,
        exempt: vec!["team/*".into()],
        ..GatePolicy::enforce()
    });
    assert_eq!(
        d("team/app", "v2".into()).await.check,
        GateCheck::Pass("exempt")
    );
    set(GatePolicy {
        mode: GateMode::Audit,
        ..GatePolicy::enforce()
    });
    let v2 = d("team/app", "v2".into()).await;
    assert_eq!(
        svc.gate_finish(&v2, &served(b"anything", None)),
        GateOutcome::Serve
    );
    assert!(svc
        .metrics()
        .render()
        .contains("signet_gate_decisions_total{registry=\"contoso\",outcome=\"would_deny\"} 1"));
    set(GatePolicy {
        mode: GateMode::Off,
        ..GatePolicy::enforce()
    });
    assert_eq!(
        d("team/app", "v2".into()).await.check,
        GateCheck::Pass("off")
    );

    // Wiping content trust takes effect on the next request.
    set(GatePolicy::enforce());
    assert_eq!(d("team/app", "v1".into()).await.check, expect(b"release"));
    tokio::task::block_in_place(|| admin.set_content_trust("contoso", false).unwrap());
    assert!(refused(
        &d("team/app", "v1".into()).await.check,
        "no trust data"
    ));
}
