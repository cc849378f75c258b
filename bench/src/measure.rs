//! What the bench observes of the machine and the servers: a run's figures, a process's CPU
//! time and memory, and whether the machine is idle enough to measure.

use std::process::Command;
use std::time::{Duration, Instant};

/// One run's figures.
pub struct Measure {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// The server process died during the run.
    pub crashed: bool,
    /// Server CPU time (user and system) per completed request, microseconds: steadier than
    /// throughput when the load generator shares the machine's cores.
    pub cpu_us: f64,
}

/// CPU time (user and system) a process has used so far, seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    static CLK_TCK: std::sync::LazyLock<f64> = std::sync::LazyLock::new(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    });
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // After the command name (which may hold spaces), utime and stime are the 12th and 13th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (tick(11) + tick(12)) as f64 / *CLK_TCK
}

/// Runs one measurement and adds the server's CPU time per request to it.
pub fn with_cpu(pid: u32, duration: u64, run: impl FnOnce() -> Measure) -> Measure {
    let before = cpu_seconds(pid);
    let mut m = run();
    let requests = m.rps * duration as f64;
    if requests > 0.0 {
        m.cpu_us = (cpu_seconds(pid) - before) * 1e6 / requests;
    }
    m
}

/// Whether the process is running (not gone, not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// The process's resident memory, KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Waits (up to 20 s) until the machine is nearly idle: a server measured right after another
/// would otherwise share the cores with the previous one's aftermath (a Go server's garbage
/// collection, PostgreSQL's checkpoint of the rows just published), and its figures would
/// depend on where it stands in the list.
pub fn settle() {
    fn busy_and_total() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let total: u64 = cpu.iter().sum();
        // idle and iowait
        let idle = cpu.get(3)? + cpu.get(4).copied().unwrap_or(0);
        Some((total - idle, total))
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Some((b0, t0)) = busy_and_total() else {
            return;
        };
        std::thread::sleep(Duration::from_millis(500));
        let Some((b1, t1)) = busy_and_total() else {
            return;
        };
        if t1 > t0 && (b1 - b0) * 100 < (t1 - t0) * 10 {
            return;
        }
    }
}
