//! Signet on PostgreSQL through a database restart: the pooled connections all die with it,
//! and reads afterwards must not fail on them.

use signet_interop::upload::{self, RepoKeys};
use signet_interop::*;
use std::time::Duration;

const REPOS: usize = 4;

fn gun(i: usize) -> String {
    format!("example.com/restart{i}")
}

/// 40 reads that go to the database (the changefeeds and versioned files are never cached),
/// from 4 clients at once, as (URL, status, body) for the failures.
fn read_all(agent: &ureq::Agent, url: &str) -> Vec<(String, u16, String)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for n in 0..10 {
                        let i = (t + n) % REPOS;
                        let path = match n % 3 {
                            0 => format!("/v2/{}/_trust/changefeed?change_id=0&records=10", gun(i)),
                            1 => format!("/v2/{}/_trust/tuf/2.targets.json", gun(i)),
                            _ => "/v2/_trust/changefeed?change_id=0&records=100".to_string(),
                        };
                        let (status, body) = upload::get(agent, &format!("{url}{path}"));
                        if status != 200 {
                            failures.push((path, status, String::from_utf8_lossy(&body).into()));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("reader"))
            .collect()
    })
}

#[test]
fn reads_succeed_after_a_quiet_postgres_restart() {
    if !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    let url = pg.create_database("restart");
    let server = SignetServer::start_on_postgres(&url);
    let agent = https_agent(&server.ca_path);
    let mut repo_keys = Vec::new();
    for i in 0..REPOS {
        let g = gun(i);
        let ts = upload::server_key(&agent, &server.url, &g, "timestamp");
        let snap = upload::server_key(&agent, &server.url, &g, "snapshot");
        let keys = RepoKeys::new(&g);
        for (v, parts) in [
            (
                1,
                vec![
                    ("root", keys.root(1, &ts, &snap)),
                    ("targets", keys.targets(1, &[])),
                ],
            ),
            (2, vec![("targets", keys.targets(2, &[("v2", b"two")]))]),
        ] {
            let parts: Vec<(&str, &[u8])> = parts.iter().map(|(r, b)| (*r, b.as_slice())).collect();
            let (s, body) = upload::post_update(&agent, &server.url, &g, &parts);
            assert_eq!(s, 200, "{g} v{v}: {body}");
        }
        repo_keys.push(keys);
    }
    // Several pooled connections, all opened before the restart.
    assert!(read_all(&agent, &server.url).is_empty());

    // Read at once (the pooled connections were used moments ago) and after a quiet spell.
    for (pause, when) in [(0, "right after"), (3, "3 s after")] {
        pg.restart();
        std::thread::sleep(Duration::from_secs(pause));
        let failures = read_all(&agent, &server.url);
        assert!(
            failures.is_empty(),
            "{} of 40 reads failed {when} a PostgreSQL restart: {failures:?}",
            failures.len()
        );
    }
    // Writes work again too, and the reads see them.
    let g = gun(0);
    let (s, body) = upload::post_update(
        &agent,
        &server.url,
        &g,
        &[("targets", &repo_keys[0].targets(3, &[]))],
    );
    assert_eq!(s, 200, "{body}");
    let (s, feed) = upload::get(
        &agent,
        &format!(
            "{}/v2/{g}/_trust/changefeed?change_id=0&records=10",
            server.url
        ),
    );
    assert_eq!(s, 200);
    let feed: serde_json::Value = serde_json::from_slice(&feed).unwrap();
    assert_eq!(feed["records"].as_array().map(Vec::len), Some(3), "{feed}");
}
