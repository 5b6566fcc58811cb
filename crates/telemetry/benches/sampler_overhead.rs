//! Overhead of the meter thread: its CPU time (utime + stime of the
//! `trilemma-meters` thread in /proc/self/task/<tid>/stat) per wall second while
//! it samples every 100 ms. Goal: under 0.5% of one core.
//!
//! `cargo bench -p trilemma-telemetry --bench sampler_overhead [-- SECONDS]` (default 20).

use std::time::{Duration, Instant};

use trilemma_telemetry::{Telemetry, TelemetryConfig};

fn thread_cpu_s(name: &str) -> Option<f64> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        return Some(ticks / 100.0);
    }
    None
}

fn main() {
    let seconds: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20.0);
    let cfg = TelemetryConfig::default();
    let t = Telemetry::start(&cfg);
    std::thread::sleep(Duration::from_millis(50));
    let Some(cpu0) = thread_cpu_s("trilemma-meters") else {
        eprintln!("the meter thread was not found under /proc/self/task");
        std::process::exit(1);
    };
    let wall = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let cpu1 = thread_cpu_s("trilemma-meters").unwrap_or(cpu0);
    let elapsed = wall.elapsed().as_secs_f64();
    let r = t.finish();
    let (a, b) = r.span();
    let samples = ((b - a) as f64 / 1e9 / cfg.period.as_secs_f64()).round();
    let pct = 100.0 * (cpu1 - cpu0) / elapsed;
    println!(
        "meter thread: {:.3} s CPU over {elapsed:.1} s wall = {pct:.3}% of one core \
         (period {} ms, ~{samples} samples; clock ticks of 10 ms bound the resolution); goal < 0.5%: {}",
        cpu1 - cpu0,
        cfg.period.as_millis(),
        if pct < 0.5 { "met" } else { "NOT met" }
    );
    for u in r.unavailable() {
        println!("unavailable: {u}");
    }
}
