//! The Sigstore bridge checked by the Sigstore project's own Rust implementation (crate
//! `sigstore`, cosign verification with a public key) against distribution 2.8 with
//! Signet's token auth: what `signet sign --cosign` and `signet cosign backfill` write is a
//! cosign signature that verifies with the key `signet cosign export-key` writes, and nothing
//! else verifies; the Notary side still verifies with docker 28 and notary 0.7.

use serde_json::{json, Value};
use signet_interop::admin::AdminClient;
use signet_interop::*;
use std::path::Path;
use std::process::Command;

const SIGNER: (&str, &str) = ("alice", "alice-password-1");
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// Signet as trust server and token service, a Premium registry with content trust whose
/// login server is the distribution registry on loopback, and a signer with AcrImageSigner
/// and AcrPush (a cosign signature is an image in the registry).
struct World {
    srv: SignetServer,
    _registry: Registry,
    api: AdminClient,
    host: String,
}

impl World {
    fn start() -> World {
        let srv = SignetServer::start();
        let api = AdminClient::new(&srv);
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let registry = Registry::start_with_token_auth_on(
            port,
            &TokenAuth {
                realm: format!("https://127.0.0.1:{}/oauth2/token", srv.addr.port()),
                service: host.clone(),
                issuer: "signet".into(),
                root_cert_bundle: srv.data_dir.path().join("token-signing.crt"),
            },
        );
        api.ok(
            "POST",
            "registries",
            json!({"name": "contoso", "loginServer": host, "sku": "Premium"}),
        );
        api.ok(
            "PUT",
            "registries/contoso/content-trust",
            json!({"status": "enabled"}),
        );
        api.ok(
            "POST",
            "identities",
            json!({"name": SIGNER.0, "password": SIGNER.1}),
        );
        for role in ["AcrImageSigner", "AcrPush"] {
            api.ok(
                "POST",
                "role-assignments",
                json!({"registry": "contoso", "identity": SIGNER.0, "role": role}),
            );
        }
        World {
            srv,
            _registry: registry,
            api,
            host,
        }
    }

    /// A docker config (trust dir inside) logged in to the registry as the signer.
    fn signer_config(&self) -> DockerCli {
        let cli = DockerCli::new(&self.srv.url, Some(&self.srv.ca_path));
        cli.login(&self.host, SIGNER.0, SIGNER.1);
        cli
    }

    fn base(&self) -> String {
        format!("http://{}/v2", self.host)
    }

    fn token(&self, repo: &str) -> String {
        self.api
            .token_for(SIGNER, &self.host, &format!("repository:{repo}:pull,push"))
    }

