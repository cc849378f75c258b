//! Signet's HTTP API route by route: status, headers, exact bytes, paging, limits, restarts.

use signet_interop::upload::{self, RepoKeys};
use signet_interop::*;

const GUN: &str = "example.com/api";

fn header(agent: &ureq::Agent, url: &str, name: &str) -> Option<String> {
    agent.get(url).call().ok()?.header(name).map(str::to_string)
}

fn publish_repo(
    agent: &ureq::Agent,
    srv: &SignetServer,
    gun: &str,
) -> (RepoKeys, Vec<u8>, Vec<u8>) {
    let keys = RepoKeys::new(gun);
    let ts = upload::server_key(agent, &srv.url, gun, "timestamp");
    let snap = upload::server_key(agent, &srv.url, gun, "snapshot");
    let root = keys.root(1, &ts, &snap);
    let targets = keys.targets(1, &[("v1", b"one")]);
    let (s, b) = upload::post_update(
        agent,
        &srv.url,
        gun,
        &[("root", &root), ("targets", &targets)],
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b, "", "successful publish has an empty body");
    (keys, root, targets)
}

#[test]
fn metadata_routes_serve_raw_bytes_with_reference_headers() {
    metadata_routes(SignetServer::start());
}

#[test]
fn metadata_routes_on_postgres() {
    if !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    metadata_routes(SignetServer::start_on_postgres(
        &pg.create_database("routes"),
    ));
    changefeed(SignetServer::start_on_postgres(&pg.create_database("feed")));
}

