//! Registries, content-trust policy, roles and token auth, over HTTP against Signet: the
//! admin API, the token endpoint, and what each identity may do on the trust routes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::{json, Value};
use signet_interop::admin::AdminClient;
use signet_interop::upload::{self, RepoKeys};
use signet_interop::SignetServer;
use std::time::{Duration, Instant};

/// The admin client plus the trust routes with a bearer token.
struct Api {
    client: AdminClient,
    agent: ureq::Agent,
    url: String,
}

impl Api {
    fn new(server: &SignetServer) -> Api {
        let client = AdminClient::new(server);
        Api {
            agent: client.agent.clone(),
            url: client.url.clone(),
            client,
        }
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.client.call(method, path, body)
    }

    fn admin_as(&self, cred: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.client.call_as(cred, method, path, body)
    }

    fn token(
        &self,
        user: Option<(&str, &str)>,
        service: &str,
        scope: &str,
        extra: &str,
    ) -> (u16, Value) {
        self.client.token(user, service, scope, extra)
    }

    fn trust_token(&self, user: (&str, &str), gun: &str, actions: &str) -> String {
        let (status, v) = self.token(
            Some(user),
            "signet",
            &format!("repository:{gun}:{actions}"),
            "",
        );
        assert_eq!(status, 200, "token for {}: {v}", user.0);
        v["token"].as_str().expect("token").to_string()
    }

    fn get(&self, path: &str, bearer: Option<&str>) -> (u16, String, Option<String>) {
        let req = upload::authorized(self.agent.get(&format!("{}{path}", self.url)), bearer);
        match req.call() {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default(), None),
            Err(ureq::Error::Status(code, r)) => {
                let challenge = r.header("www-authenticate").map(str::to_string);
                (code, r.into_string().unwrap_or_default(), challenge)
            }
            Err(e) => panic!("GET {path}: {e}"),
        }
    }
}

/// The `access` claim of a JWT (not verified: just what was granted).
fn granted(token: &str) -> Value {
    let body = token.split('.').nth(1).expect("jwt body");
    let claims: Value = serde_json::from_slice(&B64URL.decode(body).expect("b64")).expect("claims");
    claims["access"].clone()
}

