//! Real clients through Signet's token auth: the docker 28 CLI with dockerd 20.10 and a
//! distribution 2.8 registry (`auth: token`, tokens from Signet), and the notary 0.7 CLI,
//! against two Premium registries with content trust enabled.
//!
//! Who may do what (see `server/src/tenancy/model.rs`): `signer` (AcrImageSigner + AcrPush)
//! pushes images and signs; `puller` (AcrPull) reads trust data and pulls images; `owner`
//! (Owner only) and the registry's admin user push images but never sign. The docker CLI
//! sends the credentials stored for the registry (`registry.test:<port>` in config.json) to
//! the trust server's token endpoint too; dockerd sends them to the registry's realm.
//!
//! Client texts observed (and asserted) here:
//! - refused signing: `failed to sign <repo>:<tag>: you are not authorized to perform this
//!   operation: server returned 401.` (docker), `* fatal: you are not authorized to perform
//!   this operation: server returned 401.` (notary, on stdout);
//! - refused image push: `denied: requested access to the resource is denied`;
//! - content trust disabled: `An error occurred during validation: content trust is disabled
//!   for registry <name> (<login server>); an operator must enable it first` (docker pull,
//!   notary list, `docker --debug trust inspect`); plain `docker trust inspect` only says
//!   `no signatures or cannot access <repo>`;
//! - after a disable/re-enable, a client still caching the GUN: `signer add` gets `Metadata
//!   hierarchy is incomplete: no snapshot was included in update and server does not hold
//!   current snapshot key for repository`; a reader gets (with --debug) `could not rotate
//!   trust to a new trusted root: failed to validate data with current trusted certificates`.