fn metadata_routes(srv: SignetServer) {
    let a = https_agent(&srv.ca_path);
    let base = format!("{}/v2/{GUN}/_trust/tuf", srv.url);
    assert_eq!(
        upload::get(&a, &format!("{}/v2/", srv.url)),
        (200, b"{}".to_vec())
    );
    let health = a
        .get(&format!("{}/_notary_server/health", srv.url))
        .call()
        .unwrap();
    assert_eq!(
        health.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(health.into_string().unwrap(), "{}");

    let (keys, root, targets) = publish_repo(&a, &srv, GUN);
    assert_eq!(
        upload::get(&a, &format!("{base}/root.json")),
        (200, root.clone())
    );
    assert_eq!(
        upload::get(&a, &format!("{base}/targets.json")),
        (200, targets.clone())
    );
    assert_eq!(
        upload::get(&a, &format!("{base}/1.root.json")),
        (200, root.clone())
    );
    assert_eq!(
        upload::get(&a, &format!("{base}/root.{}.json", sha256_hex(&root))),
        (200, root.clone())
    );
    assert_eq!(
        header(&a, &format!("{base}/root.json"), "Cache-Control").as_deref(),
        Some("public, max-age=300, s-maxage=300, must-revalidate")
    );
    assert_eq!(
        header(&a, &format!("{base}/1.root.json"), "Cache-Control").as_deref(),
        Some("public, max-age=2592000, s-maxage=2592000")
    );
    let lm = header(&a, &format!("{base}/root.json"), "Last-Modified").unwrap();
    assert!(
        lm.ends_with(" UTC") && lm.len() == "Mon, 02 Jan 2006 15:04:05 UTC".len(),
        "{lm}"
    );
    // Only SHA-256 is indexed; version 0 and HEAD do not exist (as in the reference).
    assert_eq!(
        upload::get(&a, &format!("{base}/root.{}.json", "ab".repeat(48))).0,
        404
    );
    assert_eq!(upload::get(&a, &format!("{base}/0.root.json")).0, 404);
    assert_eq!(upload::get(&a, &format!("{base}/root.key")).0, 404);
    let (hs, _) = upload::send(a.request("HEAD", &format!("{base}/root.json")), b"");
    assert_eq!(hs, 404);

    // The timestamp is server-signed over the snapshot the server generated.
    let root_s = signet_tuf::SignedRoot::from_bytes("root", &root).unwrap();
    let (_, ts_raw) = upload::get(&a, &format!("{base}/timestamp.json"));
    let ts = signet_tuf::SignedTimestamp::from_bytes("timestamp", &ts_raw).unwrap();
    ts.verify_threshold(&root_s.signed.role_keys("timestamp").unwrap())
        .unwrap();
    let (_, snap_raw) = upload::get(&a, &format!("{base}/snapshot.json"));
    ts.signed
        .snapshot_meta()
        .unwrap()
        .check_hashes("snapshot", &snap_raw)
        .unwrap();
    let snap = signet_tuf::SignedSnapshot::from_bytes("snapshot", &snap_raw).unwrap();
    snap.verify_threshold(&root_s.signed.role_keys("snapshot").unwrap())
        .unwrap();
    snap.signed
        .meta_for("targets")
        .unwrap()
        .check_hashes("targets", &targets)
        .unwrap();
    assert_eq!(ts.version(), 1);

    // A new publish replaces what the cache serves.
    let t2 = keys.targets(2, &[("v2", b"two")]);
    assert_eq!(
        upload::post_update(&a, &srv.url, GUN, &[("targets", &t2)]).0,
        200
    );
    assert_eq!(upload::get(&a, &format!("{base}/targets.json")), (200, t2));
    let (_, ts2) = upload::get(&a, &format!("{base}/timestamp.json"));
    assert_eq!(
        signet_tuf::SignedTimestamp::from_bytes("timestamp", &ts2)
            .unwrap()
            .version(),
        2
    );
    assert_eq!(
        upload::get(&a, &format!("{base}/1.targets.json")),
        (200, targets)
    );

    let metrics = String::from_utf8(upload::get(&a, &format!("{}/metrics", srv.url)).1).unwrap();
    assert!(metrics.contains("signet_publishes_total 2"), "{metrics}");
    assert!(
        metrics.contains("signet_http_requests_total{route=\"current\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("signet_server_signed_expiry_timestamp_seconds{role=\"timestamp\"}"),
        "{metrics}"
    );
}

#[test]
fn server_keys_are_reused_until_used_and_rotated_by_post() {
    let srv = SignetServer::start();
    let a = https_agent(&srv.ca_path);
    let gun = "example.com/keys";
    let k1 = upload::server_key(&a, &srv.url, gun, "snapshot");
    let k2 = upload::server_key(&a, &srv.url, gun, "snapshot");
    assert_eq!(k1, k2, "pending key is reused");
    let body = a
        .get(&format!("{}/v2/{gun}/_trust/tuf/timestamp.key", srv.url))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        body.starts_with("{\"keytype\":\"ecdsa\",\"keyval\":{\"public\":\"")
            && body.ends_with("\",\"private\":null}}"),
        "{body}"
    );
    publish_repo(&a, &srv, gun);
    let rotated = a
        .post(&format!("{}/v2/{gun}/_trust/tuf/snapshot.key", srv.url))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(!rotated.contains(&upload::server_key(&a, &srv.url, gun, "snapshot").public_b64()));
}

#[test]
fn changefeed_pages_like_the_reference() {
    changefeed(SignetServer::start());
}

fn changefeed(srv: SignetServer) {
    let a = https_agent(&srv.ca_path);
    let feed = |q: &str| upload::get(&a, &format!("{}/v2/_trust/changefeed?{q}", srv.url));
    assert_eq!(
        feed("records=10"),
        (200, br#"{"count":0,"records":null}"#.to_vec())
    );
    for g in ["example.com/f1", "example.com/f2", "example.com/f3"] {
        publish_repo(&a, &srv, g);
    }
    let parse = |b: Vec<u8>| serde_json::from_slice::<serde_json::Value>(&b).unwrap();
    let all = parse(feed("records=0").1);
    assert_eq!(all["count"], 3);
    let ids: Vec<String> = all["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ID"].as_str().unwrap().to_string())
        .collect();
    let first = &all["records"][0];
    assert_eq!(first["GUN"], "example.com/f1");
    assert_eq!(first["Version"], 1);
    assert_eq!(first["Category"], "update");
    assert_eq!(first["SHA256"].as_str().unwrap().len(), 64);
    // Paging is exclusive of change_id; negative records page backwards, oldest first.
    let after = parse(feed(&format!("change_id={}&records=10", ids[0])).1);
    assert_eq!(after["count"], 2);
    assert_eq!(after["records"][0]["ID"].as_str().unwrap(), ids[1]);
    let newest = parse(feed("change_id=-1&records=-2").1);
    assert_eq!(newest["records"][0]["ID"].as_str().unwrap(), ids[1]);
    assert_eq!(newest["records"][1]["ID"].as_str().unwrap(), ids[2]);
    let per_gun = parse(
        upload::get(
            &a,
            &format!("{}/v2/example.com/f2/_trust/changefeed?records=5", srv.url),
        )
        .1,
    );
    assert_eq!(per_gun["count"], 1);
    assert_eq!(per_gun["records"][0]["GUN"], "example.com/f2");
    for bad in [
        "",
        "records=",
        "records=abc",
        "records=5&change_id=x",
        "records=100000",
        "records=99999999999",
    ] {
        let (s, b) = feed(bad);
        assert_eq!(s, 400, "{bad}");
        assert_eq!(
            upload::error_code(&String::from_utf8(b).unwrap()),
            "INVALID_PARAMETERS",
            "{bad}"
        );
    }
    // A delete writes a deletion record.
    let (s, body) = upload::send(
        a.delete(&format!("{}/v2/example.com/f1/_trust/tuf/", srv.url)),
        b"",
    );
    assert_eq!((s, body.as_str()), (200, ""));
    let last = parse(feed("change_id=-1&records=-1").1);
    assert_eq!(last["records"][0]["Category"], "deletion");
    assert_eq!(last["records"][0]["Version"], 0);
    assert_eq!(
        upload::get(
            &a,
            &format!("{}/v2/example.com/f1/_trust/tuf/root.json", srv.url)
        )
        .0,
        404
    );
}

#[test]
fn bad_input_is_refused_without_changing_anything() {
    let http = signet_server::http::HttpConfig {
        max_body_bytes: 16384,
        max_part_bytes: 8192,
        ..Default::default()
    };
    let srv = SignetServer::start_with(tempfile::tempdir().unwrap(), http, vec![]);
    let a = https_agent(&srv.ca_path);
    let (_, root, _) = publish_repo(&a, &srv, GUN);
    let big = vec![b' '; 20000];
    let (s, b) = upload::post_update(&a, &srv.url, GUN, &[("targets", &big)]);
    assert_eq!(s, 413, "{b}");
    assert_eq!(upload::error_code(&b), "MALFORMED_UPLOAD");
    for gun in [
        "example.com/a%00b",
        "example.com//x",
        "example.com/a b",
        "example.com/a%5Cb",
    ] {
        let (s, b) = upload::get(
            &a,
            &format!(
                "{}/v2/{}/_trust/tuf/root.json",
                srv.url,
                gun.replace(' ', "%20")
            ),
        );
        // Nothing can be stored under such a name: a read finds nothing, as in notary-server.
        assert_eq!(s, 404, "{gun}");
        assert_eq!(
            upload::error_code(&String::from_utf8(b).unwrap()),
            "METADATA_NOT_FOUND"
        );
        let (s, b) = upload::get(
            &a,
            &format!(
                "{}/v2/{}/_trust/tuf/timestamp.key",
                srv.url,
                gun.replace(' ', "%20")
            ),
        );
        assert_eq!(s, 400, "{gun}");
        assert_eq!(
            upload::error_code(&String::from_utf8(b).unwrap()),
            "INVALID_GUN"
        );
    }
    assert_eq!(
        upload::get(&a, &format!("{}/v2/exa*mple/_trust/tuf/root.json", srv.url)).0,
        404
    );
    assert_eq!(upload::get(&a, &format!("{}/nothing/here", srv.url)).0, 404);
    // The repository is unchanged by all of it.
    assert_eq!(
        upload::get(&a, &format!("{}/v2/{GUN}/_trust/tuf/root.json", srv.url)),
        (200, root)
    );
    let (_, ts) = upload::get(
        &a,
        &format!("{}/v2/{GUN}/_trust/tuf/timestamp.json", srv.url),
    );
    assert_eq!(
        signet_tuf::SignedTimestamp::from_bytes("timestamp", &ts)
            .unwrap()
            .version(),
        1
    );
}

#[test]
fn data_and_tls_survive_a_restart() {
    let srv = SignetServer::start();
    let a = https_agent(&srv.ca_path);
    let (_, root, targets) = publish_repo(&a, &srv, GUN);
    let ca_before = std::fs::read(&srv.ca_path).unwrap();
    let dir = srv.stop();
    let srv = SignetServer::start_with(dir, Default::default(), vec![]);
    assert_eq!(std::fs::read(&srv.ca_path).unwrap(), ca_before, "CA reused");
    let a = https_agent(&srv.ca_path);
    assert_eq!(
        upload::get(&a, &format!("{}/v2/{GUN}/_trust/tuf/root.json", srv.url)),
        (200, root)
    );
    assert_eq!(
        upload::get(&a, &format!("{}/v2/{GUN}/_trust/tuf/targets.json", srv.url)),
        (200, targets)
    );
    // The server keys still open (same passphrase, same database): a timestamp is served.
    assert_eq!(
        upload::get(
            &a,
            &format!("{}/v2/{GUN}/_trust/tuf/timestamp.json", srv.url)
        )
        .0,
        200
    );
    let mode = std::fs::metadata(srv.data_dir.path().join("tls/server.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
}

#[test]
fn http2_and_keep_alive_are_offered() {
    if !require_binaries(&["curl"]) {
        return;
    }
    let srv = SignetServer::start();
    let url = format!("{}/v2/", srv.url);
    let run = |extra: &[&str]| {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code} %{num_connects}\\n",
                "--cacert",
            ])
            .arg(&srv.ca_path)
            .args(extra)
            .arg(&url)
            .arg(&url)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    // ALPN picks HTTP/2; both requests share one connection.
    assert_eq!(run(&["--http2"]), "2 200 1\n2 200 0\n");
    // HTTP/1.1 with keep-alive: the second request reuses the connection too.
    assert_eq!(run(&["--http1.1"]), "1.1 200 1\n1.1 200 0\n");
}

/// With a read cache far smaller than the repositories read, every GET still answers the
/// current bytes: evicted files are reloaded, and a publish is seen at once.
#[test]
fn a_small_read_cache_serves_current_bytes_through_eviction() {
    let http = signet_server::http::HttpConfig {
        // Room for a handful of these repositories (about 6 KiB each with all four roles).
        read_cache_bytes: 32 * 1024,
        ..Default::default()
    };
    let srv = SignetServer::start_with(tempfile::tempdir().unwrap(), http, vec![]);
    let a = https_agent(&srv.ca_path);
    let guns: Vec<String> = (0..12).map(|i| format!("example.com/small-{i}")).collect();
    let published: Vec<_> = guns.iter().map(|g| publish_repo(&a, &srv, g)).collect();
    let get = |g: &str, role: &str| {
        let (s, b) = upload::get(&a, &format!("{}/v2/{g}/_trust/tuf/{role}.json", srv.url));
        assert_eq!(s, 200, "{g} {role}");
        b
    };
    let mut timestamps = std::collections::BTreeMap::new();
    for round in 0..3 {
        for (g, (_, root, targets)) in guns.iter().zip(&published) {
            assert_eq!(&get(g, "root"), root, "{g} root, round {round}");
            assert_eq!(&get(g, "targets"), targets, "{g} targets, round {round}");
            let ts = get(g, "timestamp");
            get(g, "snapshot");
            // Reloaded from the store, not re-signed: the same bytes every round.
            assert_eq!(
                timestamps.entry(g.clone()).or_insert_with(|| ts.clone()),
                &ts,
                "{g} timestamp, round {round}"
            );
        }
    }
    for (g, (keys, _, _)) in guns.iter().zip(&published).step_by(5) {
        let v2 = keys.targets(2, &[("v2", b"two")]);
        let (s, b) = upload::post_update(&a, &srv.url, g, &[("targets", &v2)]);
        assert_eq!(s, 200, "{b}");
        assert_eq!(get(g, "targets"), v2, "{g} after publish");
        assert_ne!(get(g, "timestamp"), timestamps[g], "{g} new timestamp");
    }
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut out)
        .expect("a valid gzip stream");
    out
}

