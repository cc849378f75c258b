//! `signet-server import --from URL`: a live reference notary-server with docker's token auth
//! on (tokens from a Signet token endpoint, as a hosted registry's auth service would issue
//! them), whose keys cannot be exported. Every version it serves is imported verbatim; the
//! repository is then served read-only (a publish is refused with a notary error naming the
//! handover) and the foreign timestamp's expiry is visible in `expiring`, `/metrics` and
//! the audit record.

use serde_json::{json, Value};
use signet_interop::admin::AdminClient;
use signet_interop::*;
use signet_server::store::{SqliteStore, Store};
use std::path::Path;
use std::process::Command;

const GUN: &str = "docker.io/acme/web";
/// Signs and may delete: what the reference's `key rotate` (scope `*`) needs.
const MIGRATOR: (&str, &str) = ("migrator", "migrator-pass");

/// A Signet holding Docker Hub names: registry `hub` (login server docker.io) with content
/// trust, and the migrator as signer and deleter.
fn hub_tenant(srv: &SignetServer) -> AdminClient {
    let api = AdminClient::new(srv);
    api.ok(
        "POST",
        "registries",
        json!({"name": "dockerhub", "loginServer": "docker.io", "sku": "Premium"}),
    );
    api.ok(
        "PUT",
        "registries/dockerhub/content-trust",
        json!({"status": "enabled"}),
    );
    api.ok(
        "POST",
        "identities",
        json!({"name": MIGRATOR.0, "password": MIGRATOR.1}),
    );
    for role in ["AcrImageSigner", "AcrDelete"] {
        api.ok(
            "POST",
            "role-assignments",
            json!({"registry": "dockerhub", "identity": MIGRATOR.0, "role": role}),
        );
    }
    api
}

