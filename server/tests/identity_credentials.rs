//! `signet-server identity set-password` and `audit` filters on a running server's data
//! directory: roles survive, refresh tokens end, notary 0.7 signs with the new password.

mod common;

use common::{cli, cli_json, eventually};
use signet_interop::admin::AdminClient;
use signet_interop::*;

const GUN: &str = "contoso.test/app";
const OLD: &str = "alice-old-password";
const NEW: &str = "alice-new-password";

#[test]
fn set_password_keeps_roles_and_ends_refresh_tokens() {
    if !require_binaries(&["notary"]) {
        return;
    }
    let srv = SignetServer::start();
    let data = srv.data_dir.path();
    let admin = |args: &[&str], stdin: &str| cli_json(data, args, stdin);
    admin(
        &[
            "registry",
            "create",
            "contoso",
            "--login-server",
            "contoso.test",
            "--sku",
            "Premium",
        ],
        "",
    );
    admin(&["registry", "content-trust", "contoso", "enable"], "");
    admin(
        &["identity", "add", "alice", "--password-stdin"],
        &format!("{OLD}\n"),
    );
    for role in ["AcrImageSigner", "AcrPush"] {
        admin(
            &[
                "role",
                "assign",
                "--registry",
                "contoso",
                "--identity",
                "alice",
                "--role",
                role,
            ],
            "",
        );
    }
    let api = AdminClient::new(&srv);
    let api_admin = AdminClient::new(&srv);
    let scope = format!("repository:{GUN}:push,pull");
    eventually("alice can log in", || {
        api.token(Some(("alice", OLD)), "signet", &scope, "").0 == 200
    });
    let (_, v) = api.token(
        Some(("alice", OLD)),
        "signet",
        &scope,
        "offline_token=true&client_id=docker",
    );
    let refresh = v["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let refresh_status = || {
        let form = format!(
            "grant_type=refresh_token&refresh_token={refresh}&service=signet&scope=repository%3A{GUN}%3Apull&client_id=docker"
        );
        let req = api
            .agent
            .post(&format!("{}/oauth2/token", api.url))
            .set("Content-Type", "application/x-www-form-urlencoded");
        upload::send(req, form.as_bytes())
    };
    assert_eq!(refresh_status().0, 200);
    let notary_old = NotaryCli::new(&srv.url, &srv.ca_path).with_auth("alice", OLD);
    notary_old
        .run(&["init", GUN, "-p"])
        .ok("init with the old password");

    // Refusals say what is wrong and change nothing.
    for (who, stdin, message) in [
        ("alice", "short\n", "password must be at least 8 characters"),
        ("alice", "\n", "no password on stdin"),
        ("bob", "long-enough-pw\n", "identity 'bob' not found"),
        (
            "contoso",
            "long-enough-pw\n",
            "'contoso' is the admin user of registry 'contoso': use `registry update contoso --regenerate-admin-password`",
        ),
    ] {
        let run = cli(Some(data), &["identity", "set-password", who, "--password-stdin"], stdin);
        assert_eq!(run.status.code(), Some(1), "{who}: {}", run.stdout);
        assert_eq!(run.stderr.trim(), format!("signet-server: {message}"));
    }
    assert_eq!(refresh_status().0, 200, "a refused change ended nothing");

    let changed = admin(
        &["identity", "set-password", "alice", "--password-stdin"],
        &format!("{NEW}\n"),
    );
    assert_eq!(changed["name"], "alice");
    assert_eq!(changed["passwordChanged"], true);
    let mut roles: Vec<&str> = changed["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap())
        .collect();
    roles.sort();
    assert_eq!(roles, ["AcrImageSigner", "AcrPush"]);
    assert!(
        !changed.to_string().contains(NEW),
        "the password is never echoed"
    );

    eventually("the old refresh token is refused", || {
        refresh_status().0 == 401
    });
    let (status, body) = refresh_status();
    assert!(body.contains("refresh token is not valid"), "{body}");
    assert_eq!(status, 401);
    assert_eq!(api.token(Some(("alice", OLD)), "signet", &scope, "").0, 401);
    // Same roles, new password: notary signs with it, and no longer with the old one.
    let files = tempfile::tempdir().unwrap();
    let f = write_file(files.path(), "v1", b"signed after rotation");
    let notary_new = NotaryCli::new(&srv.url, &srv.ca_path).with_auth("alice", NEW);
    std::fs::remove_dir_all(notary_new.trust_dir.path()).unwrap();
    copy_dir(notary_old.trust_dir.path(), notary_new.trust_dir.path());
    notary_old
        .run(&["add", GUN, "v1", f.to_str().unwrap()])
        .ok("notary add");
    let refused = notary_old.run(&["publish", GUN]);
    assert!(!refused.status.success(), "old password still publishes");
    notary_new
        .run(&["add", GUN, "v1", f.to_str().unwrap()])
        .ok("notary add");
    notary_new
        .run(&["publish", GUN])
        .ok("publish with the new password");
    assert_eq!(
        notary_new.list(GUN),
        vec![(
            "v1".to_string(),
            sha256_hex(b"signed after rotation"),
            21,
            "targets".to_string()
        )]
    );

    // The admin API: PATCH the password (roles kept), the same refusals, filtered audit.
    for (path, body, status, code) in [
        (
            "identities/alice",
            serde_json::json!({"password": "short"}),
            400,
            "InvalidRequest",
        ),
        (
            "identities/bob",
            serde_json::json!({"password": "long-enough-pw"}),
            404,
            "NotFound",
        ),
        (
            "identities/alice",
            serde_json::json!({"password": "long-enough-pw", "kind": "user"}),
            400,
            "InvalidRequest",
        ),
    ] {
        let (got, v) = api_admin.call("PATCH", path, Some(body));
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {v}"
        );
    }
    let (status, v) = api_admin.call(
        "PATCH",
        "identities/alice",
        Some(serde_json::json!({"password": "alice-third-password"})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["name"].as_str(), v["passwordChanged"].as_bool()),
        (Some("alice"), Some(true))
    );
    assert_eq!(v["roles"].as_array().unwrap().len(), 2);
    eventually("the third password works", || {
        api.token(
            Some(("alice", "alice-third-password")),
            "signet",
            &scope,
            "",
        )
        .0 == 200
    });
    assert_eq!(api.token(Some(("alice", NEW)), "signet", &scope, "").0, 401);
    let (status, v) = api_admin.call(
        "GET",
        "audit?identity=alice&action=identity.set-password",
        None,
    );
    assert_eq!(status, 200);
    let changes: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(changes.len(), 2, "{v}");
    assert_eq!(changes[0], "admin-api");
    let (status, v) = api_admin.call("GET", "audit?since=yesterday", None);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("InvalidRequest"))
    );

    // Audit filters.
    let actions = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["audit"];
        full.extend_from_slice(args);
        admin(&full, "")
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["action"].as_str().unwrap(),
                    e["target"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        actions(&["--identity", "alice"]),
        [
            "identity.set-password alice",
            "identity.set-password alice",
            "role.assign contoso",
            "role.assign contoso",
            "identity.add alice"
        ]
    );
    assert_eq!(
        actions(&["--registry", "contoso"]),
        [
            "role.assign contoso",
            "role.assign contoso",
            "content-trust.enable contoso",
            "registry.create contoso"
        ]
    );
    assert_eq!(
        actions(&["--registry", "contoso", "--action", "content-trust"]),
        ["content-trust.enable contoso"]
    );
    assert_eq!(
        actions(&["--identity", "alice", "--limit", "1"]),
        ["identity.set-password alice"]
    );
    assert_eq!(actions(&["--since", "1h"]).len(), 7);
    assert!(actions(&["--until", "2000-01-01T00:00:00Z"]).is_empty());
    assert!(actions(&["--identity", "nobody"]).is_empty());
    for (args, message) in [
        (
            vec!["--since", "yesterday"],
            "--since 'yesterday' is neither an RFC 3339 time (2026-01-31T00:00:00Z) nor an age such as 90m, 36h or 7d",
        ),
        (
            vec!["--since", "1h", "--until", "2h"],
            "the start of the time range is after its end",
        ),
        (
            vec!["--action", "role%"],
            "action 'role%' must be an action such as role.assign or a family such as role",
        ),
    ] {
        let mut full = vec!["audit"];
        full.extend_from_slice(&args);
        let run = cli(Some(data), &full, "");
        assert_eq!(run.status.code(), Some(1));
        assert_eq!(run.stderr.trim(), format!("signet-server: {message}"));
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(st.success());
}
