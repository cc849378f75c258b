//! Starts the reference notary-server + notary-signer and creates repositories from 8
//! threads until one fails, then prints both logs (to see how the reference fails under load).
//!
//!     cargo run --release -p signet-interop --example reference_probe -- 300

use signet_interop::upload::{self, RepoKeys};
use signet_interop::*;
use std::sync::atomic::{AtomicUsize, Ordering};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let ns = NotaryServer::start();
    let agent = https_agent(&ns.ca_path);
    let next = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || failures.load(Ordering::Relaxed) > 0 {
                    break;
                }
                let g = format!("example.com/probe-{i}");
                let keys = RepoKeys::new(&g);
                let (s1, b1) = upload::get(
                    &agent,
                    &format!("{}/v2/{g}/_trust/tuf/timestamp.key", ns.url),
                );
                let (s2, b2) = upload::get(
                    &agent,
                    &format!("{}/v2/{g}/_trust/tuf/snapshot.key", ns.url),
                );
                if s1 != 200 || s2 != 200 {
                    eprintln!("repo {i}: key GETs {s1} {s2}");
                    failures.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                let key = |b: &[u8]| {
                    let v: serde_json::Value = serde_json::from_slice(b).unwrap();
                    signet_keys::PublicKey::from_b64(
                        v["keytype"].as_str().unwrap(),
                        v["keyval"]["public"].as_str().unwrap(),
                    )
                    .unwrap()
                };
                let (st, body) = upload::post_update(
                    &agent,
                    &ns.url,
                    &g,
                    &[
                        ("root", &keys.root(1, &key(&b1), &key(&b2))),
                        ("targets", &keys.targets(1, &[])),
                    ],
                );
                if st != 200 {
                    eprintln!("repo {i}: {st} {body}");
                    failures.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            });
        }
    });
    println!(
        "created {} repositories, {} failures",
        next.load(Ordering::Relaxed).min(n),
        failures.load(Ordering::Relaxed)
    );
    println!("{}", ns.logs());
}