fn import(bin: &Path, data_dir: &Path, args: &[&str], auth: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(bin);
    cmd.arg("import")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("SIGNET_SIGNER_PASSPHRASE", "interop-signer-pass")
        .env_remove("NOTARY_AUTH");
    if let Some(a) = auth {
        cmd.env("NOTARY_AUTH", a);
    }
    let out = cmd.output().expect("run signet-server import");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_live_notary_server_with_token_auth_is_imported_and_served_read_only() {
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
    // The source: the reference with token auth, its tokens from a Signet.
    let issuer = SignetServer::start();
    let issuer_api = hub_tenant(&issuer);
    let reference = NotaryServer::start_with_token_auth(&TokenAuth {
        realm: format!("{}/oauth2/token", issuer.url),
        // The trust service's name: its tokens name repositories by GUN.
        service: "signet".into(),
        issuer: "signet".into(),
        root_cert_bundle: issuer.data_dir.path().join("token-signing.crt"),
    });
    let files = tempfile::tempdir().unwrap();
    // notary trusts one CA file for the server and its token realm: a bundle of both.
    let both_cas = files.path().join("cas.pem");
    let mut pem = std::fs::read(&reference.ca_path).unwrap();
    pem.extend(std::fs::read(&issuer.ca_path).unwrap());
    std::fs::write(&both_cas, pem).unwrap();
    let owner = NotaryCli::new(&reference.url, &both_cas).with_auth(MIGRATOR.0, MIGRATOR.1);
    let init = owner.run(&["init", GUN]);
    assert!(
        init.status.success(),
        "{}\n{}",
        init.stdout,
        reference.logs()
    );
    let f1 = write_file(files.path(), "v1.bin", b"web 1.0");
    owner
        .run(&["add", GUN, "1.0", f1.to_str().unwrap()])
        .ok("add 1.0");
    owner.run(&["publish", GUN]).ok("publish 1.0");
    owner
        .run_with_input(&["key", "rotate", GUN, "root"], b"yes\n")
        .ok("rotate root");
    let f2 = write_file(files.path(), "v2.bin", b"web 2.0");
    owner
        .run(&["add", GUN, "2.0", f2.to_str().unwrap()])
        .ok("add 2.0");
    owner.run(&["publish", GUN]).ok("publish 2.0");
    let listed = owner.list(GUN);
    assert_eq!(listed.len(), 2, "{listed:?}");

    // Without credentials the token service refuses; nothing is stored.
    let empty = tempfile::tempdir().unwrap();
    let (code, out, _) = import(
        &bin,
        empty.path(),
        &[
            "--from",
            &reference.url,
            "--tlscacert",
            both_cas.to_str().unwrap(),
            "--gun",
            GUN,
        ],
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("refused {GUN}: source: {}: not authorized to read {GUN} (repository:{GUN}:pull): set NOTARY_AUTH to base64 of user:password", reference.url)),
        "{out}"
    );

    // Into a Signet serving docker.io, stopped while the admin command writes its store.
    let target = SignetServer::start();
    hub_tenant(&target);
    let target_dir = target.stop();
    let gun_file = write_file(
        files.path(),
        "guns.txt",
        format!("# to move\n{GUN}\n\n").as_bytes(),
    );
    let auth = basic_auth(MIGRATOR.0, MIGRATOR.1);
    let started = std::time::Instant::now();
    let (code, out, err) = import(
        &bin,
        target_dir.path(),
        &[
            "--from",
            &reference.url,
            "--tlscacert",
            both_cas.to_str().unwrap(),
            "--gun-file",
            gun_file.to_str().unwrap(),
            "--json",
        ],
        Some(&auth),
    );
    eprintln!("HTTP import took {:?}", started.elapsed());
    assert_eq!(code, 0, "{out}\n{err}");
    let summary: Value = serde_json::from_str(out.trim()).unwrap();
    let repo = &summary["repositories"][0];
    assert_eq!(repo["gun"], GUN, "{summary}");
    assert_eq!(repo["outcome"], "imported", "{summary}");
    assert!(
        repo["notes"]
            .to_string()
            .contains("the source gave no timestamp key"),
        "{summary}"
    );

    // Every version the reference serves, byte for byte.
    let store = SqliteStore::open(&target_dir.path().join("signet.sqlite")).unwrap();
    let versions = store.versions(GUN).unwrap();
    assert_eq!(
        repo["versions_imported"].as_u64(),
        Some(versions.len() as u64)
    );
    let roles = |r: &str| versions.iter().filter(|v| v.role == r).count();
    assert_eq!((roles("root"), roles("targets")), (2, 2), "{versions:?}");
    assert!(
        roles("snapshot") >= 3 && roles("timestamp") >= 3,
        "{versions:?}"
    );
    let token = issuer_api.token_for(MIGRATOR, "signet", &format!("repository:{GUN}:pull"));
    let agent = https_agent(&reference.ca_path);
    let mut history: Vec<(String, Vec<u8>)> = Vec::new();
    for v in &versions {
        let url = format!(
            "{}/v2/{GUN}/_trust/tuf/{}.{}.json",
            reference.url, v.version, v.role
        );
        let resp = agent
            .get(&url)
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let mut source = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut source).unwrap();
        let stored = store.by_version(GUN, &v.role, v.version).unwrap().unwrap();
        history.push((format!("{}.{}.json", v.version, v.role), source.clone()));
        assert_eq!(
            sha256_hex(&stored.bytes),
            sha256_hex(&source),
            "{} version {}",
            v.role,
            v.version
        );
    }
    drop(store);

    // Run again: identical, skipped.
    let (code, out, _) = import(
        &bin,
        target_dir.path(),
        &[
            "--from",
            &reference.url,
            "--tlscacert",
            both_cas.to_str().unwrap(),
            "--gun",
            GUN,
        ],
        Some(&auth),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with(&format!("skipped {GUN}: all ")), "{out}");

    // Served as imported: the owner's client moved to Signet reads it; a publish is refused.
    let signet = SignetServer::start_with(target_dir, Default::default(), vec![]);
    let signet_cas = files.path().join("signet-cas.pem");
    let mut pem = std::fs::read(&signet.ca_path).unwrap();
    pem.extend(std::fs::read(&issuer.ca_path).unwrap());
    std::fs::write(&signet_cas, pem).unwrap();
    let moved = owner.moved_to(&signet.url, &signet_cas);
    assert_eq!(moved.list(GUN), listed);
    let f3 = write_file(files.path(), "v3.bin", b"web 3.0");
    moved
        .run(&["add", GUN, "3.0", f3.to_str().unwrap()])
        .ok("add 3.0");
    let refused = moved.run(&["publish", GUN]);
    assert!(!refused.status.success(), "{}", refused.stdout);
    assert!(
        refused.stdout.contains(&format!("* fatal: An error occurred during validation: {GUN} was imported from another Notary server, whose timestamp key Signet does not hold: it is served read-only as imported (its imported timestamp expires ")),
        "{}",
        refused.stdout
    );

    // The refusal as the API sends it.
    let signet_api = AdminClient::new(&signet);
    let token = signet_api.token_for(MIGRATOR, "signet", &format!("repository:{GUN}:push,pull"));
    let body = b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"targets\"\r\n\r\n{\"signed\":{},\"signatures\":[]}\r\n--b--\r\n";
    let (status, text) = upload::send(
        https_agent(&signet.ca_path)
            .post(&format!("{}/v2/{GUN}/_trust/tuf/", signet.url))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "multipart/form-data; boundary=b"),
        body,
    );
    assert_eq!(status, 400, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["errors"][0]["code"], "INVALID_UPDATE", "{text}");
    let msg = v["errors"][0]["detail"]["Error"]["Msg"]
        .as_str()
        .unwrap_or_default();
    assert!(
        msg.starts_with(&format!("{GUN} was imported from another Notary server, whose timestamp key Signet does not hold: it is served read-only as imported (its imported timestamp expires "))
            && msg.ends_with(&format!("until the root key holder hands it over (signet migrate {GUN} --from <old server URL>), which rotates the timestamp key to Signet's")),
        "{text}"
    );

    // The handover's import endpoint, with the operator credential: only into a repository
    // Signet does not have, and only what verifies (here: root certificates naming another
    // repository). Nothing is stored.
    let operator = std::fs::read_to_string(signet.data_dir.path().join("operator.token"))
        .unwrap()
        .trim()
        .to_string();
    let post_import = |gun: &str| {
        let mut body = Vec::new();
        for (name, bytes) in &history {
            body.extend_from_slice(format!("--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n\r\n").as_bytes());
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--b--\r\n");
        let (status, text) = upload::send(
            https_agent(&signet.ca_path)
                .post(&format!("{}/v2/{gun}/_trust/signet/import", signet.url))
                .set("Authorization", &format!("Bearer {operator}"))
                .set("Content-Type", "multipart/form-data; boundary=b"),
            &body,
        );
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status} {text}"));
        (
            status,
            v["errors"][0]["code"].clone(),
            v["errors"][0]["detail"].clone(),
        )
    };
    assert_eq!(
        post_import(GUN),
        (
            400,
            json!("INVALID_UPDATE"),
            json!(format!("{GUN} already has trust data in Signet: only a repository that does not exist yet can be imported this way (the operator imports over existing data with signet-server import)"))
        )
    );
    const OTHER: &str = "docker.io/acme/other";
    let (status, code, detail) = post_import(OTHER);
    assert_eq!((status, code), (400, json!("INVALID_UPDATE")), "{detail}");
    assert!(
        detail
            .as_str()
            .is_some_and(|d| d.starts_with("root version 1: ")),
        "{detail}"
    );
    let store = SqliteStore::open(&signet.data_dir.path().join("signet.sqlite")).unwrap();
    assert!(store.versions(OTHER).unwrap().is_empty());
    drop(store);

    // The expiry: /metrics, `expiring`, the audit record.
    let metrics = https_agent(&signet.ca_path)
        .get(&format!("{}/metrics", signet.url))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "signet_repository_foreign_timestamp_expiry_timestamp_seconds{{gun=\"{GUN}\"}} "
        )),
        "{metrics}"
    );
    let out = Command::new(&bin)
        .args(["expiring", "--within", "30d", "--json", "--data-dir"])
        .arg(signet.data_dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("imported with another server's timestamp key, served read-only until then"),
        "{text}"
    );
    let (status, audit) = signet_api.call("GET", "audit?action=trust.import", None);
    assert_eq!(status, 200, "{audit}");
    let record = audit
        .as_array()
        .and_then(|a| a.iter().find(|r| r["target"] == GUN))
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(
        record["detail"]["foreign_server_keys"],
        json!(["timestamp"]),
        "{record}"
    );
    assert!(
        record["detail"]["timestamp_expires"].is_string(),
        "{record}"
    );
    assert_eq!(
        record["detail"]["source"],
        format!("notary-server {}", reference.url)
    );
}
