//! The commands against an in-memory trust server: the client workflow (initialise, sign,
//! delegate, verify, revoke, rotate) without sockets or TLS.

use super::{inspect, key, revoke, sign, signer, verify};
use crate::context::Context;
use crate::error::CliError;
use crate::image_ref::{self, ImageRef};
use crate::transport::MemoryTransport;
use std::rc::Rc;

const GUN: &str = "registry.test:5000/team/app";

struct Setup {
    _dir: tempfile::TempDir,
    ctx: Context,
    server: MemoryTransport,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = MemoryTransport::new();
    let mut ctx = Context::new(dir.path().join("trust"));
    ctx.passphrase = Some(zeroize::Zeroizing::new("correct horse battery".into()));
    ctx.transport = Some(Rc::new(server.clone()));
    Setup {
        _dir: dir,
        ctx,
        server,
    }
}

fn image(tag: &str) -> ImageRef {
    image_ref::parse(&format!("{GUN}:{tag}")).expect("reference")
}

fn given(byte: u8) -> sign::Manifest {
    sign::Manifest::Given {
        sha256: [byte; 32],
        size: 1234,
    }
}

#[test]
fn sign_initialises_then_verify_reads_the_digest() {
    let s = setup();
    let signed = sign::sign(&s.ctx, &image("v1"), given(7)).expect("sign");
    assert!(signed.initialized);
    assert_eq!(signed.roles, vec!["targets".to_string()]);
    // The first update carries root and targets only; the server signs snapshot and timestamp.
    assert_eq!(
        s.server.updates(),
        vec![(GUN.to_string(), vec!["root".into(), "targets".into()])]
    );
    let v = verify::verify(&s.ctx, GUN, "v1").expect("verify");
    assert_eq!(v.sha256, [7; 32]);
    assert_eq!(v.size, 1234);
    assert!(matches!(
        verify::verify(&s.ctx, GUN, "v2"),
        Err(CliError::NoSuchTag { .. })
    ));
}

#[test]
fn signer_add_moves_signing_into_releases_and_revoke_removes_it() {
    let s = setup();
    sign::sign(&s.ctx, &image("v1"), given(1)).expect("sign");
    let dir = s.ctx.trust_dir.parent().expect("parent").to_path_buf();
    let alice = key::generate(&s.ctx, "alice", &dir).expect("generate");
    let public = signer::read_public_key(&alice.public_key).expect("public key");
    let added = signer::add(&s.ctx, GUN, "alice", &[public]).expect("add");
    assert!(!added.initialized);
    let signed = sign::sign(&s.ctx, &image("v2"), given(2)).expect("sign v2");
    assert_eq!(
        signed.roles,
        vec!["targets/releases".to_string(), "targets/alice".to_string()]
    );
    let inspection = inspect::inspect(&s.ctx, GUN, Some("v2")).expect("inspect");
    assert_eq!(
        inspection.repository["SignedTags"][0]["Signers"],
        serde_json::json!(["alice"])
    );
    assert_eq!(
        verify::verify(&s.ctx, GUN, "v2").expect("verify").sha256,
        [2; 32]
    );
    let revoked = revoke::revoke(&s.ctx, &image("v2")).expect("revoke");
    assert_eq!(revoked.roles.len(), 2);
    assert!(matches!(
        verify::verify(&s.ctx, GUN, "v2"),
        Err(CliError::NoSuchTag { .. })
    ));
}

#[test]
fn a_rolled_back_server_is_refused_naming_the_role() {
    let s = setup();
    sign::sign(&s.ctx, &image("v1"), given(1)).expect("sign v1");
    let old_targets = s.server.current(GUN, "targets").expect("targets");
    sign::sign(&s.ctx, &image("v2"), given(2)).expect("sign v2");
    s.server
        .put_as_other_client(GUN, &[("targets".into(), old_targets)])
        .expect("stage rollback");
    let err = verify::verify(&s.ctx, GUN, "v1").err().expect("refused");
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string().contains("targets: rollback"),
        "unexpected error: {err}"
    );
}

#[test]
fn root_rotation_is_followed_by_a_client_trusting_the_old_root() {
    let s = setup();
    sign::sign(&s.ctx, &image("v1"), given(1)).expect("sign");
    let rotated = key::rotate(&s.ctx, &image("v1"), "root", false).expect("rotate");
    assert_eq!(rotated.role, "root");
    // The cache still holds root version 1 until the next read walks the chain.
    let v = verify::verify(&s.ctx, GUN, "v1").expect("verify after rotation");
    assert_eq!(v.sha256, [1; 32]);
    let root = s.server.current(GUN, "root").expect("root");
    assert_eq!(
        signet_tuf::Envelope::parse("root", &root)
            .expect("root parses")
            .version(),
        Some(2)
    );
}

/// A signer key whose private half is not in this trust directory.
fn foreign_signer(dir: &std::path::Path, name: &str) -> signet_keys::PublicKey {
    let key = signet_keys::PrivateKey::generate_ecdsa();
    let path = dir.join(format!("{name}.pub"));
    std::fs::write(
        &path,
        signet_keys::key_file::encode_public(&key.public_key(), name),
    )
    .expect("write public key");
    signer::read_public_key(&path).expect("public key")
}

