//! Signet's core against the reference notary-server 0.7 (with notary-signer over mutual
//! TLS): metadata produced by signet-tuf is accepted and read back by the notary CLI, keys
//! written by signet-keys are listed and used by it, and the same uploads get the same
//! verdicts from notary-server and from Signet.

use signet_interop::upload::{self, RepoKeys};
use signet_interop::*;
use signet_keys::passphrase::FixedPassphrase;

#[test]
fn signet_tuf_metadata_is_accepted_by_notary_server() {
    if !require_binaries(&["notary", "notary-server", "notary-signer"]) {
        return;
    }
    let ns = NotaryServer::start();
    let agent = https_agent(&ns.ca_path);
    let gun = "example.com/produced";
    let keys = RepoKeys::new(gun);
    let ts = upload::server_key(&agent, &ns.url, gun, "timestamp");
    let snap = upload::server_key(&agent, &ns.url, gun, "snapshot");
    // Target names with characters Go escapes in the envelope (<, >, &) must still hash and
    // verify identically on the server.
    let payload = b"produced by signet-tuf";
    let root = keys.root(1, &ts, &snap);
    let targets = keys.targets(1, &[("v1", payload), ("a<b>&c", b"escaped")]);
    let (status, body) = upload::post_update(
        &agent,
        &ns.url,
        gun,
        &[("root", &root), ("targets", &targets)],
    );
    assert_eq!(status, 200, "{body}");

    // notary-server's generated snapshot hashes its own re-serialisation of our files: it must
    // equal our bytes, or these checksum fetches would fail.
    let (_, snap_raw) = upload::get(
        &agent,
        &format!("{}/v2/{gun}/_trust/tuf/snapshot.json", ns.url),
    );
    let snapshot = signet_tuf::SignedSnapshot::from_bytes("snapshot", &snap_raw).unwrap();
    snapshot
        .signed
        .meta_for("root")
        .unwrap()
        .check_hashes("root", &root)
        .unwrap();
    snapshot
        .signed
        .meta_for("targets")
        .unwrap()
        .check_hashes("targets", &targets)
        .unwrap();

    let cli = NotaryCli::new(&ns.url, &ns.ca_path);
    let mut rows = cli.list(gun);
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (
                "a<b>&c".to_string(),
                sha256_hex(b"escaped"),
                7,
                "targets".to_string()
            ),
            (
                "v1".to_string(),
                sha256_hex(payload),
                payload.len() as u64,
                "targets".to_string()
            ),
        ]
    );
}

