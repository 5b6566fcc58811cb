//! Trilemma's own cost: the meter thread's CPU while the process idles, and the whole
//! harness (scheduling, scoring, recording, meters) against calling the engine
//! directly on the same items.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use trilemma_engine::{Engine, LoglikelihoodRequest};
use trilemma_runner::{run_items, RunSettings, RunStore, Silent};
use trilemma_tasks::{Item, Task};
use trilemma_telemetry::{Telemetry, TelemetryConfig};

use crate::engine::{open_bench, BenchModel, Opened};
use crate::{io, median, Result};

/// The name of the meter thread whose CPU is watched.
const METER_THREAD: &str = "trilemma-meters";

/// `bench overhead`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OverheadConfig {
    /// The engine is opened with every core (`threads: None`).
    pub bench: BenchModel,
    /// Seconds the idle meter thread is watched for its CPU cost.
    pub sampler_seconds: f64,
}

/// `bench overhead`'s report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverheadReport {
    /// The meter thread's CPU over the watched time, in % of one core.
    pub meter_cpu_pct: f64,
    /// The meters' sampling period.
    pub meter_period_ms: u64,
    /// Wall seconds the meter thread was watched.
    pub meter_watched_s: f64,
    /// ARC-Easy items of each pass.
    pub items: usize,
    pub batch_size: usize,
    pub repeats: usize,
    /// Seconds of each pass of direct engine calls (after one warm-up pass).
    pub direct_s: Vec<f64>,
    /// Seconds of each pass through the harness (`run_items` with meters and a store).
    pub harness_s: Vec<f64>,
}

impl OverheadReport {
    pub fn direct_median_s(&self) -> Option<f64> {
        median(&self.direct_s)
    }

    pub fn harness_median_s(&self) -> Option<f64> {
        median(&self.harness_s)
    }

    /// The harness's median time over the direct calls', minus one, in %.
    pub fn overhead_pct(&self) -> Option<f64> {
        Some(100.0 * (self.harness_median_s()? / self.direct_median_s()? - 1.0))
    }
}

/// The scratch run's manifest (`{"bench": "overhead"}`): the harness needs a store,
/// and no resumed run has to match it.
#[derive(Debug, Serialize)]
struct ScratchManifest {
    bench: &'static str,
}

/// CPU seconds used so far by this process's threads named `name` (from /proc/self/task).
fn thread_cpu_s(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    tasks
        .filter_map(|t| t.ok().map(|t| t.path()))
        .filter(|t| std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == name))
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.join("stat")).ok()?;
            trilemma_telemetry::stat_cpu_s(&stat).map(|(own, _)| own)
        })
        .sum()
}

/// Scores every multiple-choice item with direct `loglikelihood` calls, `batch_size`
/// items a call; returns the wall seconds.
fn direct_pass(engine: &mut dyn Engine, task: &Task, batch_size: usize) -> f64 {
    let start = Instant::now();
    for chunk in task.items.chunks(batch_size.max(1)) {
        let reqs: Vec<LoglikelihoodRequest> = chunk
            .iter()
            .flat_map(|it| match it {
                Item::MultipleChoice {
                    context, choices, ..
                } => choices
                    .iter()
                    .map(|c| LoglikelihoodRequest {
                        context: context.clone(),
                        continuation: c.clone(),
                    })
                    .collect(),
                Item::Generate { .. } | Item::Rolling { .. } => Vec::new(),
            })
            .collect();
        let _ = engine.loglikelihood(&reqs);
    }
    start.elapsed().as_secs_f64()
}

/// Runs `bench overhead`.
pub fn overhead_bench(cfg: &OverheadConfig) -> Result<OverheadReport> {
    let a = &cfg.bench;
    // 1. The meter thread alone, sampling while the process idles.
    let meters = TelemetryConfig::default();
    let t = Telemetry::start(&meters);
    std::thread::sleep(Duration::from_millis(50));
    let cpu0 = thread_cpu_s(METER_THREAD);
    let wall = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(cfg.sampler_seconds));
    let cpu1 = thread_cpu_s(METER_THREAD);
    let watched = wall.elapsed().as_secs_f64();
    drop(t.finish());

    // 2. The harness against direct engine calls on the same items.
    let Opened {
        mut engine, task, ..
    } = open_bench(a, None)?;
    let settings = RunSettings {
        batch_size: a.batch_size,
        ..RunSettings::default()
    };
    let scratch = tempfile::Builder::new()
        .prefix("trilemma-bench-")
        .tempdir()
        .map_err(io(&std::env::temp_dir()))?;
    let stop = AtomicBool::new(false);
    let mut direct_s = Vec::new();
    let mut harness_s = Vec::new();
    direct_pass(&mut engine, &task, a.batch_size); // warm-up
    for i in 0..a.repeats {
        direct_s.push(direct_pass(&mut engine, &task, a.batch_size));
        let dir = scratch.path().join(format!("overhead-{i}"));
        let start = Instant::now();
        let running = Telemetry::start(&meters);
        let mut store = RunStore::open_with(&dir, &ScratchManifest { bench: "overhead" }, &[])?;
        run_items(
            &mut engine,
            &task,
            &settings,
            &mut store,
            &stop,
            &mut Silent,
        )?;
        drop(running.finish());
        harness_s.push(start.elapsed().as_secs_f64());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(OverheadReport {
        meter_cpu_pct: 100.0 * (cpu1 - cpu0) / watched,
        meter_period_ms: meters.period.as_millis() as u64,
        meter_watched_s: watched,
        items: task.items.len(),
        batch_size: a.batch_size,
        repeats: a.repeats,
        direct_s,
        harness_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(direct_s: Vec<f64>, harness_s: Vec<f64>) -> OverheadReport {
        OverheadReport {
            meter_cpu_pct: 0.1,
            meter_period_ms: 100,
            meter_watched_s: 1.0,
            items: 4,
            batch_size: 8,
            repeats: direct_s.len(),
            direct_s,
            harness_s,
        }
    }

    #[test]
    fn overhead_is_the_ratio_of_medians() {
        let r = report(vec![2.0, 1.0, 9.0], vec![2.2, 2.4, 1.0]);
        assert_eq!(r.direct_median_s(), Some(2.0));
        assert_eq!(r.harness_median_s(), Some(2.2));
        assert!((r.overhead_pct().unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(report(vec![], vec![]).overhead_pct(), None);
    }

    #[test]
    fn the_meter_threads_cpu_is_read_from_proc() {
        let name = "bench-cpu-test";
        let (measured, wait) = std::sync::mpsc::channel::<()>();
        let (spun, spinning) = std::sync::mpsc::channel::<()>();
        let h = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let start = Instant::now();
                let mut x = 0u64;
                while start.elapsed() < Duration::from_millis(200) {
                    x = x.wrapping_add(std::hint::black_box(1));
                }
                spun.send(()).unwrap();
                // Alive (and named) until the test has read its CPU time.
                let _ = wait.recv();
                x
            })
            .unwrap();
        spinning.recv().unwrap();
        let busy = thread_cpu_s(name);
        measured.send(()).unwrap();
        h.join().unwrap();
        // It spun for 200 ms of wall time: some CPU, and well under a second of it.
        assert!(busy > 0.0 && busy < 1.0, "{busy}");
        assert_eq!(thread_cpu_s("no-such-thread"), 0.0);
    }
}