#[test]
fn removing_the_signer_of_releases_is_refused_before_publishing_unless_forced() {
    let s = setup();
    let dir = s.ctx.trust_dir.parent().expect("parent").to_path_buf();
    let alice = key::generate(&s.ctx, "alice", &dir).expect("generate");
    let alice = signer::read_public_key(&alice.public_key).expect("public key");
    signer::add(&s.ctx, GUN, "alice", &[alice]).expect("add alice");
    sign::sign(&s.ctx, &image("v1"), given(1)).expect("sign v1");
    signer::add(&s.ctx, GUN, "ci", &[foreign_signer(&dir, "ci")]).expect("add ci");
    let published = s.server.updates().len();

    let err = signer::remove(&s.ctx, GUN, "alice", false)
        .err()
        .expect("refused");
    assert_eq!(err.exit_code(), 1);
    let msg = err.to_string();
    assert!(
        msg.contains(
            "removing signer alice will make registry.test:5000/team/app unpullable/unsignable"
        ) && msg.contains("(its tags: v1)")
            && msg.contains("--force"),
        "{msg}"
    );
    assert_eq!(s.server.updates().len(), published, "nothing published");
    assert_eq!(
        verify::verify(&s.ctx, GUN, "v1")
            .expect("still verifies")
            .sha256,
        [1; 32]
    );

    // Forced: published, with the warning; releases no longer verifies and is skipped.
    let removed = signer::remove(&s.ctx, GUN, "alice", true).expect("forced");
    assert!(removed.warnings[0].contains("unpullable/unsignable"));
    let err = verify::verify(&s.ctx, GUN, "v1")
        .err()
        .expect("v1 untrusted");
    assert!(matches!(err, CliError::NoSuchTag { .. }), "{err}");
    // The repository stays repairable by the targets key holder.
    let bob = key::generate(&s.ctx, "bob", &dir).expect("generate bob");
    let bob = signer::read_public_key(&bob.public_key).expect("public key");
    signer::add(&s.ctx, GUN, "bob", &[bob]).expect("add bob to the broken repository");
    let signed = sign::sign(&s.ctx, &image("v1"), given(3)).expect("bob signs v1 again");
    assert!(signed.roles.contains(&"targets/releases".to_string()));
    assert_eq!(
        verify::verify(&s.ctx, GUN, "v1")
            .expect("verifies again")
            .sha256,
        [3; 32]
    );
}

#[test]
fn removing_a_signer_re_signs_releases_with_a_remaining_key_this_client_holds() {
    let s = setup();
    let dir = s.ctx.trust_dir.parent().expect("parent").to_path_buf();
    for name in ["alice", "ci"] {
        let k = key::generate(&s.ctx, name, &dir).expect("generate");
        let k = signer::read_public_key(&k.public_key).expect("public key");
        if name == "alice" {
            signer::add(&s.ctx, GUN, name, &[k]).expect("add");
            sign::sign(&s.ctx, &image("v1"), given(1)).expect("sign v1");
        } else {
            signer::add(&s.ctx, GUN, name, &[k]).expect("add");
        }
    }
    let removed = signer::remove(&s.ctx, GUN, "alice", false).expect("remove alice");
    assert!(removed.warnings.is_empty(), "{:?}", removed.warnings);
    let last = s.server.updates().pop().expect("an update");
    assert_eq!(
        last.1,
        vec!["targets".to_string(), "targets/releases".to_string()]
    );
    assert_eq!(
        verify::verify(&s.ctx, GUN, "v1")
            .expect("still verifies")
            .sha256,
        [1; 32]
    );
}

#[test]
fn a_refused_update_leaves_no_new_keys_behind() {
    let s = setup();
    s.server.refuse_updates("not today");
    let err = sign::sign(&s.ctx, &image("v1"), given(1))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("not today"), "{err}");
    assert!(s.ctx.store.list().expect("list").is_empty());
    // A root key that was there before stays.
    let s = setup();
    sign::sign(&s.ctx, &image("v1"), given(1)).expect("sign");
    let before: Vec<_> = s.ctx.store.list().expect("list");
    s.server.refuse_updates("not today");
    key::rotate(&s.ctx, &image("v1"), "targets", false)
        .err()
        .expect("rotation refused");
    assert_eq!(s.ctx.store.list().expect("list"), before);
}

#[test]
fn the_handover_reads_a_repository_whose_server_signed_roles_expired() {
    let s = setup();
    sign::sign(&s.ctx, &image("v1"), given(7)).expect("sign");
    // After the old server stopped renewing them: timestamp and snapshot (14 days) expired.
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let strict = crate::trusted_repo::fetch(&s.server, &s.ctx.trust_dir, GUN, later, true);
    assert!(
        matches!(&strict, Err(CliError::Verification { role, .. }) if role == "timestamp"),
        "{:?}",
        strict.err()
    );
    let repo = crate::trusted_repo::fetch_for_handover(&s.server, &s.ctx.trust_dir, GUN, later)
        .expect("fetch for the handover")
        .expect("trust data");
    for role in ["timestamp", "snapshot"] {
        assert!(
            repo.warnings
                .iter()
                .any(|w| w.starts_with(&format!("warning: {GUN}: {role}: "))
                    && w.ends_with("; the handover publishes a fresh one")),
            "{:?}",
            repo.warnings
        );
    }
}