    /// Pushes a one-layer image straight through the registry API; its manifest digest.
    fn push_image(&self, repo: &str, tag: &str, content: &[u8]) -> String {
        let bearer = format!("Bearer {}", self.token(repo));
        let layer = content.to_vec();
        let config = json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&layer))]},
            "config": {},
        })
        .to_string()
        .into_bytes();
        for blob in [&layer, &config] {
            self.put_blob(repo, &bearer, blob);
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": format!("sha256:{}", sha256_hex(&config))},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": layer.len(), "digest": format!("sha256:{}", sha256_hex(&layer))}],
        })
        .to_string()
        .into_bytes();
        self.put_manifest(
            repo,
            &bearer,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
    }

    fn put_blob(&self, repo: &str, bearer: &str, blob: &[u8]) {
        let started = ureq::post(&format!("{}/{repo}/blobs/uploads/", self.base()))
            .set("Authorization", bearer)
            .send_bytes(b"")
            .expect("start upload");
        let location = started.header("Location").expect("Location").to_string();
        let url = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", self.host)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        ureq::put(&format!("{url}{sep}digest=sha256%3A{}", sha256_hex(blob)))
            .set("Authorization", bearer)
            .send_bytes(blob)
            .expect("finish upload");
    }

    fn put_manifest(
        &self,
        repo: &str,
        bearer: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let r = ureq::put(&format!("{}/{repo}/manifests/{reference}", self.base()))
            .set("Authorization", bearer)
            .set("Content-Type", media_type)
            .send_bytes(body)
            .expect("put manifest");
        assert_eq!(r.status(), 201);
        format!("sha256:{}", sha256_hex(body))
    }

    /// GET through the registry API with the signer's token.
    fn get(&self, repo: &str, path: &str) -> Option<Vec<u8>> {
        let bearer = format!("Bearer {}", self.token(repo));
        match ureq::get(&format!("{}/{repo}/{path}", self.base()))
            .set("Authorization", &bearer)
            .set("Accept", "application/vnd.oci.image.manifest.v1+json")
            .call()
        {
            Ok(r) => {
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
                Some(body)
            }
            Err(ureq::Error::Status(404, _)) => None,
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    fn signature_manifest(&self, repo: &str, digest: &str) -> Option<Value> {
        self.get(repo, &format!("manifests/{}.sig", digest.replace(':', "-")))
            .map(|b| serde_json::from_slice(&b).expect("signature manifest is JSON"))
    }
}

/// `signet` with a docker config's environment (trust dir, trust server, CA, passphrases).
fn signet(cli: &DockerCli, args: &[&str]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
    for (k, v) in cli.command().get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    let o = c.args(args).output().expect("run signet");
    Run {
        status: o.status,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// cosign verification by the `sigstore` crate: the `.sig` image of `image`'s digest must
/// hold a layer whose signature verifies with `key_pem` (no transparency log, as `cosign
/// verify --key K --insecure-ignore-tlog`). The verified layers' payloads on success.
fn sigstore_verify(w: &World, image: &str, key_pem: &[u8]) -> Result<Vec<Value>, String> {
    use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
    use sigstore::cosign::{verify_constraints, ClientBuilder, CosignCapabilities};
    use sigstore::registry::{
        Auth, Certificate, CertificateEncoding, ClientConfig, ClientProtocol,
    };

    // Both ring (signet) and aws-lc-rs (sigstore) are compiled in: pick one for reqwest.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut client = ClientBuilder::default()
            .with_oci_client_config(ClientConfig {
                protocol: ClientProtocol::Http,
                // The token service is Signet, on its own CA.
                extra_root_certificates: vec![Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: std::fs::read(&w.srv.ca_path).expect("CA"),
                }],
                ..Default::default()
            })
            .build()
            .map_err(|e| format!("client: {e}"))?;
        let reference = image.parse().map_err(|e| format!("reference: {e}"))?;
        let auth = Auth::Basic(SIGNER.0.into(), SIGNER.1.into());
        let layers = client
            .trusted_signature_layers(&auth, &reference)
            .await
            .map_err(|e| format!("signature layers: {e}"))?;
        let verifier = PublicKeyVerifier::try_from(key_pem).map_err(|e| format!("key: {e}"))?;
        let constraints: VerificationConstraintVec = vec![Box::new(verifier)];
        verify_constraints(&layers, constraints.iter())
            .map_err(|e| format!("not verified ({} layers): {e:?}", layers.len()))?;
        Ok(layers
            .iter()
            .map(|l| serde_json::from_slice(&l.raw_data).expect("payload JSON"))
            .collect())
    })
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn signed_with_cosign_verifies_with_the_exported_key_and_nothing_else_does() {
    if !require_binaries(&["docker-registry", "docker"]) {
        return;
    }
    let w = World::start();
    let repo = "team/app";
    let image = format!("{}/{repo}", w.host);
    let v1 = w.push_image(repo, "v1", b"layer one\n");
    let unsigned = w.push_image(repo, "unsigned", b"never signed\n");
    let v2 = w.push_image(repo, "v2", b"layer two\n");

    // alice initialises the repository and signs v1 into Notary and cosign.
    let alice = w.signer_config();
    let keys = tempfile::tempdir().unwrap();
    let dir = keys.path().to_str().unwrap();
    signet(&alice, &["key", "generate", "alice", "--dir", dir]).ok("key generate");
    let alice_pub = keys.path().join("alice.pub");
    signet(
        &alice,
        &[
            "signer",
            "add",
            "alice",
            &image,
            "--key",
            alice_pub.to_str().unwrap(),
        ],
    )
    .ok("signer add");
    let signed = signet(&alice, &["sign", &format!("{image}:v1"), "--cosign"]).ok("sign");
    assert!(
        signed.stdout.contains(&format!(
            "cosign signature of {v1} in {image}:{}.sig",
            v1.replace(':', "-")
        )),
        "{}",
        signed.stdout
    );

    // The exported key, from the key store and from the trust data, is the same PEM.
    let cosign_pub = keys.path().join("cosign.pub");
    signet(
        &alice,
        &[
            "cosign",
            "export-key",
            "alice",
            "-o",
            cosign_pub.to_str().unwrap(),
        ],
    )
    .ok("export-key");
    let pem = read(&cosign_pub);
    assert!(pem.starts_with(b"-----BEGIN PUBLIC KEY-----\n"));
    let from_trust = signet(
        &alice,
        &[
            "cosign",
            "export-key",
            "alice",
            "--image",
            &image,
            "-o",
            "-",
        ],
    )
    .ok("export-key --image");
    assert_eq!(from_trust.stdout.as_bytes(), pem.as_slice());
    let again = signet(
        &alice,
        &[
            "cosign",
            "export-key",
            "alice",
            "-o",
            cosign_pub.to_str().unwrap(),
        ],
    );
    assert!(
        !again.status.success() && again.stderr.contains("already exists"),
        "{}",
        again.stderr
    );

    // Sigstore's verifier accepts v1 with the key; the payload is cosign's.
    let payloads = sigstore_verify(&w, &format!("{image}:v1"), &pem).expect("v1 verifies");
    assert_eq!(
        payloads,
        vec![
            json!({"critical": {"identity": {"docker-reference": image}, "image": {"docker-manifest-digest": v1}, "type": "cosign container image signature"}, "optional": null})
        ]
    );
    let sig = w.signature_manifest(repo, &v1).expect("signature image");
    assert_eq!(
        sig["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(sig["layers"].as_array().unwrap().len(), 1);
    assert_eq!(sig["layers"][0]["mediaType"], SIMPLE_SIGNING);
    let ours = signet(
        &alice,
        &[
            "verify",
            "--cosign",
            "--key",
            cosign_pub.to_str().unwrap(),
            &format!("{image}:v1"),
        ],
    )
    .ok("signet verify --cosign");
    assert_eq!(ours.stdout.trim(), v1);

    // Unsigned: refused by both.
    let err = sigstore_verify(&w, &format!("{image}:unsigned"), &pem).unwrap_err();
    assert!(err.contains("not verified (0 layers)"), "{err}");
    let refused = signet(
        &alice,
        &[
            "verify",
            "--cosign",
            "--key",
            cosign_pub.to_str().unwrap(),
            &format!("{image}:unsigned"),
        ],
    );
    assert_eq!(refused.status.code(), Some(3), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains(&format!("{unsigned}: no cosign signature verifies"))
            && refused.stderr.contains("no signature image"),
        "{}",
        refused.stderr
    );

    // Signed with another key: bob, a second signer with a trust dir of his own, signs v2.
    let bob = w.signer_config();
    let bob_keys = tempfile::tempdir().unwrap();
    signet(
        &bob,
        &[
            "key",
            "generate",
            "bob",
            "--dir",
            bob_keys.path().to_str().unwrap(),
        ],
    )
    .ok("bob key");
    signet(
        &alice,
        &[
            "signer",
            "add",
            "bob",
            &image,
            "--key",
            bob_keys.path().join("bob.pub").to_str().unwrap(),
        ],
    )
    .ok("signer add bob");
    signet(&bob, &["sign", &format!("{image}:v2"), "--cosign"]).ok("bob signs v2");
    let err = sigstore_verify(&w, &format!("{image}:v2"), &pem).unwrap_err();
    assert!(err.contains("not verified (1 layers)"), "{err}");
    let bob_pub = bob_keys.path().join("cosign.pub");
    signet(
        &bob,
        &[
            "cosign",
            "export-key",
            "bob",
            "-o",
            bob_pub.to_str().unwrap(),
        ],
    )
    .ok("bob export");
    sigstore_verify(&w, &format!("{image}:v2"), &read(&bob_pub))
        .expect("v2 verifies with bob's key");
    let refused = signet(
        &alice,
        &[
            "verify",
            "--cosign",
            "--key",
            cosign_pub.to_str().unwrap(),
            &format!("{image}:v2"),
        ],
    );
    assert_eq!(refused.status.code(), Some(3), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("does not verify with the key"),
        "{}",
        refused.stderr
    );

    // alice signing v2 as well appends her layer after bob's.
    signet(&alice, &["sign", &format!("{image}:v2"), "--cosign"]).ok("alice signs v2");
    let sig2 = w.signature_manifest(repo, &v2).unwrap();
    let layers = sig2["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    sigstore_verify(&w, &format!("{image}:v2"), &pem).expect("v2 verifies with alice's key");
    sigstore_verify(&w, &format!("{image}:v2"), &read(&bob_pub)).expect("and still with bob's");

    // The persistent setting: dual-sign on makes a plain `signet sign` write cosign too.
    let v3 = w.push_image(repo, "v3", b"layer three\n");
    signet(&alice, &["cosign", "dual-sign", "on"]).ok("dual-sign on");
    assert_eq!(
        read(&alice.trust_dir().join("signet.json")),
        b"{\n  \"cosign\": {\n    \"dual_sign\": true\n  }\n}\n"
    );
    signet(&alice, &["sign", &format!("{image}:v3")]).ok("sign v3");
    assert!(w.signature_manifest(repo, &v3).is_some());
    sigstore_verify(&w, &format!("{image}:v3"), &pem).expect("v3 verifies");
    let v4 = w.push_image(repo, "v4", b"layer four\n");
    signet(&alice, &["sign", &format!("{image}:v4"), "--no-cosign"]).ok("sign v4");
    assert!(w.signature_manifest(repo, &v4).is_none());

    // What the cosign signature needs is checked before the Notary signature is published:
    // a manifest the registry does not have, and a signer without push rights on the
    // registry, are refused with the trust data unchanged.
    let absent = format!("sha256:{}", sha256_hex(b"never pushed"));
    let refused = signet(
        &alice,
        &[
            "sign",
            &format!("{image}:v9"),
            "--cosign",
            "--digest",
            &absent,
            "--size",
            "12",
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains(&format!("the registry has no manifest {absent}")),
        "{}",
        refused.stderr
    );
    let v5 = w.push_image(repo, "v5", b"layer five\n");
    let role = |method: &str, name: &str| {
        let (status, body) = w.api.call(
            method,
            "role-assignments",
            Some(json!({"registry": "contoso", "identity": SIGNER.0, "role": name})),
        );
        assert!(
            (200..300).contains(&status),
            "{method} {name}: {status} {body}"
        );
    };
    role("DELETE", "AcrPush");
    role("POST", "AcrPull");
    let refused = signet(&alice, &["sign", &format!("{image}:v5"), "--cosign"]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains(&format!("does not let you push to {repo}"))
            && refused.stderr.contains("nothing was signed"),
        "{}",
        refused.stderr
    );
    role("DELETE", "AcrPull");
    role("POST", "AcrPush");
    for tag in ["v9", "v5"] {
        let unsigned = signet(&alice, &["verify", &format!("{image}:{tag}")]);
        assert_eq!(
            unsigned.status.code(),
            Some(3),
            "{tag}: {}",
            unsigned.stderr
        );
    }
    assert!(w.signature_manifest(repo, &v5).is_none());

    // An altered signature layer: v1's payload rewritten to name another repository, the
    // signature annotation kept. Refused by both.
    let bearer = format!("Bearer {}", w.token(repo));
    let mut altered = sig.clone();
    let payload = w
        .get(
            repo,
            &format!("blobs/{}", sig["layers"][0]["digest"].as_str().unwrap()),
        )
        .unwrap();
    let forged = String::from_utf8(payload)
        .unwrap()
        .replace(
            &format!("\"{image}\""),
            &format!("\"{}/team/other\"", w.host),
        )
        .into_bytes();
    w.put_blob(repo, &bearer, &forged);
    altered["layers"][0]["digest"] = json!(format!("sha256:{}", sha256_hex(&forged)));
    altered["layers"][0]["size"] = json!(forged.len());
    assert!(altered["layers"][0]["annotations"][SIGNATURE_ANNOTATION].is_string());
    w.put_manifest(
        repo,
        &bearer,
        &format!("{}.sig", v1.replace(':', "-")),
        "application/vnd.oci.image.manifest.v1+json",
        altered.to_string().as_bytes(),
    );
    let err = sigstore_verify(&w, &format!("{image}:v1"), &pem).unwrap_err();
    assert!(err.contains("not verified (1 layers)"), "{err}");
    let refused = signet(
        &alice,
        &[
            "verify",
            "--cosign",
            "--key",
            cosign_pub.to_str().unwrap(),
            &format!("{image}:v1"),
        ],
    );
    assert_eq!(refused.status.code(), Some(3), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("does not verify with the key"),
        "{}",
        refused.stderr
    );

    // The Notary side is untouched: signet and notary 0.7 verify v1.
    let notary = signet(&alice, &["verify", &format!("{image}:v1")]).ok("notary verify");
    assert_eq!(notary.stdout.trim(), v1);
}

#[test]
fn backfill_gives_notary_signed_history_cosign_signatures_once() {
    if !require_binaries(&["docker-registry", "docker", "dockerd", "unshare", "notary"]) {
        return;
    }
    let w = World::start();
    let port: u16 = w.host.rsplit(':').next().unwrap().parse().unwrap();
    let daemon = Dockerd::start(port);
    let repo = "team/history";
    let image = format!("{}/{repo}", w.host);
    let alice = w.signer_config();
    let keys = tempfile::tempdir().unwrap();
    signet(
        &alice,
        &[
            "key",
            "generate",
            "alice",
            "--dir",
            keys.path().to_str().unwrap(),
        ],
    )
    .ok("key generate");
    signet(
        &alice,
        &[
            "signer",
            "add",
            "alice",
            &image,
            "--key",
            keys.path().join("alice.pub").to_str().unwrap(),
        ],
    )
    .ok("signer add");

    // History signed in Notary only: v1 by `docker push` with content trust (docker 28),
    // v2 by `signet sign` without cosign.
    daemon.import_image(&format!("{image}:v1"), b"signed by docker push\n");
    let push = alice
        .run_with_daemon(&daemon, &["push", &format!("{image}:v1")])
        .ok("docker push with content trust");
    assert!(
        push.stdout.contains("Successfully signed"),
        "{}",
        push.stdout
    );
    let v1 = push
        .stdout
        .split("digest: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("pushed digest")
        .to_string();
    let v2 = w.push_image(repo, "v2", b"signed by signet, notary only\n");
    signet(&alice, &["sign", &format!("{image}:v2")]).ok("sign v2");
    assert!(w.signature_manifest(repo, &v1).is_none());
    assert!(w.signature_manifest(repo, &v2).is_none());

    let cosign_pub = keys.path().join("cosign.pub");
    signet(
        &alice,
        &[
            "cosign",
            "export-key",
            "alice",
            "-o",
            cosign_pub.to_str().unwrap(),
        ],
    )
    .ok("export-key");
    let pem = read(&cosign_pub);
    let err = sigstore_verify(&w, &format!("{image}:v1"), &pem).unwrap_err();
    assert!(err.contains("not verified (0 layers)"), "{err}");

    // A dry run writes nothing.
    let dry = signet(&alice, &["cosign", "backfill", &image, "--dry-run"]).ok("dry run");
    assert!(
        dry.stdout.contains(&format!("{v1} (v1): would sign"))
            && dry.stdout.contains("2 cosign signature(s) would be added"),
        "{}",
        dry.stdout
    );
    assert!(w.signature_manifest(repo, &v1).is_none());

    let filled = signet(&alice, &["cosign", "backfill", &image]).ok("backfill");
    assert!(
        filled.stdout.contains(&format!("{v1} (v1): signed"))
            && filled.stdout.contains(&format!("{v2} (v2): signed"))
            && filled
                .stdout
                .contains(&format!("2 cosign signature(s) added to {image}")),
        "{}",
        filled.stdout
    );
    for (tag, digest) in [("v1", &v1), ("v2", &v2)] {
        let payloads = sigstore_verify(&w, &format!("{image}:{tag}"), &pem)
            .unwrap_or_else(|e| panic!("{tag} after backfill: {e}"));
        assert_eq!(
            payloads[0]["critical"]["image"]["docker-manifest-digest"],
            json!(digest)
        );
    }
    let before: Vec<Value> = [&v1, &v2]
        .iter()
        .map(|d| w.signature_manifest(repo, d).unwrap())
        .collect();

    // A second run finds every signature and adds no layer.
    let again = signet(&alice, &["--json", "cosign", "backfill", &image]).ok("backfill again");
    let report: Value = serde_json::from_str(&again.stdout).expect("JSON report");
    assert_eq!(report["signatures_added"], 0, "{report}");
    assert!(report["digests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["status"] == "already signed"));
    for (d, b) in [&v1, &v2].iter().zip(&before) {
        let after = w.signature_manifest(repo, d).unwrap();
        assert_eq!(&after, b);
        assert_eq!(after["layers"].as_array().unwrap().len(), 1);
    }

    // The Notary side still verifies: docker 28 (trust inspect, trusted pull) and notary 0.7.
    let inspect = alice
        .run(&["trust", "inspect", &image])
        .ok("docker trust inspect");
    let inspected: Value = serde_json::from_str(&inspect.stdout).expect("inspect JSON");
    let tags: Vec<(String, String)> = inspected[0]["SignedTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["SignedTag"].as_str().unwrap().to_string(),
                format!("sha256:{}", t["Digest"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        tags,
        vec![
            ("v1".to_string(), v1.clone()),
            ("v2".to_string(), v2.clone())
        ]
    );
    alice
        .run_with_daemon(&daemon, &["rmi", &format!("{image}:v1")])
        .ok("rmi");
    let pull = alice
        .run_with_daemon(&daemon, &["pull", &format!("{image}:v1")])
        .ok("trusted pull");
    assert!(
        pull.stdout.contains(&format!("{image}@{v1}")),
        "{}",
        pull.stdout
    );
    let notary = NotaryCli::new(&w.srv.url, &w.srv.ca_path).with_auth(SIGNER.0, SIGNER.1);
    let listed: Vec<(String, String)> = notary
        .list(&image)
        .into_iter()
        .filter(|(_, _, _, role)| role == "targets/releases")
        .map(|(name, digest, _, _)| (name, format!("sha256:{digest}")))
        .collect();
    assert_eq!(listed, vec![("v1".to_string(), v1), ("v2".to_string(), v2)]);
}