use serde_json::{json, Value};
use signet_interop::admin::AdminClient;
use signet_interop::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Registry names (the first one is also its admin user's user name).
const FIRST: &str = "contoso";
const SECOND: &str = "fabrikam";
/// The second registry's login server: only trust clients talk to it, no daemon.
const OTHER_HOST: &str = "other.test:5443";
const SIGNER: (&str, &str) = ("signer", "signer-pass");
const PULLER: (&str, &str) = ("puller", "puller-pass");
const OWNER: (&str, &str) = ("owner", "owner-pass");

const REFUSED_401: &str = "you are not authorized to perform this operation: server returned 401.";
const PUSH_DENIED: &str = "denied: requested access to the resource is denied";

fn disabled_msg(host: &str) -> String {
    format!(
        "An error occurred during validation: content trust is disabled for registry {FIRST} \
         ({host}); an operator must enable it first"
    )
}

/// One signed tag of `docker trust inspect`: tag, digest (hex), signer names.
type SignedTag = (String, String, Vec<String>);

/// Everything the steps share. Fields drop in order: clients, dockerd, registry, Signet.
struct World {
    signer: DockerCli,
    puller: DockerCli,
    owner: DockerCli,
    admin: DockerCli,
    keys: tempfile::TempDir,
    daemon: Dockerd,
    registry: Registry,
    port: u16,
    host: String,
    repo: String,
    api: AdminClient,
    srv: SignetServer,
}

impl World {
    fn start() -> World {
        let srv = SignetServer::start();
        let api = AdminClient::new(&srv);
        let bundle = srv.data_dir.path().join("token-signing.crt");
        assert!(bundle.is_file(), "no token-signing.crt in the data dir");
        let port = free_port();
        let host = format!("{REGISTRY_NAME}:{port}");
        let registry = Registry::start_with_token_auth_on(
            port,
            &TokenAuth {
                realm: format!("https://127.0.0.1:{}/oauth2/token", srv.addr.port()),
                service: host.clone(),
                issuer: "signet".into(),
                root_cert_bundle: bundle,
            },
        );
        let daemon = Dockerd::start(port);

        // Two Premium registries with content trust; three identities.
        let created = api.ok(
            "POST",
            "registries",
            json!({"name": FIRST, "loginServer": host, "sku": "Premium", "adminUserEnabled": true}),
        );
        let admin_pw = created["adminCredentials"]["password"]
            .as_str()
            .expect("admin password returned on create")
            .to_string();
        api.ok(
            "POST",
            "registries",
            json!({"name": SECOND, "loginServer": OTHER_HOST, "sku": "Premium"}),
        );
        for r in [FIRST, SECOND] {
            let v = api.ok(
                "PUT",
                &format!("registries/{r}/content-trust"),
                json!({"status": "enabled"}),
            );
            assert_eq!(v, json!({"status": "enabled", "type": "Notary"}));
        }
        for (name, pw) in [SIGNER, PULLER, OWNER] {
            api.ok("POST", "identities", json!({"name": name, "password": pw}));
        }
        for (reg, who, role) in [
            (FIRST, SIGNER.0, "AcrImageSigner"),
            (FIRST, SIGNER.0, "AcrPush"),
            // The notary CLI signs on the second registry with the same identity.
            (SECOND, SIGNER.0, "AcrImageSigner"),
            (FIRST, PULLER.0, "AcrPull"),
            (FIRST, OWNER.0, "Owner"),
        ] {
            api.ok(
                "POST",
                "role-assignments",
                json!({"registry": reg, "identity": who, "role": role}),
            );
        }

        let cli_for = |user: &str, pw: &str| {
            let cli = DockerCli::new(&srv.url, Some(&srv.ca_path));
            cli.login(&host, user, pw);
            cli
        };
        World {
            signer: cli_for(SIGNER.0, SIGNER.1),
            puller: cli_for(PULLER.0, PULLER.1),
            owner: cli_for(OWNER.0, OWNER.1),
            admin: cli_for(FIRST, &admin_pw),
            keys: tempfile::tempdir().expect("tempdir"),
            daemon,
            registry,
            port,
            repo: format!("{host}/app"),
            host,
            api,
            srv,
        }
    }

    fn logs(&self) -> String {
        format!(
            "--- registry ---\n{}\n--- dockerd ---\n{}",
            self.registry.log_tail(),
            self.daemon.log_tail()
        )
    }

    fn tag(&self, tag: &str) -> String {
        format!("{}:{tag}", self.repo)
    }

    /// Panics with both streams and the logs unless the command succeeded.
    fn ok(&self, out: Run, what: &str) -> Run {
        assert!(
            out.status.success(),
            "{what} failed ({}):\nstdout: {}\nstderr: {}\n{}",
            out.status,
            out.stdout,
            out.stderr,
            self.logs()
        );
        out
    }

    /// Asserts the command failed and printed `needle` (on either stream).
    fn fails_with(&self, out: &Run, needle: &str, what: &str) {
        assert!(
            !out.status.success() && format!("{}{}", out.stdout, out.stderr).contains(needle),
            "{what}: expected failure with {needle:?}, got {}:\nstdout: {}\nstderr: {}\n{}",
            out.status,
            out.stdout,
            out.stderr,
            self.logs()
        );
    }

    /// `docker trust key generate <name>` in `cli`'s trust store; returns the public key.
    fn key_generate(&self, cli: &DockerCli, name: &str) -> PathBuf {
        let dir = self.keys.path().to_str().expect("utf-8 path");
        let out = cli.run(&["trust", "key", "generate", name, "--dir", dir]);
        let out = self.ok(out, "trust key generate");
        assert!(
            out.stdout
                .contains("Successfully generated and loaded private key"),
            "{}",
            out.stdout
        );
        self.keys.path().join(format!("{name}.pub"))
    }

    /// `docker trust signer add` as `signer` (who holds the repository's targets key).
    fn signer_add(&self, name: &str, key: &Path) -> Run {
        self.signer.run(&[
            "trust",
            "signer",
            "add",
            "--key",
            key.to_str().expect("utf-8 path"),
            name,
            &self.repo,
        ])
    }

    /// `docker trust inspect` (JSON): signed tags and signer names.
    fn inspect(&self, cli: &DockerCli) -> (Vec<SignedTag>, Vec<String>) {
        let out = self.ok(cli.run(&["trust", "inspect", &self.repo]), "trust inspect");
        let v: Value = serde_json::from_str(&out.stdout).expect("trust inspect JSON");
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let tags = v[0]["SignedTags"]
            .as_array()
            .expect("SignedTags")
            .iter()
            .map(|t| {
                (
                    t["SignedTag"].as_str().unwrap_or_default().to_string(),
                    t["Digest"].as_str().unwrap_or_default().to_string(),
                    strings(&t["Signers"]),
                )
            })
            .collect();
        let signers = v[0]["Signers"]
            .as_array()
            .expect("Signers")
            .iter()
            .map(|s| s["Name"].as_str().unwrap_or_default().to_string())
            .collect();
        (tags, signers)
    }

    /// The registry's tags of `app`, read with a registry-service token for `signer`.
    fn registry_tags(&self) -> Vec<String> {
        let token = self
            .api
            .token_for(SIGNER, &self.host, "repository:app:pull");
        let resp = ureq::get(&format!("http://127.0.0.1:{}/v2/app/tags/list", self.port))
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap_or_else(|e| panic!("tags/list: {e}\n{}", self.logs()));
        let v: Value =
            serde_json::from_str(&resp.into_string().expect("tags body")).expect("tags JSON");
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        tags.sort();
        tags
    }

    /// How many metadata files the server holds for the repository, counted over HTTP:
    /// every stored version `<v>.<role>.json`, v = 1..current, of root, targets, snapshot,
    /// timestamp and each delegation file. (Versions need not start at 1: docker's first
    /// publish writes targets version 2.)
    fn stored_files(&self) -> usize {
        let token = self
            .api
            .token_for(SIGNER, "signet", &format!("repository:{}:pull", self.repo));
        let get = |file: &str| -> Option<Value> {
            let url = format!("{}/v2/{}/_trust/tuf/{file}.json", self.srv.url, self.repo);
            let req = upload::authorized(self.api.agent.get(&url), Some(&token));
            let (status, text) = upload::send(req, b"");
            match status {
                200 => Some(serde_json::from_str(&text).expect("metadata JSON")),
                404 => None,
                other => panic!("GET {file}.json: {other} {text}"),
            }
        };
        let mut current: Vec<(String, Value)> = ["root", "targets", "snapshot", "timestamp"]
            .iter()
            .map(|r| (r.to_string(), get(r).unwrap_or_else(|| panic!("{r}.json"))))
            .collect();
        let mut pending = vec![current[1].1.clone()];
        while let Some(parent) = pending.pop() {
            for d in parent["signed"]["delegations"]["roles"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let name = d["name"].as_str().expect("delegation name").to_string();
                if let Some(file) = get(&name) {
                    pending.push(file.clone());
                    current.push((name, file));
                }
            }
        }
        current
            .iter()
            .map(|(role, file)| {
                let latest = file["signed"]["version"].as_u64().expect("version");
                (1..=latest)
                    .filter(|v| get(&format!("{v}.{role}")).is_some())
                    .count()
            })
            .sum()
    }
}

/// The first digest `docker push` reports (`<tag>: digest: sha256:… size: N`).
fn pushed_digest(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|l| l.split("digest: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string)
}

fn hex_of(digest: &str) -> String {
    digest.trim_start_matches("sha256:").to_string()
}

#[test]
fn docker_and_notary_through_token_auth() {
    if !require_binaries(&["dockerd", "docker-registry", "unshare", "docker", "notary"]) {
        return;
    }
    let started = Instant::now();
    let w = World::start();
    let (v1, v2) = signer_signs_and_pushes(&w);
    puller_reads_and_pulls_but_cannot_sign_or_push(&w, &v1, &v2);
    owner_and_admin_cannot_sign(&w, &v1, &v2);
    let (gun2, row) = notary_on_the_second_registry(&w);
    disable_wipes_and_reenable_starts_over(&w, &gun2, &row);
    eprintln!(
        "docker_and_notary_through_token_auth: {:?}",
        started.elapsed()
    );
}

/// 1. `signer` creates the repository with a delegation, signs v1 with `docker trust sign`
///    (which pushes the local image) and v2 with a content-trust `docker push`.
fn signer_signs_and_pushes(w: &World) -> (String, String) {
    let key = w.key_generate(&w.signer, "signer");
    let add = w.ok(w.signer_add("signer", &key), "signer add signer");
    assert!(
        add.stdout
            .contains(&format!("Successfully initialized \"{}\"", w.repo))
            && add
                .stdout
                .contains(&format!("Successfully added signer: signer to {}", w.repo)),
        "{}",
        add.stdout
    );

    w.daemon.import_image(&w.tag("v1"), b"first image\n");
    let sign = w
        .signer
        .run_with_daemon(&w.daemon, &["trust", "sign", &w.tag("v1")]);
    let sign = w.ok(sign, "signer: trust sign v1");
    assert!(
        sign.stdout
            .contains(&format!("Successfully signed {}", w.tag("v1"))),
        "{}",
        sign.stdout
    );
    let v1 = pushed_digest(&sign.stdout).expect("trust sign pushed v1 with a digest");

    w.daemon.import_image(&w.tag("v2"), b"second image\n");
    let push = w.signer.run_with_daemon(&w.daemon, &["push", &w.tag("v2")]);
    let push = w.ok(push, "signer: signed push v2");
    assert!(
        push.stdout
            .contains(&format!("Successfully signed {}", w.tag("v2"))),
        "{}",
        push.stdout
    );
    let v2 = pushed_digest(&push.stdout).expect("pushed v2 digest");
    assert_ne!(v1, v2);

    let (tags, signers) = w.inspect(&w.signer);
    assert_eq!(
        tags,
        vec![
            ("v1".into(), hex_of(&v1), vec!["signer".into()]),
            ("v2".into(), hex_of(&v2), vec!["signer".into()]),
        ]
    );
    assert_eq!(signers, ["signer"]);
    assert_eq!(w.registry_tags(), ["v1", "v2"]);
    (v1, v2)
}

/// 2. `puller` (AcrPull) sees the signatures and pulls by the signed digest; made a
///    delegation signer by `signer`, its key is valid but the server refuses its publish;
///    its image push is refused by the registry.
fn puller_reads_and_pulls_but_cannot_sign_or_push(w: &World, v1: &str, v2: &str) {
    let (tags, _) = w.inspect(&w.puller);
    assert_eq!(
        tags.iter().map(|t| (&*t.0, &*t.1)).collect::<Vec<_>>(),
        [("v1", &*hex_of(v1)), ("v2", &*hex_of(v2))]
    );
    // notary reads the same targets with the puller's credentials (docker signs into
    // targets/releases and the signer's own role; size is the manifest's).
    let npuller = NotaryCli::new(&w.srv.url, &w.srv.ca_path).with_auth(PULLER.0, PULLER.1);
    let rows = npuller.list(&w.repo);
    for (tag, digest) in [("v1", v1), ("v2", v2)] {
        assert!(
            rows.iter().any(|r| r.0 == tag && r.1 == hex_of(digest)),
            "{tag} {digest} not in notary list: {rows:?}"
        );
    }

    w.ok(
        w.signer.run_with_daemon(&w.daemon, &["rmi", &w.tag("v1")]),
        "rmi v1",
    );
    let pull = w.puller.run_with_daemon(&w.daemon, &["pull", &w.tag("v1")]);
    let pull = w.ok(pull, "puller: trusted pull v1");
    assert!(
        pull.stdout
            .contains(&format!("Pull (1 of 1): {}@{v1}", w.tag("v1")))
            && pull.stdout.contains(&format!("Digest: {v1}")),
        "{}",
        pull.stdout
    );
    assert!(
        pull.stderr
            .contains(&format!("Tagging {}@{v1} as {}", w.repo, w.tag("v1"))),
        "{}",
        pull.stderr
    );

    // Without a key in the repository docker would stop locally ("no valid signing keys");
    // as a listed delegation the refusal can only come from the server.
    let key = w.key_generate(&w.puller, "puller");
    w.ok(w.signer_add("puller", &key), "signer add puller");
    let sign = w.puller.run(&["trust", "sign", &w.tag("v1")]);
    w.fails_with(
        &sign,
        &format!("failed to sign {}: {REFUSED_401}", w.tag("v1")),
        "puller: trust sign",
    );

    w.ok(
        w.signer
            .run_with_daemon(&w.daemon, &["tag", &w.tag("v2"), &w.tag("bypuller")]),
        "tag bypuller",
    );
    let push = w
        .puller
        .run_with_daemon(&w.daemon, &["push", &w.tag("bypuller")]);
    w.fails_with(&push, PUSH_DENIED, "puller: image push");
    assert!(!push.stdout.contains("Signing"), "{}", push.stdout);
    assert_eq!(w.registry_tags(), ["v1", "v2"]);
}

/// 3. `owner` (Owner) and the admin user push images but are refused signing exactly like
///    the puller, even as listed delegation signers.
fn owner_and_admin_cannot_sign(w: &World, v1: &str, v2: &str) {
    for (name, cli) in [(OWNER.0, &w.owner), (FIRST, &w.admin)] {
        let key = w.key_generate(cli, name);
        w.ok(w.signer_add(name, &key), "signer add");
        let sign = cli.run(&["trust", "sign", &w.tag("v1")]);
        w.fails_with(
            &sign,
            &format!("failed to sign {}: {REFUSED_401}", w.tag("v1")),
            &format!("{name}: trust sign"),
        );
    }
    // The admin user's content-trust push: the image goes in, the signature does not.
    w.daemon.import_image(&w.tag("v3"), b"third image\n");
    let push = w.admin.run_with_daemon(&w.daemon, &["push", &w.tag("v3")]);
    w.fails_with(
        &push,
        &format!("failed to sign {}: {REFUSED_401}", w.tag("v3")),
        "admin: signed push v3",
    );
    assert!(
        pushed_digest(&push.stdout).is_some(),
        "admin's image push: {}",
        push.stdout
    );
    assert_eq!(w.registry_tags(), ["v1", "v2", "v3"]);

    let (tags, mut signers) = w.inspect(&w.puller);
    assert_eq!(
        tags,
        vec![
            ("v1".into(), hex_of(v1), vec!["signer".into()]),
            ("v2".into(), hex_of(v2), vec!["signer".into()]),
        ],
        "only signer's signatures, no v3"
    );
    signers.sort();
    assert_eq!(signers, [FIRST, "owner", "puller", "signer"]);
}

/// 4. The notary CLI with `NOTARY_AUTH` on the second registry: the signer publishes,
///    the puller (no role there) is refused even a read.
fn notary_on_the_second_registry(w: &World) -> (String, (String, String, u64, String)) {
    let gun = format!("{OTHER_HOST}/lib/app");
    let nsigner = NotaryCli::new(&w.srv.url, &w.srv.ca_path).with_auth(SIGNER.0, SIGNER.1);
    let files = tempfile::tempdir().expect("tempdir");
    let content = b"notary target\n";
    let file = write_file(files.path(), "t1.bin", content);
    nsigner.run(&["init", &gun]).ok("notary init");
    let add = nsigner
        .run(&["add", &gun, "t1", file.to_str().expect("utf-8 path")])
        .ok("notary add");
    assert!(
        add.stdout.contains(&format!(
            "Addition of target \"t1\" to repository \"{gun}\" staged for next publish."
        )),
        "{}",
        add.stdout
    );
    let publish = nsigner.run(&["publish", &gun]).ok("notary publish");
    assert!(
        publish.stdout.contains(&format!(
            "Successfully published changes for repository {gun}"
        )),
        "{}",
        publish.stdout
    );
    let row = (
        "t1".to_string(),
        sha256_hex(content),
        content.len() as u64,
        "targets".to_string(),
    );
    // Read back through a fresh trust dir (no cache), same identity.
    let reader = NotaryCli::new(&w.srv.url, &w.srv.ca_path).with_auth(SIGNER.0, SIGNER.1);
    assert_eq!(reader.list(&gun), vec![row.clone()]);

    let npuller = NotaryCli::new(&w.srv.url, &w.srv.ca_path).with_auth(PULLER.0, PULLER.1);
    let out = npuller.run(&["list", &gun]);
    // notary prints its fatal errors on stdout.
    w.fails_with(
        &out,
        &format!("* fatal: {REFUSED_401}"),
        "puller: notary list",
    );
    (gun, row)
}

/// 5. Disabling content trust wipes the first registry's trust data (only it); clients get
///    the explicit error. Re-enabled, a fresh `docker trust signer add` starts a new root.
fn disable_wipes_and_reenable_starts_over(
    w: &World,
    gun2: &str,
    row2: &(String, String, u64, String),
) {
    let files = w.stored_files();
    let old_root = root_key_ids(&w.signer, &w.repo);
    let v = w.api.ok(
        "PUT",
        &format!("registries/{FIRST}/content-trust"),
        json!({"status": "disabled"}),
    );
    assert_eq!(
        v,
        json!({"status": "disabled", "type": "Notary",
               "trustDataRemoved": {"repositories": 1, "files": files}})
    );

    let disabled = disabled_msg(&w.host);
    let pull = w.puller.run_with_daemon(&w.daemon, &["pull", &w.tag("v1")]);
    w.fails_with(&pull, &disabled, "puller: trusted pull after disable");
    // Plain `trust inspect` hides the cause; with --debug docker logs notary's error.
    let inspect = w.puller.run(&["trust", "inspect", &w.repo]);
    w.fails_with(
        &inspect,
        &format!("no signatures or cannot access {}", w.repo),
        "trust inspect after disable",
    );
    let inspect = w.signer.run(&["--debug", "trust", "inspect", &w.repo]);
    w.fails_with(&inspect, &disabled, "trust inspect --debug after disable");
    let nsigner = NotaryCli::new(&w.srv.url, &w.srv.ca_path).with_auth(SIGNER.0, SIGNER.1);
    let list = nsigner.run(&["list", &w.repo]);
    w.fails_with(
        &list,
        &format!("* fatal: {disabled}"),
        "notary list after disable",
    );
    // The second registry keeps its trust data.
    assert_eq!(nsigner.list(gun2), vec![row2.clone()]);

    let v = w.api.ok(
        "PUT",
        &format!("registries/{FIRST}/content-trust"),
        json!({"status": "enabled"}),
    );
    assert_eq!(v, json!({"status": "enabled", "type": "Notary"}));

    // What a client that used the repository before needs: notary 0.7 answers the empty
    // repository's 404 on timestamp.json by falling back to its cached TUF data ("using
    // cached timestamp"), so it still shows the old tags, and `signer add` re-publishes
    // the cached root with new targets — which Signet refuses, because the wipe also
    // removed the repository's server-managed snapshot key. Removing the GUN's cache,
    // $DOCKER_CONFIG/trust/tuf/<gun>/, is enough (private keys stay: the root key is reused
    // under a new certificate); a fresh DOCKER_CONFIG works the same way.
    let (stale_tags, _) = w.inspect(&w.signer);
    assert_eq!(
        stale_tags.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
        ["v1", "v2"],
        "the stale cache still shows the old tags"
    );
    let fresh_key = w.key_generate(&w.signer, "fresh");
    let stale = w.signer_add("fresh", &fresh_key);
    w.fails_with(
        &stale,
        "Metadata hierarchy is incomplete: no snapshot was included in update and server \
         does not hold current snapshot key for repository",
        "signer add with the stale cache",
    );
    assert!(
        stale.stderr.contains("using cached timestamp"),
        "{}",
        stale.stderr
    );

    std::fs::remove_dir_all(w.signer.trust_dir().join("tuf").join(&w.repo))
        .expect("remove the GUN's TUF cache");
    let add = w.ok(
        w.signer_add("fresh", &fresh_key),
        "signer add after re-enable",
    );
    assert!(
        add.stdout
            .contains(&format!("Successfully initialized \"{}\"", w.repo))
            && add
                .stdout
                .contains(&format!("Successfully added signer: fresh to {}", w.repo)),
        "{}",
        add.stdout
    );
    let (tags, signers) = w.inspect(&w.signer);
    assert_eq!((tags, signers), (vec![], vec!["fresh".to_string()]));
    let new_root = root_key_ids(&w.signer, &w.repo);
    assert_ne!(new_root, old_root, "a new root.json with a new certificate");
    // The signer's trust store still holds one root key: it was reused.
    let roots = signet_keys::store::KeyStore::new(w.signer.trust_dir())
        .list()
        .expect("list keys")
        .into_iter()
        .filter(|k| k.role == "root")
        .count();
    assert_eq!(roots, 1);
    // A reader that cached the old repository pinned the old root certificate: the new
    // root is not signed by it, so notary refuses the rotation until that cache is gone.
    let stale = w.puller.run(&["--debug", "trust", "inspect", &w.repo]);
    w.fails_with(
        &stale,
        "could not rotate trust to a new trusted root: failed to validate data with current \
         trusted certificates",
        "puller with the old cache after re-initialisation",
    );
    std::fs::remove_dir_all(w.puller.trust_dir().join("tuf").join(&w.repo))
        .expect("remove the puller's TUF cache");
    assert_eq!(w.inspect(&w.puller), (vec![], vec!["fresh".to_string()]));
    // A fresh reader sees the same empty, re-initialised repository.
    let fresh_reader = DockerCli::new(&w.srv.url, Some(&w.srv.ca_path));
    fresh_reader.login(&w.host, PULLER.0, PULLER.1);
    assert_eq!(
        w.inspect(&fresh_reader),
        (vec![], vec!["fresh".to_string()])
    );
}

/// The root key IDs `docker trust inspect` shows under "AdministrativeKeys".
fn root_key_ids(cli: &DockerCli, repo: &str) -> Vec<String> {
    let out = cli.run(&["trust", "inspect", repo]).ok("trust inspect");
    let v: Value = serde_json::from_str(&out.stdout).expect("trust inspect JSON");
    v[0]["AdministrativeKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["Name"] == "Root")
        .flat_map(|k| k["Keys"].as_array().cloned().unwrap_or_default())
        .filter_map(|k| k["ID"].as_str().map(str::to_string))
        .collect()
}
