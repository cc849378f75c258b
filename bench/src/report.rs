//! The table of results, with its ratios, and the same figures as JSON lines.

use crate::measure::{rss_kib, Measure};
use crate::{Opts, Target, PREVIOUS};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::Ordering;

/// Prints every workload's rows with their ratios against the reference, nginx and the
/// previous build, then each server's memory; writes the same to `jsonl`.
pub fn print(
    o: &Opts,
    targets: &[Target],
    results: &[(String, &'static str, Measure)],
    rss_idle: &BTreeMap<&str, u64>,
    rss_load: &BTreeMap<&str, u64>,
    jsonl: &mut std::fs::File,
) {
    // Table with ratios against notary-server (memory) and nginx for each workload.
    println!(
        "\nrepositories: {}   duration per run: {}s   machine: {} cores\n",
        o.repos + 1,
        o.duration,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!(
        "{:<46} {:<24} {:>11} {:>9} {:>9} {:>8} {:>13} {:>12} {:>12} {:>9} {:>11} {:>12}",
        "workload",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "vs notary-mem",
        "vs notary-pg",
        "vs nginx",
        "vs prev",
        "cpu us/req",
        "cpu vs prev"
    );
    let mut by_workload: BTreeMap<&str, Vec<&(String, &str, Measure)>> = BTreeMap::new();
    for r in results {
        by_workload.entry(r.0.as_str()).or_default().push(r);
    }
    for (w, rows) in &by_workload {
        let base = rows
            .iter()
            .find(|r| r.1 == "notary-server memory")
            .map(|r| r.2.rps);
        let base_pg = rows
            .iter()
            .find(|r| r.1 == "notary-server postgres")
            .map(|r| r.2.rps);
        let ceil = rows.iter().find(|r| r.1 == "nginx static").map(|r| r.2.rps);
        let prev = rows.iter().find(|r| r.1 == PREVIOUS).map(|r| r.2.rps);
        let prev_cpu = rows.iter().find(|r| r.1 == PREVIOUS).map(|r| r.2.cpu_us);
        for (_, name, m) in rows.iter().map(|r| (&r.0, r.1, &r.2)) {
            let ratio = |b: Option<f64>| {
                b.filter(|b| *b > 0.0)
                    .map(|b| format!("{:.2}x", m.rps / b))
                    .unwrap_or_else(|| "-".into())
            };
            // Above 1 when this server spends less CPU per request than the previous release.
            let cpu_ratio = match prev_cpu {
                Some(p) if m.cpu_us > 0.0 && name.starts_with("signet") && name != PREVIOUS => {
                    format!("{:.2}x", p / m.cpu_us)
                }
                _ => "-".into(),
            };
            println!(
                "{:<46} {:<24} {:>11.0} {:>9.2} {:>9.2} {:>8} {:>13} {:>12} {:>12} {:>9} {:>11} {:>12}",
                w,
                name,
                m.rps,
                m.p50_ms,
                m.p99_ms,
                if m.crashed {
                    format!("{} CRASH", m.errors)
                } else {
                    m.errors.to_string()
                },
                ratio(base),
                ratio(base_pg),
                ratio(ceil),
                if name.starts_with("signet") && name != PREVIOUS {
                    ratio(prev)
                } else {
                    "-".into()
                },
                // nginx answers from worker processes the bench does not follow.
                if m.cpu_us > 0.0 {
                    format!("{:.1}", m.cpu_us)
                } else {
                    "-".into()
                },
                cpu_ratio
            );
            let line = serde_json::json!({"workload": w, "server": name, "rps": m.rps, "p50_ms": m.p50_ms, "p99_ms": m.p99_ms, "errors": m.errors, "crashed": m.crashed, "cpu_us_per_request": m.cpu_us, "repos": o.repos + 1, "duration_s": o.duration});
            writeln!(jsonl, "{line}").unwrap();
        }
    }
    println!(
        "\n{:<24} {:>14} {:>18}",
        "server", "RSS idle MiB", "RSS peak load MiB"
    );
    for t in targets {
        let idle = rss_idle
            .get(t.name)
            .copied()
            .unwrap_or_else(|| rss_kib(t.pid()));
        let load = rss_load.get(t.name).copied().unwrap_or(0);
        println!(
            "{:<24} {:>14.1} {:>18.1}",
            t.name,
            idle as f64 / 1024.0,
            load as f64 / 1024.0
        );
        writeln!(
            jsonl,
            "{}",
            serde_json::json!({"server": t.name, "rss_idle_kib": idle, "rss_peak_load_kib": load})
        )
        .unwrap();
    }
    for t in targets
        .iter()
        .filter(|t| t.restarts.load(Ordering::Relaxed) > 0)
    {
        println!(
            "{} crashed and was restarted {} time(s) (rows marked CRASH)",
            t.name,
            t.restarts.load(Ordering::Relaxed)
        );
    }
}