#[test]
fn signet_keys_files_are_listed_and_used_by_the_notary_cli() {
    if !require_binaries(&["notary", "notary-server", "notary-signer"]) {
        return;
    }
    let ns = NotaryServer::start();
    let cli = NotaryCli::new(&ns.url, &ns.ca_path);
    let store = signet_keys::store::KeyStore::new(cli.trust_dir.path());
    let root = signet_keys::PrivateKey::generate_ecdsa();
    store
        .add(&root, "root", None, &mut FixedPassphrase::new(ROOT_PASS))
        .unwrap();
    let targets = signet_keys::PrivateKey::generate_ecdsa();
    store
        .add(
            &targets,
            "targets",
            Some("example.com/keys"),
            &mut FixedPassphrase::new(REPO_PASS),
        )
        .unwrap();

    let list = cli.run(&["key", "list"]).ok("key list");
    let line_of = |id: &str| {
        list.stdout
            .lines()
            .find(|l| l.contains(id))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    let r =
        line_of(root.id().as_str()).unwrap_or_else(|| panic!("root key listed: {}", list.stdout));
    assert_eq!(r[0], "root");
    let t = line_of(targets.id().as_str())
        .unwrap_or_else(|| panic!("targets key listed: {}", list.stdout));
    assert_eq!(&t[..2], &["targets", "example.com/keys"]);

    // notary init uses the existing root key: it must decrypt our file and sign with it.
    cli.run(&["init", "example.com/keys"]).ok("init");
    cli.run(&["publish", "example.com/keys"]).ok("publish");
    let agent = https_agent(&ns.ca_path);
    let (_, raw) = upload::get(
        &agent,
        &format!("{}/v2/example.com/keys/_trust/tuf/root.json", ns.url),
    );
    let published = signet_tuf::SignedRoot::from_bytes("root", &raw).unwrap();
    let root_keys = published.signed.role_keys("root").unwrap();
    assert_eq!(
        root_keys
            .keys
            .values()
            .next()
            .unwrap()
            .canonical_id()
            .unwrap(),
        root.id()
    );
}

/// One upload scenario, run against both servers.
type Scenario = fn(&ureq::Agent, &str, &str) -> (u16, String);

fn first_publish(agent: &ureq::Agent, url: &str, gun: &str) -> (u16, String) {
    let keys = RepoKeys::new(gun);
    let ts = upload::server_key(agent, url, gun, "timestamp");
    let snap = upload::server_key(agent, url, gun, "snapshot");
    upload::post_update(
        agent,
        url,
        gun,
        &[
            ("root", &keys.root(1, &ts, &snap)),
            ("targets", &keys.targets(1, &[])),
        ],
    )
}

/// Publishes v1, then runs `then` with the keys.
fn after_publish(
    agent: &ureq::Agent,
    url: &str,
    gun: &str,
    then: impl FnOnce(&RepoKeys) -> Vec<(String, Vec<u8>)>,
) -> (u16, String) {
    let keys = RepoKeys::new(gun);
    let ts = upload::server_key(agent, url, gun, "timestamp");
    let snap = upload::server_key(agent, url, gun, "snapshot");
    let (s, b) = upload::post_update(
        agent,
        url,
        gun,
        &[
            ("root", &keys.root(1, &ts, &snap)),
            ("targets", &keys.targets(2, &[])),
        ],
    );
    assert_eq!(s, 200, "setup publish: {b}");
    let parts = then(&keys);
    let refs: Vec<(&str, &[u8])> = parts
        .iter()
        .map(|(r, b)| (r.as_str(), b.as_slice()))
        .collect();
    upload::post_update(agent, url, gun, &refs)
}

fn stale_targets(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    after_publish(a, u, g, |k| {
        vec![("targets".into(), k.targets(1, &[("x", b"x")]))]
    })
}
fn same_version_targets(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    after_publish(a, u, g, |k| {
        vec![("targets".into(), k.targets(2, &[("x", b"x")]))]
    })
}
fn next_targets(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    after_publish(a, u, g, |k| {
        vec![("targets".into(), k.targets(3, &[("x", b"x")]))]
    })
}
fn targets_wrong_key(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    after_publish(a, u, g, |k| {
        let other = signet_keys::PrivateKey::generate_ecdsa();
        vec![(
            "targets".into(),
            k.targets_signed_by(3, &[("x", b"x")], &other),
        )]
    })
}
fn forged_fixture(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    let forged = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/notary-0.7/forged-targets-bad-signature.json"
    ))
    .unwrap();
    after_publish(a, u, g, move |_| vec![("targets".into(), forged)])
}
fn root_version_jump(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    let keys = RepoKeys::new(g);
    let ts = upload::server_key(a, u, g, "timestamp");
    let snap = upload::server_key(a, u, g, "snapshot");
    upload::post_update(
        a,
        u,
        g,
        &[
            ("root", &keys.root(3, &ts, &snap)),
            ("targets", &keys.targets(1, &[])),
        ],
    )
}
fn root_wrong_cn(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    let keys = RepoKeys::new("example.com/somebody-else");
    let ts = upload::server_key(a, u, g, "timestamp");
    let snap = upload::server_key(a, u, g, "snapshot");
    upload::post_update(
        a,
        u,
        g,
        &[
            ("root", &keys.root(1, &ts, &snap)),
            ("targets", &keys.targets(1, &[])),
        ],
    )
}
fn no_root(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    let keys = RepoKeys::new(g);
    upload::post_update(a, u, g, &[("targets", &keys.targets(1, &[]))])
}
fn malformed_json(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    upload::post_update(a, u, g, &[("targets", b"{not json")])
}
fn invalid_role(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    upload::post_update(a, u, g, &[("targets/UPPER", b"{}")])
}
fn no_filename(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    upload::post_update(a, u, g, &[("", b"{}")])
}
fn not_multipart(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    upload::send(
        a.post(&format!("{u}/v2/{g}/_trust/tuf/"))
            .set("Content-Type", "application/json"),
        b"{}",
    )
}
fn missing_gun(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    let (s, b) = upload::get(a, &format!("{u}/v2/{g}/_trust/tuf/root.json"));
    (s, String::from_utf8_lossy(&b).into_owned())
}
fn head_request(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    upload::send(
        a.request("HEAD", &format!("{u}/v2/{g}/_trust/tuf/root.json")),
        b"",
    )
}
fn delegation_not_in_parent(a: &ureq::Agent, u: &str, g: &str) -> (u16, String) {
    after_publish(a, u, g, |k| {
        let d = signet_keys::PrivateKey::generate_ecdsa();
        let mut t = signet_tuf::Targets::new(signet_tuf::GoTime::from_instant(
            time::OffsetDateTime::now_utc() + time::Duration::days(30),
        ));
        t.version = 1;
        let id = d.id();
        let _ = k;
        vec![(
            "targets/releases".into(),
            signet_tuf::sign_and_serialize("targets/releases", &t, &[(&id, &d)]).unwrap(),
        )]
    })
}

