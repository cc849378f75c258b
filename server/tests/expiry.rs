//! Expiry you can see coming: `signet-server expiring` over repositories notary 0.7 made.

mod common;

use common::{cli, cli_json};
use signet_interop::*;

const GUN: &str = "example.com/expiring";

#[test]
fn expiring_lists_what_runs_out_with_remedies() {
    if !require_binaries(&["notary"]) {
        return;
    }
    let srv = SignetServer::start();
    let data = srv.data_dir.path();
    let files = tempfile::tempdir().unwrap();
    let signer = NotaryCli::new(&srv.url, &srv.ca_path);
    signer.run(&["init", GUN, "-p"]).ok("notary init");
    let f = write_file(files.path(), "v1", b"v1");
    signer
        .run(&["add", GUN, "v1", f.to_str().unwrap()])
        .ok("notary add");
    signer.run(&["publish", GUN]).ok("notary publish");

    let entries = |within: &str| -> Vec<(String, Option<i64>, bool)> {
        let v = cli_json(data, &["expiring", "--within", within, "--json"], "");
        assert_eq!(v["unreadable"], serde_json::json!([]));
        v["expiring"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["gun"], GUN);
                (
                    e["what"].as_str().unwrap().to_string(),
                    e["version"].as_i64(),
                    e["serverSigned"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    // notary's expiries: timestamp 14 days (server-held key), snapshot and targets 3 years
    // (client-held keys), root and its certificate 10 years.
    assert_eq!(entries("13d"), []);
    assert_eq!(entries("30d"), [("timestamp".to_string(), Some(2), true)]);
    let three_years = entries("1100d");
    assert_eq!(three_years.len(), 3, "{three_years:?}");
    assert!(three_years.contains(&("targets".to_string(), Some(3), false)));
    assert!(three_years.contains(&("snapshot".to_string(), Some(3), false)));
    let ten_years = entries("3700d");
    assert_eq!(ten_years.len(), 5, "{ten_years:?}");
    assert!(ten_years.contains(&("root".to_string(), Some(1), false)));
    assert!(ten_years.contains(&("root certificate".to_string(), None, false)));

    // The plain form: one line each, with what to do.
    let text = cli(Some(data), &["expiring", "--within", "1100d"], "");
    assert!(text.status.success());
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", text.stdout);
    assert!(
        lines[0].ends_with(&format!("  {GUN}  timestamp v2: renewed by the server")),
        "{}",
        lines[0]
    );
    assert!(
        text.stdout.contains(&format!(
            "  {GUN}  targets v3: a signer publishes a new version: sign any tag (docker trust sign, signet sign) or notary publish {GUN}"
        )),
        "{}",
        text.stdout
    );
    let none = cli(Some(data), &["expiring", "--within", "1h"], "");
    assert!(
        none.stdout.starts_with("nothing expires before "),
        "{}",
        none.stdout
    );
    let bad = cli(Some(data), &["expiring", "--within", "a month"], "");
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        bad.stderr.trim(),
        "signet-server: --within: 'a month' is not a duration such as 45s, 90m, 36h or 30d"
    );
}

/// The running server renews what it signs ahead of expiry without any read, and shows the
/// earliest client-signed expiry of each repository in /metrics.
#[test]
fn server_renews_ahead_and_exposes_expiry_gauges() {
    if !require_binaries(&["notary"]) {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let data = base.path().join("data");
    // A renewal margin longer than a timestamp lives: every pass renews every timestamp.
    let srv = common::serve(
        &data,
        &["--maintenance-interval", "1s", "--renew-ahead", "15d"],
    );
    let signer = NotaryCli::new(&srv.url, &srv.ca_path);
    signer.run(&["init", GUN, "-p"]).ok("notary init");
    let timestamp_version = || -> i64 {
        let v = cli_json(&data, &["expiring", "--within", "30d", "--json"], "");
        v["expiring"][0]["version"].as_i64().unwrap()
    };
    let first = timestamp_version();
    common::eventually("a renewal without any read", || {
        timestamp_version() > first + 1
    });

    // The gauge: the earliest of what only signers renew (root, targets, the client-held
    // snapshot, the root certificate), never the timestamp.
    let all = cli_json(&data, &["expiring", "--within", "4000d", "--json"], "");
    let earliest = all["expiring"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["serverSigned"] == false)
        .map(|e| {
            time::OffsetDateTime::parse(
                e["expires"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
            .unix_timestamp()
        })
        .min()
        .unwrap();
    let agent = https_agent(&srv.ca_path);
    let metrics = agent
        .get(&format!("{}/metrics", srv.url))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "signet_repository_expiry_timestamp_seconds{{gun=\"{GUN}\"}} {earliest}\n"
        )),
        "{metrics}"
    );
    // Readers see a valid repository throughout.
    assert!(NotaryCli::new(&srv.url, &srv.ca_path).list(GUN).is_empty());
}
