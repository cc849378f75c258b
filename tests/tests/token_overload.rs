//! The token endpoint under a burst of wrong passwords for a registry's admin user (whose name
//! is public): argon2id checks are bounded (memory stays near threads × 19 MiB), repeated
//! failures are answered `429` with `Retry-After` without computing a hash, and the right
//! password works again once the delay has passed.

use serde_json::json;
use signet_interop::admin::AdminClient;
use signet_interop::{basic_auth, upload, SignetServer};
use signet_server::password_guard::{GuardConfig, ThrottlePolicy};
use std::time::Duration;

/// Peak resident memory of this process (the server runs in it), KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `GET /oauth2/token` with Basic credentials: status, `Retry-After`, error code.
fn token(agent: &ureq::Agent, url: &str, user: &str, password: &str) -> (u16, Option<u64>, String) {
    let req = agent
        .get(&format!("{url}/oauth2/token"))
        .query("service", "signet")
        .query("scope", "repository:contoso.test/app:pull")
        .set(
            "Authorization",
            &format!("Basic {}", basic_auth(user, password)),
        );
    let (status, retry, body) = match req.call() {
        Ok(r) => (r.status(), None, r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => {
            let retry = r.header("retry-after").and_then(|v| v.parse().ok());
            (code, retry, r.into_string().unwrap_or_default())
        }
        Err(e) => panic!("token request: {e}"),
    };
    (status, retry, upload::error_code(&body))
}

#[test]
fn wrong_password_bursts_are_bounded_and_slowed_down_not_locked_out() {
    let threads = 2;
    let server = SignetServer::start_with_auth(signet_server::auth::AuthConfig {
        password_checks: GuardConfig {
            workers: threads,
            queue: 64,
            identity: ThrottlePolicy {
                free_failures: 5,
                first_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(2),
                forget_after: Duration::from_secs(600),
            },
            // All clients here share 127.0.0.1: the identity's throttle is under test.
            client: ThrottlePolicy {
                free_failures: 10_000,
                first_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(2),
                forget_after: Duration::from_secs(600),
            },
        },
        ..Default::default()
    });
    let admin = AdminClient::new(&server);
    admin.ok(
        "POST",
        "registries",
        json!({"name": "contoso", "loginServer": "contoso.test", "sku": "Premium", "adminUserEnabled": true}),
    );
    let password = admin.ok(
        "PATCH",
        "registries/contoso",
        json!({"regenerateAdminPassword": true}),
    )["adminCredentials"]["password"]
        .as_str()
        .expect("admin password")
        .to_string();
    let agent = admin.agent.clone();
    let url = server.url.clone();
    // One check first: the argon2 buffers of the process are in the baseline.
    assert_eq!(token(&agent, &url, "contoso", &password).0, 200);
    let baseline = peak_rss_kib();

    // 64 wrong passwords at once.
    let answers: Vec<(u16, Option<u64>, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let (agent, url) = (agent.clone(), url.clone());
                scope.spawn(move || token(&agent, &url, "contoso", &format!("guess-{i}")))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let grown_mib = peak_rss_kib().saturating_sub(baseline) / 1024;
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    let checked = answers.iter().filter(|a| a.0 == 401).count();
    assert_eq!(refused.len() + checked, 64, "{answers:?}");
    // The free failures plus those already running when the delay began.
    assert!(
        (5..=5 + threads).contains(&checked),
        "{checked} checked: {answers:?}"
    );
    for (_, retry, code) in &refused {
        assert_eq!(code, "TOOMANYREQUESTS");
        assert!(matches!(retry, Some(1..=2)), "Retry-After {retry:?}");
    }
    assert!(
        grown_mib < 80,
        "peak memory grew by {grown_mib} MiB for 64 concurrent wrong passwords"
    );

    // Even the right password waits, then works; the failures are then forgotten.
    let (status, retry, code) = token(&agent, &url, "contoso", &password);
    assert_eq!((status, code.as_str()), (429, "TOOMANYREQUESTS"));
    std::thread::sleep(Duration::from_secs(retry.expect("Retry-After")));
    assert_eq!(token(&agent, &url, "contoso", &password).0, 200);
    let (status, _, code) = token(&agent, &url, "contoso", "wrong again");
    assert_eq!((status, code.as_str()), (401, "UNAUTHORIZED"));
    // Another identity was never slowed down.
    admin.ok(
        "POST",
        "identities",
        json!({"name": "alice", "password": "alice-pass"}),
    );
    assert_eq!(token(&agent, &url, "alice", "alice-pass").0, 200);
    eprintln!("64 concurrent wrong passwords: {checked} hashed, peak memory +{grown_mib} MiB");
}