/// GET with `Accept-Encoding` as given: status, `Content-Encoding`, `Vary`, raw body.
fn get_encoded(
    agent: &ureq::Agent,
    url: &str,
    accept: Option<&str>,
) -> (u16, Option<String>, Option<String>, Vec<u8>) {
    let mut req = agent.get(url);
    if let Some(a) = accept {
        req = req.set("Accept-Encoding", a);
    }
    let r = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let (ce, vary) = (
        r.header("Content-Encoding").map(str::to_string),
        r.header("Vary").map(str::to_string),
    );
    let status = r.status();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
    (status, ce, vary, body)
}

#[test]
fn large_metadata_goes_gzipped_to_clients_that_ask_and_checksum_urls_come_from_the_cache() {
    let srv = SignetServer::start();
    let a = https_agent(&srv.ca_path);
    let gun = "example.com/big";
    let base = format!("{}/v2/{gun}/_trust/tuf", srv.url);
    let keys = RepoKeys::new(gun);
    let ts_key = upload::server_key(&a, &srv.url, gun, "timestamp");
    let snap_key = upload::server_key(&a, &srv.url, gun, "snapshot");
    let names: Vec<String> = (0..300).map(|i| format!("tag-{i:03}")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
    let targets = keys.targets(1, &files);
    assert!(targets.len() > 20_000, "{} bytes", targets.len());
    let (s, b) = upload::post_update(
        &a,
        &srv.url,
        gun,
        &[
            ("root", &keys.root(1, &ts_key, &snap_key)),
            ("targets", &targets),
        ],
    );
    assert_eq!(s, 200, "{b}");

    // Without Accept-Encoding: the raw bytes, and a Vary for shared caches.
    let (s, ce, vary, body) = get_encoded(&a, &format!("{base}/targets.json"), None);
    assert_eq!(
        (s, ce, vary.as_deref()),
        (200, None, Some("Accept-Encoding"))
    );
    assert_eq!(body, targets);
    // With gzip (Go's transport sends exactly this): the compressed copy of the same bytes.
    let (s, ce, _, gz) = get_encoded(&a, &format!("{base}/targets.json"), Some("gzip"));
    assert_eq!((s, ce.as_deref()), (200, Some("gzip")));
    // Hashes are most of a targets file and random: gzip saves about 45%.
    assert!(
        gz.len() * 10 < targets.len() * 6,
        "{} of {}",
        gz.len(),
        targets.len()
    );
    assert_eq!(gunzip(&gz), targets);
    // gzip refused with q=0: plain.
    let (_, ce, _, body) = get_encoded(&a, &format!("{base}/targets.json"), Some("gzip;q=0"));
    assert_eq!((ce, body.len()), (None, targets.len()));

    // The checksum URL docker fetches, compressed too, with the long-lived cache header.
    let sum1 = sha256_hex(&targets);
    let url1 = format!("{base}/targets.{sum1}.json");
    let (_, ce, _, gz) = get_encoded(&a, &url1, Some("gzip"));
    assert_eq!(ce.as_deref(), Some("gzip"));
    assert_eq!(gunzip(&gz), targets);
    assert_eq!(
        header(&a, &url1, "Cache-Control").as_deref(),
        Some("public, max-age=2592000, s-maxage=2592000")
    );

    // A timestamp is too small to gain anything: plain even when gzip is offered.
    let (_, ce, vary, ts_raw) = get_encoded(&a, &format!("{base}/timestamp.json"), Some("gzip"));
    assert_eq!((ce, vary), (None, None));
    let ts = signet_tuf::SignedTimestamp::from_bytes("timestamp", &ts_raw).unwrap();
    let snap_sum = hex::encode(ts.signed.snapshot_meta().unwrap().hash("sha256").unwrap());
    let (_, snap_raw) = upload::get(&a, &format!("{base}/snapshot.json"));
    assert_eq!(
        upload::get(&a, &format!("{base}/snapshot.{snap_sum}.json")),
        (200, snap_raw.clone())
    );

    // After a new version, the old checksum still serves the old bytes (from the database)
    // and the new one the new bytes; an unknown checksum is 404.
    let targets2 = keys.targets(2, &files[..200]);
    assert_eq!(
        upload::post_update(&a, &srv.url, gun, &[("targets", &targets2)]).0,
        200
    );
    assert_eq!(upload::get(&a, &url1), (200, targets.clone()));
    let (_, ce, _, gz) = get_encoded(
        &a,
        &format!("{base}/targets.{}.json", sha256_hex(&targets2)),
        Some("gzip"),
    );
    assert_eq!(ce.as_deref(), Some("gzip"));
    assert_eq!(gunzip(&gz), targets2);
    assert_eq!(
        upload::get(&a, &format!("{base}/targets.{}.json", "0".repeat(64))).0,
        404
    );
    assert_eq!(
        upload::get(&a, &format!("{base}/snapshot.{snap_sum}.json")),
        (200, snap_raw),
        "the replaced snapshot by its checksum"
    );

    let gzip_count = |a: &ureq::Agent| -> u64 {
        let m = String::from_utf8(upload::get(a, &format!("{}/metrics", srv.url)).1).unwrap();
        m.lines()
            .find_map(|l| l.strip_prefix("signet_gzip_responses_total "))
            .and_then(|n| n.parse().ok())
            .expect("gzip counter")
    };
    assert_eq!(gzip_count(&a), 3);
    let metrics = String::from_utf8(upload::get(&a, &format!("{}/metrics", srv.url)).1).unwrap();
    assert!(
        metrics.contains("\nsignet_read_cache_repositories 1\n"),
        "{metrics}"
    );
    let cached: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("signet_read_cache_bytes "))
        .and_then(|n| n.parse().ok())
        .expect("cache gauge");
    assert!(
        cached > targets2.len() && cached < 4 * targets2.len(),
        "{cached} bytes cached for a {}-byte targets file",
        targets2.len()
    );

    // The real notary client asks for gzip on its own (Go's transport) and reads the
    // compressed targets transparently: every tag of the current version is listed.
    if require_binaries(&["notary"]) {
        let rows = NotaryCli::new(&srv.url, &srv.ca_path).list(gun);
        assert_eq!(rows.len(), 200);
        assert!(rows.iter().any(|r| r.0 == "tag-199"), "{:?}", &rows[..3]);
        assert!(gzip_count(&a) > 3, "notary did not take the gzip body");
    }
}
