//! SIGTERM under publishes: the server stops accepting, answers what it has started, and
//! exits; no publish is committed without its client having been told so.

use signet_interop::https_agent;
use signet_interop::upload::{post_update, server_key, RepoKeys};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRITERS: usize = 8;

fn server_binary() -> Option<std::path::PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("signet-server")))
        .filter(|p| p.exists())
}

#[test]
fn sigterm_finishes_in_flight_publishes_before_exiting() {
    let Some(bin) = server_binary() else {
        assert!(
            std::env::var("SIGNET_REQUIRE_INTEROP").is_err(),
            "signet-server binary not built"
        );
        eprintln!("skipping: signet-server binary not built");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(&bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--shutdown-grace", "20"])
        .arg("--data-dir")
        .arg(data.path())
        .env("SIGNET_SIGNER_PASSPHRASE", "graceful-test-pass")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start signet-server");
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    // Keep reading the banner: a closed pipe would fail the server's later lines.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = first
        .trim()
        .strip_prefix("signet-server listening on ")
        .expect("banner")
        .to_string();
    let agent = https_agent(&data.path().join("tls/ca.crt"));

    // Every writer owns a repository and publishes new targets versions until refused.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (agent, url, stop, acknowledged) = (
                agent.clone(),
                url.clone(),
                stop.clone(),
                acknowledged.clone(),
            );
            std::thread::spawn(move || {
                let gun = format!("example.com/graceful/{i}");
                let keys = RepoKeys::new(&gun);
                let ts = server_key(&agent, &url, &gun, "timestamp");
                let snap = server_key(&agent, &url, &gun, "snapshot");
                let root = keys.root(1, &ts, &snap);
                let (s, b) = post_update(
                    &agent,
                    &url,
                    &gun,
                    &[
                        ("root", &root),
                        ("targets", &keys.targets(1, &[("v1", b"1")])),
                    ],
                );
                assert_eq!(s, 200, "{b}");
                let mut last_ok = 1;
                let mut answered_after_stop = 0;
                for v in 2.. {
                    let name = format!("v{v}");
                    let targets = keys.targets(v, &[(&name, b"x")]);
                    let stopping = stop.load(Ordering::Relaxed);
                    let boundary = "gracefulboundary";
                    let body = multipart(boundary, "targets", &targets);
                    let r = agent
                        .post(&format!("{url}/v2/{gun}/_trust/tuf/"))
                        .set(
                            "Content-Type",
                            &format!("multipart/form-data; boundary={boundary}"),
                        )
                        .send_bytes(&body);
                    match r {
                        Ok(resp) => {
                            assert_eq!(resp.status(), 200);
                            last_ok = v;
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                            if stopping {
                                answered_after_stop += 1;
                            }
                        }
                        Err(ureq::Error::Status(code, resp)) => {
                            panic!("publish {v} of {gun}: {code} {:?}", resp.into_string())
                        }
                        // Refused, or the connection closed before the request was read: the
                        // server has stopped taking work.
                        Err(ureq::Error::Transport(_)) => break,
                    }
                }
                (gun, last_ok, answered_after_stop)
            })
        })
        .collect();

    // Signal once every writer is well under way.
    let started = Instant::now();
    while acknowledged.load(Ordering::Relaxed) < WRITERS * 4 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "publishes too slow"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(20), "shutdown took {took:?}");
    let results: Vec<(String, i64, usize)> =
        writers.into_iter().map(|w| w.join().unwrap()).collect();

    // Every answered publish is stored, and nothing beyond it: the stored targets version of
    // each repository is exactly the last one its client saw acknowledged.
    let store =
        signet_server::store::SqliteStore::open(&data.path().join("signet.sqlite")).unwrap();
    use signet_server::store::MetaReader;
    for (gun, last_ok, _) in &results {
        let stored = store.latest_version(gun, "targets").unwrap().unwrap_or(0);
        assert_eq!(
            stored, *last_ok,
            "{gun}: stored version {stored}, last acknowledged {last_ok}"
        );
    }
    let total: i64 = results.iter().map(|r| r.1).sum();
    assert!(
        total > (WRITERS as i64) * 2,
        "only {total} publishes before the signal"
    );
    eprintln!(
        "{total} publishes acknowledged, {} of them after SIGTERM; exit after {took:?}",
        results.iter().map(|r| r.2).sum::<usize>()
    );
}

fn multipart(boundary: &str, role: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{role}\"\r\n\r\n").into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}
