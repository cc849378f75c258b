//! Two Signet instances sharing one PostgreSQL: shared server keys, cache invalidation across
//! instances, and concurrent publishes where each version is accepted exactly once.

use signet_interop::upload::{self, RepoKeys};
use signet_interop::*;
use std::time::{Duration, Instant};

const GUN: &str = "example.com/shared";

fn version_of(agent: &ureq::Agent, url: &str, role: &str) -> i64 {
    let (s, body) = upload::get(agent, &format!("{url}/v2/{GUN}/_trust/tuf/{role}.json"));
    assert_eq!(s, 200, "{role} from {url}");
    signet_tuf::Envelope::parse(role, &body)
        .unwrap()
        .version()
        .unwrap()
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_instances_share_keys_caches_and_versions() {
    if !Postgres::available() || !require_binaries(&["notary", "runuser"]) {
        return;
    }
    let pg = Postgres::start();
    let url = pg.create_database("shared");
    let a = SignetServer::start_on_postgres(&url);
    let b = SignetServer::start_on_postgres(&url);
    let (aa, ab) = (https_agent(&a.ca_path), https_agent(&b.ca_path));

    // Server-held keys live in the database, sealed: both instances hand out the same ones.
    let ts = upload::server_key(&aa, &a.url, GUN, "timestamp");
    assert_eq!(upload::server_key(&ab, &b.url, GUN, "timestamp"), ts);
    let snap = upload::server_key(&ab, &b.url, GUN, "snapshot");
    assert_eq!(upload::server_key(&aa, &a.url, GUN, "snapshot"), snap);

    let keys = RepoKeys::new(GUN);
    let (s, body) = upload::post_update(
        &aa,
        &a.url,
        GUN,
        &[
            ("root", &keys.root(1, &ts, &snap)),
            ("targets", &keys.targets(1, &[])),
        ],
    );
    assert_eq!(s, 200, "{body}");
    // B serves (and caches) what A stored; a later publish on A reaches B's cache.
    assert_eq!(version_of(&ab, &b.url, "targets"), 1);
    assert_eq!(version_of(&ab, &b.url, "timestamp"), 1);
    let (s, body) = upload::post_update(
        &aa,
        &a.url,
        GUN,
        &[("targets", &keys.targets(2, &[("v2", b"two")]))],
    );
    assert_eq!(s, 200, "{body}");
    eventually("B serves targets v2 after A's publish", || {
        version_of(&ab, &b.url, "targets") == 2
    });
    eventually("B serves the new timestamp", || {
        version_of(&ab, &b.url, "timestamp") == 2
    });

    // Concurrent publishes of the same next version through both instances.
    let rounds = 8;
    let writers = 8;
    let mut winners = Vec::new();
    for round in 0..rounds {
        let version = 3 + round;
        let results: Vec<(u16, String)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..writers)
                .map(|w| {
                    let (agent, url) = if w % 2 == 0 {
                        (&aa, &a.url)
                    } else {
                        (&ab, &b.url)
                    };
                    let body = keys.targets(
                        version,
                        &[(&format!("r{round}-w{w}"), format!("{round}/{w}").as_bytes())],
                    );
                    scope.spawn(move || upload::post_update(agent, url, GUN, &[("targets", &body)]))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.0 == 200)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            ok.len(),
            1,
            "round {round}: exactly one winner: {results:?}"
        );
        for (i, (status, body)) in results.iter().enumerate() {
            if i != ok[0] {
                assert_eq!(
                    (*status, upload::error_code(body).as_str()),
                    (400, "VERSION"),
                    "round {round}: {body}"
                );
            }
        }
        winners.push(format!("r{round}-w{}", ok[0]));
    }

    // Nothing lost, nothing duplicated: versions 1..=last, each stored once, on both instances.
    let last = 2 + rounds;
    for v in 1..=last {
        let (s, _) = upload::get(
            &ab,
            &format!("{}/v2/{GUN}/_trust/tuf/{v}.targets.json", b.url),
        );
        assert_eq!(s, 200, "targets version {v}");
    }
    assert_eq!(
        upload::get(
            &aa,
            &format!("{}/v2/{GUN}/_trust/tuf/{}.targets.json", a.url, last + 1)
        )
        .0,
        404
    );
    eventually("A and B agree on the current targets", || {
        version_of(&aa, &a.url, "targets") == last && version_of(&ab, &b.url, "targets") == last
    });
    // Every accepted publish wrote exactly one timestamp (plus the two before the races).
    let feed: serde_json::Value = serde_json::from_slice(
        &upload::get(
            &aa,
            &format!("{}/v2/{GUN}/_trust/changefeed?records=1000", a.url),
        )
        .1,
    )
    .unwrap();
    assert_eq!(feed["count"].as_i64().unwrap(), last);

    // The chain served by either instance verifies with the reference client.
    for srv in [&a, &b] {
        let cli = NotaryCli::new(&srv.url, &srv.ca_path);
        let rows = cli.list(GUN);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(&rows[0].0, winners.last().unwrap());
    }
}