#[test]
fn same_uploads_get_the_same_verdicts_from_notary_server_and_signet() {
    if !require_binaries(&["notary-server", "notary-signer"]) {
        return;
    }
    let ns = NotaryServer::start();
    let sg = SignetServer::start();
    let ns_agent = https_agent(&ns.ca_path);
    let sg_agent = https_agent(&sg.ca_path);
    let table: &[(&str, Scenario)] = &[
        ("first publish", first_publish),
        ("next targets version", next_targets),
        ("stale targets version", stale_targets),
        ("same targets version", same_version_targets),
        ("targets signed by an unknown key", targets_wrong_key),
        ("forged targets (reference fixture)", forged_fixture),
        ("root version jump", root_version_jump),
        ("root certificate CN is another GUN", root_wrong_cn),
        ("no root anywhere", no_root),
        ("malformed JSON part", malformed_json),
        ("invalid role name", invalid_role),
        ("part without file name", no_filename),
        ("body not multipart", not_multipart),
        ("delegation missing from parent", delegation_not_in_parent),
        ("GET of a missing GUN", missing_gun),
        ("HEAD of metadata", head_request),
    ];
    let mut report = Vec::new();
    for (i, (name, scenario)) in table.iter().enumerate() {
        let gun = format!("example.com/diff-{i}");
        let (ns_status, ns_body) = scenario(&ns_agent, &ns.url, &gun);
        let (sg_status, sg_body) = scenario(&sg_agent, &sg.url, &gun);
        let ns_verdict = (
            ns_status,
            upload::error_code(&ns_body),
            upload::error_detail_name(&ns_body),
        );
        let sg_verdict = (
            sg_status,
            upload::error_code(&sg_body),
            upload::error_detail_name(&sg_body),
        );
        eprintln!("{name}: {ns_verdict:?}");
        if ns_verdict != sg_verdict {
            report.push(format!("{name}: notary-server {ns_verdict:?} {ns_body:?} vs Signet {sg_verdict:?} {sg_body:?}"));
        }
    }
    assert!(report.is_empty(), "verdicts differ:\n{}", report.join("\n"));
}

/// The changefeed's paging (`change_id`, `records`, forwards, backwards, out of range) as
/// notary-server 0.7 answers it on PostgreSQL, its production storage: same status, same code,
/// same records.
#[test]
fn changefeed_pages_as_notary_server_on_postgres_does() {
    if !Postgres::available() || !require_binaries(&["notary-server", "notary-signer"]) {
        return;
    }
    let pg = Postgres::start();
    let server_db = pg.create_database("notaryserver");
    pg.psql("notaryserver", NOTARY_SERVER_PG_SCHEMA);
    let reference = NotaryServer::start_with_storage(Some(&server_db));
    let signet = SignetServer::start();
    let servers = [
        (
            "notary-server",
            https_agent(&reference.ca_path),
            reference.url.clone(),
        ),
        ("Signet", https_agent(&signet.ca_path), signet.url.clone()),
    ];
    // The same four publishes on each: two repositories, interleaved.
    for (name, agent, url) in &servers {
        let mut keys = Vec::new();
        for gun in ["example.com/feed1", "example.com/feed2"] {
            let k = RepoKeys::new(gun);
            let ts = upload::server_key(agent, url, gun, "timestamp");
            let snap = upload::server_key(agent, url, gun, "snapshot");
            let root = k.root(1, &ts, &snap);
            keys.push((gun, k, root));
        }
        for (i, v) in [(0, 1), (0, 2), (1, 1), (0, 3)] {
            let (gun, k, root) = &keys[i];
            let targets = k.targets(v, &[]);
            let mut parts: Vec<(&str, &[u8])> = vec![("targets", &targets)];
            if v == 1 {
                parts.insert(0, ("root", root));
            }
            let (s, body) = upload::post_update(agent, url, gun, &parts);
            assert_eq!(s, 200, "{name} {gun} v{v}: {body}");
        }
    }
    let answer = |agent: &ureq::Agent, url: &str, path: &str| {
        let (status, body) = upload::get(agent, &format!("{url}{path}"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let records: Vec<String> = v["records"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        format!(
                            "{} {} v{} {}",
                            r["ID"], r["GUN"], r["Version"], r["Category"]
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        (
            status,
            upload::error_code(&String::from_utf8_lossy(&body)),
            v["count"].clone(),
            records,
        )
    };
    let mut compared = 0;
    let mut differences = Vec::new();
    for feed in [
        "/v2/_trust/changefeed",
        "/v2/example.com/feed1/_trust/changefeed",
    ] {
        for change_id in [
            "",
            "0",
            "1",
            "2",
            "4",
            "-1",
            "-3",
            "+2",
            "2147483648",
            "99999999999",
            "abc",
        ] {
            for records in ["", "0", "1", "2", "5", "-1", "-2", "-5"] {
                let path = format!("{feed}?change_id={change_id}&records={records}");
                let theirs = answer(&servers[0].1, &servers[0].2, &path);
                let ours = answer(&servers[1].1, &servers[1].2, &path);
                compared += 1;
                if theirs != ours {
                    differences.push(format!(
                        "{path}:\n  notary-server {theirs:?}\n  Signet        {ours:?}"
                    ));
                }
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {compared} changefeed requests differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
    eprintln!("{compared} changefeed requests answered alike");
}
