//! Memory after large uploads that are refused: the buffers of a rejected body are handed
//! back to the system as those of an accepted one are, so the process settles near idle.

use signet_interop::upload::{self, RepoKeys};
use signet_interop::{https_agent, SignetServer};

/// Resident memory of this process (the server runs in it), MiB.
fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

#[test]
fn memory_settles_after_rejected_large_uploads() {
    let server = SignetServer::start();
    let agent = https_agent(&server.ca_path);
    let gun = "example.com/large";
    let ts = upload::server_key(&agent, &server.url, gun, "timestamp");
    let snap = upload::server_key(&agent, &server.url, gun, "snapshot");
    let keys = RepoKeys::new(gun);
    let (s, body) = upload::post_update(
        &agent,
        &server.url,
        gun,
        &[
            ("root", &keys.root(1, &ts, &snap)),
            ("targets", &keys.targets(1, &[])),
        ],
    );
    assert_eq!(s, 200, "{body}");
    // Built before the baseline: the client's own copies are not the server's.
    let not_json = vec![b'['; 24 << 20];
    let unbalanced = [b"{\"signed\":".as_slice(), &vec![b' '; 24 << 20]].concat();
    let repeated_key = [
        b"{\"signed\":{\"targets\":{".as_slice(),
        &(0..400_000)
            .map(|i| format!("\"t{i}\":{{\"length\":1}},"))
            .collect::<String>()
            .into_bytes(),
        b"\"t0\":{\"length\":1}}}}",
    ]
    .concat();
    // Whole request bodies, so that sending copies nothing on the client side.
    let boundary = "memoryboundary";
    let multipart = |part: &[u8]| {
        [
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"targets\"\r\n\r\n").as_bytes(),
            part,
            format!("\r\n--{boundary}--\r\n").as_bytes(),
        ]
        .concat()
    };
    let bodies = [
        ("24 MiB of [", multipart(&not_json)),
        ("an unfinished 24 MiB document", multipart(&unbalanced)),
        ("a repeated key after 400,000", multipart(&repeated_key)),
    ];
    drop((not_json, unbalanced, repeated_key));
    let url = format!("{}/v2/{gun}/_trust/tuf/", server.url);
    let baseline = rss_mib();
    for round in 0..3 {
        for (what, body) in &bodies {
            let req = agent.post(&url).set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            );
            let (status, answer) = upload::send(req, body);
            assert_eq!(
                (status, upload::error_code(&answer).as_str()),
                (400, "MALFORMED_JSON"),
                "round {round}: {what}"
            );
        }
    }
    // The last answer can reach the client before its handler has trimmed (the response is
    // written while the handler's locals are dropped): the memory is watched until it
    // settles, for up to 10 s.
    let bound = baseline + 75;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut after = rss_mib();
    while after > bound && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(250));
        after = rss_mib();
    }
    // Without the trim this grew by 83 MiB. With it, runs on this 2-core machine settled 7 to
    // 76 MiB above the baseline within 300 ms (2026-12-02; why it spreads that wide is not yet
    // known: the process also holds the client's buffers), so the bound is set below the
    // untrimmed growth and the memory is given time to settle.
    assert!(
        after <= bound,
        "resident memory {after} MiB 10 s after rejected uploads, {baseline} MiB before"
    );
    eprintln!("resident memory: {baseline} MiB before, {after} MiB after 9 rejected uploads");
}