fn actions_of(token: &str) -> Vec<String> {
    granted(token)
        .as_array()
        .and_then(|a| a.first())
        .map(|g| {
            g["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Publishes a fresh repository (root, targets, snapshot via server, timestamp via server).
fn publish_new(api: &Api, gun: &str, token: &str) -> (u16, String, Vec<u8>) {
    let keys = RepoKeys::new(gun);
    let ts = upload::server_key_with(&api.agent, &api.url, gun, "timestamp", Some(token));
    let sn = upload::server_key_with(&api.agent, &api.url, gun, "snapshot", Some(token));
    let root = keys.root(1, &ts, &sn);
    let targets = keys.targets(1, &[("v1", b"image one")]);
    let (status, body) = upload::post_update_with(
        &api.agent,
        &api.url,
        gun,
        &[("root", &root), ("targets", &targets)],
        Some(token),
    );
    (status, body, root)
}

fn setup(api: &Api) {
    for (name, host, sku, extra) in [
        (
            "contoso",
            "contoso.test:5000",
            "Premium",
            json!({"adminUserEnabled": true}),
        ),
        ("fabrikam", "fabrikam.test", "Premium", json!({})),
        ("basicreg", "basic.test", "Basic", json!({})),
        (
            "cmkreg1",
            "cmk.test",
            "Premium",
            json!({"cmkKeyId": "https://vault.test/keys/k1/v1"}),
        ),
    ] {
        let mut body = json!({"name": name, "loginServer": host, "sku": sku});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, v) = api.admin("POST", "registries", Some(body));
        assert_eq!(status, 201, "{v}");
        assert_eq!(
            v["policies"]["trustPolicy"],
            json!({"status": "disabled", "type": "Notary"})
        );
    }
    for (name, pw) in [
        ("signer", "signer-pass"),
        ("puller", "puller-pass"),
        ("owner", "owner-pass"),
    ] {
        let (status, v) = api.admin(
            "POST",
            "identities",
            Some(json!({"name": name, "password": pw})),
        );
        assert_eq!(status, 201, "{v}");
        assert!(
            v.get("secret_hash").is_none() && !v.to_string().contains("argon2"),
            "{v}"
        );
    }
    for (reg, who, role) in [
        ("contoso", "signer", "AcrImageSigner"),
        ("contoso", "signer", "AcrPush"),
        ("fabrikam", "signer", "AcrImageSigner"),
        ("contoso", "puller", "AcrPull"),
        ("contoso", "owner", "Owner"),
    ] {
        let (status, v) = api.admin(
            "POST",
            "role-assignments",
            Some(json!({"registry": reg, "identity": who, "role": role})),
        );
        assert_eq!(status, 201, "{v}");
    }
}

#[test]
fn policies_roles_and_tokens_over_http() {
    let server = SignetServer::start();
    let api = Api::new(&server);

    // No registry yet: the open embedded default.
    assert_eq!(api.get("/v2/", None).0, 200);

    // The admin API wants the operator credential.
    let (status, v) = api.admin_as("wrong", "GET", "registries", None);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("Unauthorized"))
    );

    setup(&api);
    let (status, v) = api.admin(
        "POST",
        "registries",
        Some(json!({"name": "contoso", "loginServer": "x.test", "sku": "Basic"})),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("Conflict"))
    );

    // Policy rules.
    let (status, v) = api.admin(
        "PUT",
        "registries/basicreg/content-trust",
        Some(json!({"status": "enabled"})),
    );
    assert_eq!(status, 400);
    assert_eq!(
        v["error"]["message"],
        "Policies are only supported for managed registries in Premium SKU."
    );
    let (status, v) = api.admin(
        "PUT",
        "registries/cmkreg1/content-trust",
        Some(json!({"status": "enabled"})),
    );
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "BlockedForEncryptionEnabledRegistry");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("customer-managed key"),
        "{v}"
    );
    let (status, v) = api.admin(
        "PATCH",
        "registries/basicreg",
        Some(json!({"cmkKeyId": "k2"})),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("EncryptionImmutable"))
    );
    for reg in ["contoso", "fabrikam"] {
        let (status, v) = api.admin(
            "PUT",
            &format!("registries/{reg}/content-trust"),
            Some(json!({"status": "enabled"})),
        );
        assert_eq!(
            (status, v),
            (200, json!({"status": "enabled", "type": "Notary"}))
        );
    }
    let (status, v) = api.admin(
        "PATCH",
        "registries/contoso",
        Some(json!({"sku": "Standard"})),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("PolicyNotSupportedForSku"))
    );
    // The admin user can never sign.
    let (status, v) = api.admin(
        "POST",
        "role-assignments",
        Some(json!({"registry": "contoso", "identity": "contoso", "role": "AcrImageSigner"})),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("AdminUserCannotSign")),
        "{v}"
    );

    // With registries configured every route wants a token; GUN-less ones need the catalog.
    let (status, body, challenge) = api.get("/v2/", None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        challenge.as_deref(),
        Some(
            format!(
                "Bearer realm=\"{}/oauth2/token\",service=\"signet\",scope=\"registry:catalog:*\"",
                api.url
            )
            .as_str()
        )
    );
    let (status, body, _) = api.get("/v2/elsewhere.test/app/_trust/tuf/root.json", None);
    assert_eq!(
        (status, upload::error_code(&body).as_str()),
        (404, "NAME_UNKNOWN"),
        "{body}"
    );

    let gun = "contoso.test:5000/app";
    let (status, body, challenge) = api.get(&format!("/v2/{gun}/_trust/tuf/root.json"), None);
    assert_eq!(
        (status, upload::error_code(&body).as_str()),
        (401, "UNAUTHORIZED")
    );
    assert_eq!(
        challenge.as_deref(),
        Some(format!("Bearer realm=\"{}/oauth2/token\",service=\"signet\",scope=\"repository:{gun}:pull\"", api.url).as_str())
    );

    // What the token service grants: the intersection of the ask and the roles.
    let signer = api.trust_token(("signer", "signer-pass"), gun, "push,pull");
    assert_eq!(actions_of(&signer), ["push", "pull"]);
    assert_eq!(
        actions_of(&api.trust_token(("puller", "puller-pass"), gun, "push,pull")),
        ["pull"]
    );
    assert_eq!(
        actions_of(&api.trust_token(("owner", "owner-pass"), gun, "push,pull,*")),
        ["pull"]
    );
    let admin_pw = {
        let (status, v) = api.admin(
            "PATCH",
            "registries/contoso",
            Some(json!({"regenerateAdminPassword": true})),
        );
        assert_eq!(status, 200, "{v}");
        v["adminCredentials"]["password"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        actions_of(&api.trust_token(("contoso", &admin_pw), gun, "push,pull,*")),
        ["pull"]
    );
    // Nothing on a registry the identity holds no role on, nor on a disabled-policy one.
    assert!(
        actions_of(&api.trust_token(("puller", "puller-pass"), "fabrikam.test/app", "pull"))
            .is_empty()
    );
    let (status, _) = api.token(
        Some(("signer", "wrong-pass")),
        "signet",
        &format!("repository:{gun}:pull"),
        "",
    );
    assert_eq!(status, 401);
    let (status, anon) = api.token(None, "signet", &format!("repository:{gun}:pull"), "");
    assert_eq!(
        (status, granted(anon["token"].as_str().unwrap())),
        (200, json!([]))
    );

    // The signer publishes; the puller reads back the same bytes.
    let (status, body, root) = publish_new(&api, gun, &signer);
    assert_eq!(status, 200, "{body}");
    let puller = api.trust_token(("puller", "puller-pass"), gun, "pull");
    let (status, got, _) = api.get(&format!("/v2/{gun}/_trust/tuf/root.json"), Some(&puller));
    assert_eq!((status, got.as_bytes()), (200, root.as_slice()));

    // Pull-only, Owner-without-signer and the admin user cannot publish.
    let keys = RepoKeys::new(gun);
    let t2 = keys.targets(2, &[("v2", b"two")]);
    for (who, tok) in [
        ("puller", puller.clone()),
        (
            "owner",
            api.trust_token(("owner", "owner-pass"), gun, "push,pull"),
        ),
        (
            "admin",
            api.trust_token(("contoso", &admin_pw), gun, "push,pull"),
        ),
    ] {
        let req = upload::authorized(
            api.agent.post(&format!("{}/v2/{gun}/_trust/tuf/", api.url)),
            Some(&tok),
        )
        .set("Content-Type", "multipart/form-data; boundary=b");
        let r = req.send_bytes(&t2);
        match r {
            Err(ureq::Error::Status(401, resp)) => {
                let c = resp.header("www-authenticate").unwrap_or("").to_string();
                assert!(
                    c.ends_with(&format!(
                        "scope=\"repository:{gun}:push,pull\",error=\"insufficient_scope\""
                    )),
                    "{who}: {c}"
                );
            }
            other => panic!("{who} was not refused: {:?}", other.map(|r| r.status())),
        }
    }

    // Tokens that must not work.
    let other_repo = api.trust_token(("signer", "signer-pass"), "contoso.test:5000/other", "pull");
    let (status, _, c) = api.get(
        &format!("/v2/{gun}/_trust/tuf/root.json"),
        Some(&other_repo),
    );
    assert_eq!(status, 401);
    assert!(c.unwrap().ends_with("error=\"insufficient_scope\""));
    let (status, v) = api.token(
        Some(("puller", "puller-pass")),
        "contoso.test:5000",
        "repository:app:pull",
        "",
    );
    assert_eq!(status, 200, "{v}");
    let wrong_audience = v["token"].as_str().unwrap();
    assert_eq!(actions_of(wrong_audience), ["pull"]);
    let parts: Vec<&str> = puller.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
    claims["access"][0]["actions"] = json!(["push", "pull"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        B64URL.encode(claims.to_string()),
        parts[2]
    );
    let alg_none = format!(
        "{}.{}.",
        B64URL.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    // Signed with the server's own key (read from its database) but expired an hour ago.
    let (expired, fresh) = {
        let store =
            signet_server::store::SqliteStore::open(&server.data_dir.path().join("signet.sqlite"))
                .unwrap();
        let store: std::sync::Arc<dyn signet_server::store::Store> = std::sync::Arc::new(store);
        let signer =
            signet_server::signer::Signer::open(store.clone(), b"interop-signer-pass").unwrap();
        let keys =
            signet_server::token::TokenKeys::load_or_create(store.as_ref(), &signer, "signet")
                .unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut c: signet_server::token::Claims = serde_json::from_value(claims.clone()).unwrap();
        c.access[0].actions = vec!["pull".into()];
        c.exp = now + 300;
        let fresh = keys.issue(&c).unwrap();
        c.exp = now - 3600;
        c.nbf = now - 7200;
        (keys.issue(&c).unwrap(), fresh)
    };
    assert_eq!(
        api.get(&format!("/v2/{gun}/_trust/tuf/root.json"), Some(&fresh))
            .0,
        200
    );
    for (what, tok) in [
        ("wrong audience", wrong_audience.to_string()),
        ("forged", forged),
        ("alg none", alg_none),
        ("expired", expired),
        ("garbage", "not.a.jwt".to_string()),
    ] {
        let (status, body, c) = api.get(&format!("/v2/{gun}/_trust/tuf/root.json"), Some(&tok));
        assert_eq!(status, 401, "{what}: {body}");
        assert!(
            c.as_deref()
                .unwrap_or("")
                .ends_with("error=\"invalid_token\""),
            "{what}: {c:?}"
        );
    }

    // Refresh tokens (docker's identity tokens) and the OAuth2 password grant.
    let (status, v) = api.token(
        Some(("signer", "signer-pass")),
        "signet",
        &format!("repository:{gun}:pull"),
        "offline_token=true&client_id=docker",
    );
    assert_eq!(status, 200);
    let refresh = v["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    for form in [
        format!("grant_type=refresh_token&refresh_token={refresh}&service=signet&scope=repository%3A{gun}%3Apush%2Cpull&client_id=docker"),
        format!("grant_type=password&username=signer&password=signer-pass&service=signet&scope=repository%3A{gun}%3Apush%2Cpull&client_id=docker&access_type=offline"),
    ] {
        let req = api.agent.post(&format!("{}/oauth2/token", api.url)).set("Content-Type", "application/x-www-form-urlencoded");
        let (status, text) = upload::send(req, form.as_bytes());
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(actions_of(v["access_token"].as_str().unwrap()), ["push", "pull"]);
        assert!(v["refresh_token"].is_string());
    }
    // A refresh token is not an access token.
    assert_eq!(
        api.get(&format!("/v2/{gun}/_trust/tuf/root.json"), Some(&refresh))
            .0,
        401
    );

    // Deleting a repository's trust data (`*`) needs AcrImageSigner plus a delete role.
    let scratch = "fabrikam.test/scratch";
    let push = api.trust_token(("signer", "signer-pass"), scratch, "push,pull,*");
    assert_eq!(actions_of(&push), ["push", "pull"]);
    assert_eq!(publish_new(&api, scratch, &push).0, 200);
    let delete = |tok: &str| {
        let req = upload::authorized(
            api.agent
                .delete(&format!("{}/v2/{scratch}/_trust/tuf/", api.url)),
            Some(tok),
        );
        upload::send(req, b"").0
    };
    assert_eq!(delete(&push), 401);
    let (status, _) = api.admin(
        "POST",
        "role-assignments",
        Some(json!({"registry": "fabrikam", "identity": "signer", "role": "AcrDelete"})),
    );
    assert_eq!(status, 201);
    let all = api.trust_token(("signer", "signer-pass"), scratch, "*");
    assert_eq!(actions_of(&all), ["*"]);
    assert_eq!(delete(&all), 200);
    assert_eq!(
        api.get(&format!("/v2/{scratch}/_trust/tuf/root.json"), Some(&push))
            .0,
        404
    );

    // Disabling wipes exactly contoso's trust data; fabrikam keeps its own.
    let fab = "fabrikam.test/app";
    let fab_token = api.trust_token(("signer", "signer-pass"), fab, "push,pull");
    assert_eq!(publish_new(&api, fab, &fab_token).0, 200);
    let (status, v) = api.admin(
        "PUT",
        "registries/contoso/content-trust",
        Some(json!({"status": "disabled"})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "disabled");
    assert_eq!(v["trustDataRemoved"]["repositories"], 1);
    assert_eq!(v["trustDataRemoved"]["files"], 4);
    let (status, body, _) = api.get(&format!("/v2/{gun}/_trust/tuf/root.json"), Some(&puller));
    assert_eq!(
        (status, upload::error_code(&body).as_str()),
        (400, "CONTENT_TRUST_DISABLED"),
        "{body}"
    );
    let detail: Value = serde_json::from_str(&body).unwrap();
    assert!(detail["errors"][0]["detail"]["Error"]["Msg"]
        .as_str()
        .unwrap()
        .contains("content trust is disabled for registry contoso"));
    let fab_pull = api.trust_token(("signer", "signer-pass"), fab, "pull");
    assert_eq!(
        api.get(&format!("/v2/{fab}/_trust/tuf/root.json"), Some(&fab_pull))
            .0,
        200
    );

    // Re-enabled, the registry starts empty and takes a brand-new root.
    let (status, _) = api.admin(
        "PUT",
        "registries/contoso/content-trust",
        Some(json!({"status": "enabled"})),
    );
    assert_eq!(status, 200);
    let (status, body, _) = api.get(&format!("/v2/{gun}/_trust/tuf/root.json"), Some(&puller));
    assert_eq!(
        (status, upload::error_code(&body).as_str()),
        (404, "METADATA_NOT_FOUND")
    );
    let (status, body, _) = publish_new(&api, gun, &signer);
    assert_eq!(status, 200, "{body}");

    // Every change is audited with its actor.
    let (status, audit) = api.admin("GET", "audit?limit=100", None);
    assert_eq!(status, 200);
    let entries = audit.as_array().unwrap();
    let disable = entries
        .iter()
        .find(|e| e["action"] == "content-trust.disable")
        .expect("disable audited");
    assert_eq!(
        (disable["actor"].as_str(), disable["target"].as_str()),
        (Some("admin-api"), Some("contoso"))
    );
    assert!(entries
        .iter()
        .any(|e| e["action"] == "role.assign" && e["target"] == "contoso"));
}

/// The admin commands work on a running server's data directory; the server picks the
/// change up by itself.
#[test]
fn admin_cli_changes_reach_a_running_server() {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("signet-server")))
        .filter(|p| p.exists());
    let Some(bin) = bin else {
        assert!(
            std::env::var("SIGNET_REQUIRE_INTEROP").is_err(),
            "signet-server binary not built"
        );
        eprintln!("skipping: signet-server binary not built");
        return;
    };
    let server = SignetServer::start();
    let api = Api::new(&server);
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(&bin)
            .args(args)
            .arg("--data-dir")
            .arg(server.data_dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run signet-server");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(
        &[
            "registry",
            "create",
            "clireg1",
            "--login-server",
            "cli.test",
            "--sku",
            "Premium",
        ],
        "",
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["loginServer"],
        "cli.test"
    );
    let (code, out, _) = run(&["registry", "content-trust", "clireg1", "enable"], "");
    assert_eq!(
        (code, out.trim()),
        (Some(0), r#"{"status":"enabled","type":"Notary"}"#)
    );
    let (code, _, err) = run(
        &["identity", "add", "carol", "--password-stdin"],
        "carol-password\n",
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(
        &[
            "role",
            "assign",
            "--registry",
            "clireg1",
            "--repository",
            "team/app",
            "--identity",
            "carol",
            "--role",
            "AcrImageSigner",
        ],
        "",
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(
        &[
            "registry",
            "create",
            "clireg2",
            "--login-server",
            "cli2.test",
            "--sku",
            "Premium",
            "--cmk",
            "kv/key1",
        ],
        "",
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["registry", "content-trust", "clireg2", "enable"], "");
    assert_eq!(code, Some(1));
    assert!(err.starts_with("signet-server: (BlockedForEncryptionEnabledRegistry) Content trust is not supported when encryption with a customer-managed key"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // The running server notices within its poll interval: tokens now work for carol.
    let gun = "cli.test/team/app";
    let deadline = Instant::now() + Duration::from_secs(10);
    let token = loop {
        let (status, v) = api.token(
            Some(("carol", "carol-password")),
            "signet",
            &format!("repository:{gun}:push,pull"),
            "",
        );
        if status == 200 && actions_of(v["token"].as_str().unwrap_or("")) == ["push", "pull"] {
            break v["token"].as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "server never saw the CLI's changes: {status} {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Repository-scoped: the same identity gets nothing on a sibling repository.
    assert!(actions_of(&api.trust_token(
        ("carol", "carol-password"),
        "cli.test/team/other",
        "push,pull"
    ))
    .is_empty());
    let (status, body, _) = publish_new(&api, gun, &token);
    assert_eq!(status, 200, "{body}");

    // Disable without --yes and no terminal: refused, nothing changes.
    let (code, _, err) = run(&["registry", "content-trust", "clireg1", "disable"], "");
    assert_eq!(code, Some(1));
    assert!(err.contains("not confirmed"), "{err}");
    let pull = api.trust_token(("carol", "carol-password"), gun, "pull");
    assert_eq!(
        api.get(&format!("/v2/{gun}/_trust/tuf/root.json"), Some(&pull))
            .0,
        200
    );
    let (code, out, err) = run(
        &["registry", "content-trust", "clireg1", "disable", "--yes"],
        "",
    );
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v["trustDataRemoved"],
        json!({"repositories": 1, "files": 4})
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body, _) = api.get(&format!("/v2/{gun}/_trust/tuf/root.json"), Some(&pull));
        if status == 400 {
            assert_eq!(upload::error_code(&body), "CONTENT_TRUST_DISABLED");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still served after disable: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, out, _) = run(&["audit", "--limit", "1"], "");
    assert_eq!(code, Some(0));
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a[0]["action"], "content-trust.disable");
    assert!(a[0]["actor"].as_str().unwrap().starts_with("cli:"));
    let (code, pem, _) = run(&["token-certificate"], "");
    assert_eq!(code, Some(0));
    assert_eq!(
        pem,
        std::fs::read_to_string(server.data_dir.path().join("token-signing.crt")).unwrap()
    );
}

/// Two instances on one PostgreSQL: configuration made on one is enforced by the other,
/// tokens from either verify on both (one signing key, shared sealed), and disabling content
/// trust through one stops the other serving the wiped data.
#[test]
fn two_instances_share_registries_tokens_and_wipes_on_postgres() {
    if !signet_interop::Postgres::available() || !signet_interop::require_binaries(&["runuser"]) {
        return;
    }
    let pg = signet_interop::Postgres::start();
    let url = pg.create_database("tenancy");
    let a = SignetServer::start_on_postgres(&url);
    let b = SignetServer::start_on_postgres(&url);
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));
    setup(&api_a);
    let (status, _) = api_a.admin(
        "PUT",
        "registries/contoso/content-trust",
        Some(json!({"status": "enabled"})),
    );
    assert_eq!(status, 200);

    let gun = "contoso.test:5000/shared";
    let eventually = |what: &str, f: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // B learns the registries and roles made through A.
    eventually("B never enforced A's registries", &|| {
        api_b.get("/v2/", None).0 == 401
    });
    eventually("B never granted the signer", &|| {
        let (s, v) = api_b.token(
            Some(("signer", "signer-pass")),
            "signet",
            &format!("repository:{gun}:push,pull"),
            "",
        );
        s == 200 && actions_of(v["token"].as_str().unwrap_or("")) == ["push", "pull"]
    });
    // A token from B publishes on A; a token from A reads on B.
    let from_b = api_b.trust_token(("signer", "signer-pass"), gun, "push,pull");
    let (status, body, root) = publish_new(&api_a, gun, &from_b);
    assert_eq!(status, 200, "{body}");
    let from_a = api_a.trust_token(("puller", "puller-pass"), gun, "pull");
    let (status, got, _) = api_b.get(&format!("/v2/{gun}/_trust/tuf/root.json"), Some(&from_a));
    assert_eq!((status, got.as_bytes()), (200, root.as_slice()));
    // A has it cached now; disabling through B wipes it and A stops serving it.
    assert_eq!(
        api_a
            .get(&format!("/v2/{gun}/_trust/tuf/root.json"), Some(&from_a))
            .0,
        200
    );
    let (status, v) = api_b.admin(
        "PUT",
        "registries/contoso/content-trust",
        Some(json!({"status": "disabled"})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["trustDataRemoved"],
        json!({"repositories": 1, "files": 4})
    );
    eventually("A kept serving wiped trust data", &|| {
        api_a
            .get(&format!("/v2/{gun}/_trust/tuf/root.json"), Some(&from_a))
            .0
            == 400
    });
    let (status, audit) = api_a.admin("GET", "audit?limit=1", None);
    assert_eq!(
        (status, audit[0]["action"].as_str()),
        (200, Some("content-trust.disable"))
    );
}
