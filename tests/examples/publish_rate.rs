//! Rough publish rate against a Signet server started in-process (not a benchmark of
//! record; see bench/ for the side-by-side comparison): sequential targets publishes.
//!
//!     cargo run --release -p signet-interop --example publish_rate -- 300 [postgres]
//!
//! With `postgres`, Signet runs on a throwaway PostgreSQL cluster (as root, like the tests).

use signet_interop::upload::{self, RepoKeys};
use signet_interop::*;
use std::time::Instant;

fn main() {
    let n: i64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let pg = (std::env::args().nth(2).as_deref() == Some("postgres")).then(Postgres::start);
    let srv = match &pg {
        Some(pg) => SignetServer::start_on_postgres(&pg.create_database("rate")),
        None => SignetServer::start(),
    };
    let agent = https_agent(&srv.ca_path);
    let gun = "example.com/rate";
    let keys = RepoKeys::new(gun);
    let ts = upload::server_key(&agent, &srv.url, gun, "timestamp");
    let snap = upload::server_key(&agent, &srv.url, gun, "snapshot");
    let (s, b) = upload::post_update(
        &agent,
        &srv.url,
        gun,
        &[
            ("root", &keys.root(1, &ts, &snap)),
            ("targets", &keys.targets(1, &[])),
        ],
    );
    assert_eq!(s, 200, "{b}");
    let bodies: Vec<Vec<u8>> = (2..n + 2)
        .map(|v| keys.targets(v, &[("tag", format!("{v}").as_bytes())]))
        .collect();
    let start = Instant::now();
    for body in &bodies {
        let (s, b) = upload::post_update(&agent, &srv.url, gun, &[("targets", body)]);
        assert_eq!(s, 200, "{b}");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} sequential durable publishes on {} in {secs:.2}s: {:.0}/s",
        if pg.is_some() { "PostgreSQL" } else { "SQLite" },
        n as f64 / secs
    );
}
