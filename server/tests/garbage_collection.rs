//! `signet-server gc` against a server whose readers (notary 0.7 and docker 28) hold caches
//! at older versions, across a root rotation.

mod common;

use common::{cli, cli_json};
use signet_interop::*;

/// An address docker treats as a secure registry, so it checks the trust server's CA.
const GUN: &str = "192.0.2.1:5000/gc";

fn tags_from_docker(docker: &DockerCli) -> Vec<(String, String)> {
    let out = docker
        .run(&["trust", "inspect", GUN])
        .ok("docker trust inspect");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let mut tags: Vec<(String, String)> = v[0]["SignedTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["SignedTag"].as_str().unwrap().to_string(),
                t["Digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    tags.sort();
    tags
}

#[test]
fn gc_keeps_what_cached_clients_need() {
    if !require_binaries(&["notary", "docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let data = srv.data_dir.path();
    let files = tempfile::tempdir().unwrap();
    let signer = NotaryCli::new(&srv.url, &srv.ca_path);
    let publish = |tag: &str| {
        let f = write_file(files.path(), tag, tag.as_bytes());
        signer
            .run(&["add", GUN, tag, f.to_str().unwrap()])
            .ok("notary add");
        signer.run(&["publish", GUN]).ok("notary publish");
    };
    signer.run(&["init", GUN, "-p"]).ok("notary init");
    publish("v1");
    // Both readers cache the repository as it is now.
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    assert_eq!(
        tags_from_docker(&docker),
        [("v1".to_string(), sha256_hex(b"v1"))]
    );
    let reader = NotaryCli::new(&srv.url, &srv.ca_path);
    assert_eq!(reader.list(GUN).len(), 1);
    // Three more publishes and a root rotation (root version 2) while they are away.
    publish("v2");
    signer
        .run_with_input(&["key", "rotate", GUN, "root"], b"yes\n")
        .ok("rotate the root key");
    publish("v3");
    publish("v4");

    let agent = https_agent(&srv.ca_path);
    let status = |name: &str| match agent
        .get(&format!("{}/v2/{GUN}/_trust/tuf/{name}", srv.url))
        .call()
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{name}: {e}"),
    };
    let dry = cli_json(data, &["gc", "--keep", "1", "--dry-run"], "");
    assert_eq!(dry["dryRun"], true);
    assert_eq!(status("2.targets.json"), 200, "a dry run removes nothing");
    let run = cli_json(data, &["gc", "--keep", "1"], "");
    assert_eq!(run["dryRun"], false);
    for field in ["filesRemoved", "filesKept", "bytesRemoved", "removed"] {
        assert_eq!(
            run[field], dry[field],
            "{field}: dry run and real run agree"
        );
    }
    // notary's init (root 1, targets 2, snapshot 2, timestamp 1), four publishes (3 files
    // each) and a root rotation (root, snapshot, timestamp): 19 files; kept are both roots
    // and the current targets, snapshot and timestamp.
    assert_eq!(run["filesKept"], 5, "{run}");
    assert_eq!(run["filesRemoved"], 14, "{run}");
    assert_eq!(
        run["removed"][GUN],
        serde_json::json!([
            "snapshot.2",
            "snapshot.3",
            "snapshot.4",
            "snapshot.5",
            "snapshot.6",
            "targets.2",
            "targets.3",
            "targets.4",
            "targets.5",
            "timestamp.1",
            "timestamp.2",
            "timestamp.3",
            "timestamp.4",
            "timestamp.5"
        ])
    );
    assert_eq!(status("1.root.json"), 200, "every root stays");
    assert_eq!(status("2.root.json"), 200);
    assert_eq!(status("2.targets.json"), 404);
    assert_eq!(status("6.targets.json"), 200, "the current targets stays");

    // The readers' caches are at targets 3 and root 1 (both removed or superseded): both update to the current state.
    let want: Vec<(String, String)> = ["v1", "v2", "v3", "v4"]
        .iter()
        .map(|t| (t.to_string(), sha256_hex(t.as_bytes())))
        .collect();
    assert_eq!(tags_from_docker(&docker), want);
    let listed: Vec<(String, String)> = reader
        .list(GUN)
        .into_iter()
        .map(|(name, sha, _, _)| (name, sha))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(listed, want);
    // And the signer goes on publishing.
    publish("v5");
    assert_eq!(reader.list(GUN).len(), 5);

    // Nothing left to collect; bad input changes nothing.
    let again = cli_json(data, &["gc", "--keep", "1"], "");
    assert_eq!(again["filesRemoved"], 3, "only v5's predecessors: {again}");
    // The periodic form: one JSON line per run, until stopped.
    publish("v6");
    let mut every = std::process::Command::new(env!("CARGO_BIN_EXE_signet-server"))
        .args(["gc", "--keep", "1", "--every", "1m", "--data-dir"])
        .arg(data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("gc --every");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(every.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let _ = every.kill();
    let _ = every.wait();
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["filesRemoved"], 3, "v6's predecessors: {first}");
    assert_eq!(reader.list(GUN).len(), 6);
    let bad = cli(Some(data), &["gc", "--keep", "0"], "");
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stderr.contains("0 is not in 1.."), "{}", bad.stderr);
    let bad = cli(Some(data), &["gc", "--every", "soon"], "");
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        bad.stderr.trim(),
        "signet-server: --every: 'soon' is not a duration such as 45s, 90m, 36h or 30d"
    );
}
