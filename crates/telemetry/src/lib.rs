//! Meters sampled on a background thread during a run, and the energy accounting
//! built on them.
//!
//! Every period (default 100 ms) the sampler records, on the process-wide
//! monotonic clock of `trilemma_core::clock`: the process's resident memory and CPU
//! time (`/proc/self/status`, `/proc/self/stat`), each RAPL domain's energy
//! counter when the machine exposes one, and (cargo feature `nvml`) each GPU's
//! energy counter, power and memory. Energy for any window is then read off these
//! series, interpolating linearly inside the sampling intervals at its edges:
//!
//! - `nvml-counter`: the GPUs' total-energy counters; `nvml-power` instead, only
//!   on GPUs without a counter: their power integrated by the trapezoid rule;
//! - `rapl`: the counters' increase (wrap-around handled), package + DRAM;
//! - `estimate`: the CPU power model of [`estimate`] integrated over the samples —
//!   always labelled `estimate`, never shown as a measurement.
//!
//! Figures of different sources are reported side by side, never summed. A meter
//! that cannot start (no powercap tree, no libnvidia-ml, a build without `nvml`)
//! or that stops mid-run is listed in [`Readings::unavailable`] with the reason;
//! energy over a window that touches a missing reading is `None`, never filled in.
//! Sequential runs attribute energy to each sample's own window
//! (`Attribution::SampleWindows`); batched/load runs per token over the
//! steady-state window of [`steady`] (`Attribution::SteadyStatePerToken`).
//! `benches/sampler_overhead.rs` measures the meter thread's CPU cost.
//!
//! ```no_run
//! use trilemma_telemetry::{Telemetry, TelemetryConfig};
//! let cfg = TelemetryConfig::default();
//! let idle = trilemma_telemetry::measure_idle(&cfg, std::time::Duration::from_secs(5));
//! let meters = Telemetry::start(&cfg);
//! // ... run, keeping each sample's (start_ns, end_ns) ...
//! let readings = meters.finish();
//! let spans = vec![(0u64, trilemma_core::now_ns())];
//! let energy = readings.energy_summaries(&spans, 1, 100, Some(&idle), trilemma_core::Attribution::WholeRun);
//! ```
//!
//! A batched or load run attributes energy per token over the steady-state window
//! (see [`steady`]): the in-flight counts come from the requests' spans.
//!
//! ```no_run
//! # use trilemma_telemetry::*;
//! # let readings = Telemetry::start(&TelemetryConfig::default()).finish();
//! # let idle: Option<IdleBaseline> = None;
//! let requests: Vec<(u64, u64, u64)> = vec![]; // (start_ns, end_ns, output tokens) per request
//! let spans: Vec<_> = requests.iter().map(|r| (r.0, r.1)).collect();
//! let batch = 8;
//! if let Some(w) = steady_state_window(&inflight_from_spans(&spans), batch) {
//!     let tokens = tokens_in_window(&requests, w).round() as u64;
//!     let in_window = spans.iter().filter(|(a, b)| *a < w.1 && *b > w.0).count();
//!     let energy = readings.energy_summaries(
//!         &[w], in_window, tokens, idle.as_ref(),
//!         trilemma_core::Attribution::SteadyStatePerToken,
//!     );
//! }
//! ```

pub mod error;
pub mod estimate;
pub mod nvml;
pub mod rapl;
pub mod steady;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trilemma_core::{
    now_ns, Attribution, EnergySource, EnergySummary, MemorySummary, MonoNs, SteadyWindow,
};

pub use error::{Error, Result};
pub use estimate::PowerModel;
pub use steady::{
    full_batch_intervals, inflight_from_spans, steady_state_window, tokens_in_window,
};

/// Linux reports process CPU time in clock ticks of USER_HZ, 100 on every mainstream architecture.
const TICKS_PER_S: f64 = 100.0;

/// Grid carbon intensity by region, g CO2 per kWh (annual averages; sources in comments).
pub const GRID_INTENSITY: &[(&str, f64)] = &[
    ("world", 475.0), // IEA, world average electricity generation, 2019
    ("us", 367.0),    // US EIA, 2023 US average (0.81 lb/kWh)
    ("eu", 251.0),    // European Environment Agency, EU-27 average, 2022
    ("fr", 56.0),     // RTE, France, 2022
    ("de", 380.0),    // Umweltbundesamt, Germany, 2022
    ("uk", 207.0),    // UK DESNZ, 2023 grid average
    ("in", 713.0),    // CEA, India, 2022
    ("cn", 581.0),    // China, Ember 2022
];

/// Electricity price used when none is given (USD per kWh; seed 002's figure).
pub const DEFAULT_PRICE_USD_PER_KWH: f64 = 0.12;

#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    pub period: Duration,
    /// Root of the powercap tree (tests point it at a fake tree).
    pub powercap_root: PathBuf,
    pub grid_g_per_kwh: f64,
    pub price_usd_per_kwh: f64,
    /// Drive the `estimate` source from the whole machine's CPU use and memory instead
    /// of this process's (load mode: the engine is another process on this machine).
    pub estimate_machine_wide: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            period: Duration::from_millis(100),
            powercap_root: PathBuf::from("/sys/class/powercap"),
            grid_g_per_kwh: GRID_INTENSITY[0].1,
            price_usd_per_kwh: DEFAULT_PRICE_USD_PER_KWH,
            estimate_machine_wide: false,
        }
    }
}

/// Looks up a region's grid intensity (`world`, `us`, `eu`, `fr`, ...).
pub fn grid_intensity(region: &str) -> Option<f64> {
    GRID_INTENSITY
        .iter()
        .find(|(r, _)| r.eq_ignore_ascii_case(region))
        .map(|(_, g)| *g)
}

pub use trilemma_core::HostInfo;

/// Reads the CPU and memory from /proc and, in a build with the `nvml` feature, the GPUs
/// and driver from NVML.
pub fn detect_host() -> HostInfo {
    let mut h = detect_cpu();
    h.gpu = nvml::Gpus::open().ok().map(|g| g.describe());
    h
}

fn detect_cpu() -> HostInfo {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split(':').nth(1))
            })
            .map_or_else(|| "unknown CPU".to_string(), |s| s.trim().to_string());
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().find_map(|l| kib_field(l, "MemTotal:")));
        HostInfo {
            cpu_model,
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes,
            os: std::env::consts::OS.to_string(),
            gpu: None,
        }
}

fn kib_field(line: &str, key: &str) -> Option<u64> {
    let kib: u64 = line
        .strip_prefix(key)?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// One tick of the sampler.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    t_ns: MonoNs,
    rss_bytes: Option<u64>,
    cpu_s: Option<f64>,
    rapl_uj: Vec<Option<u64>>,
    gpu: Vec<nvml::GpuReading>,
    /// Machine-wide (busy, total) CPU jiffies from /proc/stat.
    machine_cpu: Option<(u64, u64)>,
    /// Machine-wide memory in use (MemTotal - MemAvailable).
    host_used_bytes: Option<u64>,
}

/// (busy, total) jiffies from the aggregate `cpu` line of /proc/stat; idle and
/// iowait count as idle, guest time is already inside user time.
fn parse_proc_stat_cpu(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 5 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v[4];
    Some((total - idle, total))
}

/// MemTotal - MemAvailable from /proc/meminfo, in bytes.
fn parse_meminfo_used(text: &str) -> Option<u64> {
    let total = text.lines().find_map(|l| kib_field(l, "MemTotal:"))?;
    let avail = text.lines().find_map(|l| kib_field(l, "MemAvailable:"))?;
    Some(total.saturating_sub(avail))
}

/// CPU and host memory use over a run (the run summary's type).
pub use trilemma_core::CpuUse as CpuSummary;

fn read_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find_map(|l| kib_field(l, "VmRSS:"))
}

fn read_cpu_s() -> Option<f64> {
    stat_cpu_s(&std::fs::read_to_string("/proc/self/stat").ok()?).map(|(own, _)| own)
}

/// CPU seconds in a `/proc/.../stat` line (of a process or of one of its threads):
/// utime+stime, and cutime+cstime (its children already waited for).
pub fn stat_cpu_s(stat: &str) -> Option<(f64, f64)> {
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14-17 of the whole line: 11-14 after ") ".
    let field = |i: usize| f.get(i)?.parse::<f64>().ok();
    Some((
        (field(11)? + field(12)?) / TICKS_PER_S,
        (field(13)? + field(14)?) / TICKS_PER_S,
    ))
}

fn sample(domains: &[rapl::Domain], gpus: Option<&nvml::Gpus>) -> Sample {
    Sample {
        gpu: gpus.map(|g| g.read()).unwrap_or_default(),
        t_ns: now_ns(),
        rss_bytes: read_rss(),
        cpu_s: read_cpu_s(),
        machine_cpu: std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| parse_proc_stat_cpu(&t)),
        host_used_bytes: std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| parse_meminfo_used(&t)),
        rapl_uj: domains.iter().map(|d| rapl::read_uj(d).ok()).collect(),
    }
}

/// The running sampler.
#[derive(Debug)]
pub struct Telemetry {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Sample>>,
    domains: Vec<rapl::Domain>,
    gpus: Vec<String>,
    model: PowerModel,
    unavailable: Vec<String>,
    cfg: TelemetryConfig,
    host: HostInfo,
}

impl Telemetry {
    /// Starts sampling. Meters that cannot run here are recorded as unavailable, with the reason.
    pub fn start(cfg: &TelemetryConfig) -> Self {
        let mut host = detect_cpu();
        let mut unavailable = Vec::new();
        let domains = rapl::discover(&cfg.powercap_root).unwrap_or_else(|e| {
            unavailable.push(format!("rapl: {e}"));
            Vec::new()
        });
        let gpus = match nvml::Gpus::open() {
            Ok(g) => {
                host.gpu = Some(g.describe());
                Some(g)
            }
            Err(e) => {
                unavailable.push(format!("nvml: {e}"));
                None
            }
        };
        let gpu_names = gpus.as_ref().map(|g| g.names.clone()).unwrap_or_default();
        let model = PowerModel::for_cpu(&host.cpu_model, host.logical_cpus);
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = stop.clone();
            let domains = domains.clone();
            let period = cfg.period;
            std::thread::Builder::new()
                .name("trilemma-meters".into())
                .spawn(move || {
                    let mut out = vec![sample(&domains, gpus.as_ref())];
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(period);
                        out.push(sample(&domains, gpus.as_ref()));
                    }
                    out
                })
                .expect("spawning the meter thread")
        };
        Self {
            stop,
            handle,
            domains,
            gpus: gpu_names,
            model,
            unavailable,
            cfg: cfg.clone(),
            host,
        }
    }

    pub fn host(&self) -> &HostInfo {
        &self.host
    }

    /// Stops sampling (taking one last sample) and returns what was read.
    pub fn finish(self) -> Readings {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.thread().unpark();
        let mut unavailable = self.unavailable;
        let samples = self.handle.join().unwrap_or_else(|_| {
            unavailable.push("meters: the sampler thread failed".into());
            Vec::new()
        });
        unavailable.extend(gaps(&samples, &self.domains, &self.gpus));
        Readings {
            samples,
            domains: self.domains,
            gpus: self.gpus,
            model: self.model,
            unavailable,
            cfg: self.cfg,
        }
    }
}

/// Meters that stopped (or failed now and then) during sampling: one line per
/// meter with how many samples it missed and when it first did. Energy over a
/// window that touches a missing reading is unavailable, never filled in.
fn gaps(samples: &[Sample], domains: &[rapl::Domain], gpus: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let t_base = samples.first().map_or(0, |s| s.t_ns);
    let mut report = |meter: String, missing: Vec<MonoNs>| {
        if let Some(first) = missing.first() {
            out.push(format!(
                "{meter}: unreadable in {} of {} samples (first {:.3} s into sampling)",
                missing.len(),
                samples.len(),
                (first - t_base) as f64 / 1e9
            ));
        }
    };
    for (k, d) in domains.iter().enumerate() {
        let missing = samples
            .iter()
            .filter(|s| s.rapl_uj.get(k).copied().flatten().is_none())
            .map(|s| s.t_ns)
            .collect();
        report(
            format!("rapl {} ({})", d.name, d.energy_path.display()),
            missing,
        );
    }
    for (k, name) in gpus.iter().enumerate() {
        let missing = samples
            .iter()
            .filter(|s| {
                !matches!(s.gpu.get(k), Some(g) if g.energy_mj.is_some() || g.power_mw.is_some())
            })
            .map(|s| s.t_ns)
            .collect();
        report(format!("nvml {name}"), missing);
    }
    let rss = samples
        .iter()
        .filter(|s| s.rss_bytes.is_none())
        .map(|s| s.t_ns)
        .collect();
    report("memory (VmRSS in /proc/self/status)".into(), rss);
    let cpu = samples
        .iter()
        .filter(|s| s.cpu_s.is_none())
        .map(|s| s.t_ns)
        .collect();
    report("process CPU time (/proc/self/stat)".into(), cpu);
    out
}

/// Idle power per source, measured before a run.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleBaseline {
    pub watts: Vec<(EnergySource, f64)>,
    pub window_s: f64,
}

impl IdleBaseline {
    pub fn watts_for(&self, source: EnergySource) -> Option<f64> {
        self.watts
            .iter()
            .find(|(s, _)| *s == source)
            .map(|(_, w)| *w)
    }
}

/// Samples the meters for `duration` while the process is idle.
pub fn measure_idle(cfg: &TelemetryConfig, duration: Duration) -> IdleBaseline {
    let t = Telemetry::start(cfg);
    std::thread::sleep(duration);
    let r = t.finish();
    let (t0, t1) = r.span();
    let window_s = (t1 - t0) as f64 / 1e9;
    let watts = r
        .sources()
        .into_iter()
        .filter_map(|s| {
            let j = r.energy_between(s, t0, t1)?;
            (window_s > 0.0).then(|| (s, j / window_s))
        })
        .collect();
    IdleBaseline { watts, window_s }
}

/// What the meters read during a run.
#[derive(Debug, Clone)]
pub struct Readings {
    samples: Vec<Sample>,
    domains: Vec<rapl::Domain>,
    /// `gpu<i>: <name>` of the GPUs NVML metered (empty without NVML).
    gpus: Vec<String>,
    model: PowerModel,
    unavailable: Vec<String>,
    cfg: TelemetryConfig,
}

impl Readings {
    /// First and last sample times.
    pub fn span(&self) -> (MonoNs, MonoNs) {
        match (self.samples.first(), self.samples.last()) {
            (Some(a), Some(b)) => (a.t_ns, b.t_ns),
            _ => (0, 0),
        }
    }

    /// Meters that did not run, with the reason.
    pub fn unavailable(&self) -> &[String] {
        &self.unavailable
    }

    /// Energy sources this run can report, best first.
    pub fn sources(&self) -> Vec<EnergySource> {
        let mut s = Vec::new();
        let n = self.gpus.len();
        let all = |f: fn(&nvml::GpuReading) -> bool| {
            n > 0
                && self
                    .samples
                    .iter()
                    .any(|x| x.gpu.len() == n && x.gpu.iter().all(f))
        };
        // The counter when the GPUs have one, else their power samples; never both.
        if all(|g| g.energy_mj.is_some()) {
            s.push(EnergySource::NvmlCounter);
        } else if all(|g| g.power_mw.is_some()) {
            s.push(EnergySource::NvmlPower);
        }
        if !self.domains.is_empty() {
            s.push(EnergySource::Rapl);
        }
        if self.samples.iter().any(|x| x.cpu_s.is_some()) {
            s.push(EnergySource::Estimate);
        }
        s
    }

    /// Joules in each interval between consecutive samples, `None` where a reading
    /// at either end is missing (a meter that stopped, a failed read).
    fn increments(&self, source: EnergySource) -> Vec<(MonoNs, MonoNs, Option<f64>)> {
        self.samples
            .windows(2)
            .map(|w| {
                let (a, b) = (&w[0], &w[1]);
                let dt = (b.t_ns - a.t_ns) as f64 / 1e9;
                let j = match source {
                    EnergySource::Rapl => self
                        .domains
                        .iter()
                        .enumerate()
                        .map(|(k, d)| {
                            let x = a.rapl_uj.get(k).copied().flatten()?;
                            let y = b.rapl_uj.get(k).copied().flatten()?;
                            Some(rapl::delta_uj(x, y, d.max_uj) as f64 / 1e6)
                        })
                        .sum::<Option<f64>>(),
                    EnergySource::Estimate if self.cfg.estimate_machine_wide => {
                        match (a.machine_cpu, b.machine_cpu) {
                            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 && dt > 0.0 => {
                                let share = b1.saturating_sub(b0) as f64 / (t1 - t0) as f64;
                                let busy_cores = share * self.model.cores();
                                Some(
                                    self.model.watts(busy_cores, b.host_used_bytes.unwrap_or(0))
                                        * dt,
                                )
                            }
                            (Some(_), Some(_)) => Some(0.0),
                            _ => None,
                        }
                    }
                    EnergySource::Estimate => match (a.cpu_s, b.cpu_s) {
                        (Some(x), Some(y)) if dt > 0.0 => {
                            Some(self.model.watts((y - x) / dt, b.rss_bytes.unwrap_or(0)) * dt)
                        }
                        (Some(_), Some(_)) => Some(0.0),
                        _ => None,
                    },
                    EnergySource::NvmlCounter | EnergySource::NvmlPower => {
                        if a.gpu.len() != self.gpus.len() || b.gpu.len() != self.gpus.len() {
                            None
                        } else {
                            a.gpu
                                .iter()
                                .zip(&b.gpu)
                                .map(|(x, y)| match source {
                                    EnergySource::NvmlCounter => nvml::counter_j(x, y),
                                    _ => nvml::power_j(x, y, dt),
                                })
                                .sum::<Option<f64>>()
                        }
                    }
                };
                (a.t_ns, b.t_ns, j)
            })
            .collect()
    }

    /// Joules from `source` between two instants, interpolated linearly inside the
    /// sampling intervals at the window's edges. `None` when the source did not
    /// run, the window lies outside the samples, or a reading inside it is missing.
    pub fn energy_between(&self, source: EnergySource, t0: MonoNs, t1: MonoNs) -> Option<f64> {
        let (first, last) = (self.samples.first()?.t_ns, self.samples.last()?.t_ns);
        if t1 < t0 || t0 < first || t1 > last {
            return None;
        }
        if matches!(source, EnergySource::Rapl) && self.domains.is_empty() {
            return None;
        }
        if matches!(source, EnergySource::NvmlCounter | EnergySource::NvmlPower)
            && self.gpus.is_empty()
        {
            return None;
        }
        let mut total = 0.0;
        for (ta, tb, j) in self.increments(source) {
            let lo = ta.max(t0);
            let hi = tb.min(t1);
            if hi <= lo || tb <= ta {
                continue;
            }
            total += j? * (hi - lo) as f64 / (tb - ta) as f64;
        }
        Some(total)
    }

    /// The process's and the machine's CPU use, and host memory, over the samples.
    pub fn cpu_summary(&self) -> CpuSummary {
        let (first, last) = (self.samples.first(), self.samples.last());
        let process_busy_cores = match (first, last) {
            (Some(a), Some(b)) if b.t_ns > a.t_ns => match (a.cpu_s, b.cpu_s) {
                (Some(x), Some(y)) => Some((y - x) / ((b.t_ns - a.t_ns) as f64 / 1e9)),
                _ => None,
            },
            _ => None,
        };
        let machine_utilisation = match (
            first.and_then(|a| a.machine_cpu),
            last.and_then(|b| b.machine_cpu),
        ) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                Some(b1.saturating_sub(b0) as f64 / (t1 - t0) as f64)
            }
            _ => None,
        };
        CpuSummary {
            process_busy_cores,
            machine_utilisation,
            peak_host_memory_used_bytes: self
                .samples
                .iter()
                .filter_map(|s| s.host_used_bytes)
                .max(),
            method: format!(
                "process: utime+stime from /proc/self/stat; machine: busy/total jiffies from /proc/stat; host memory: MemTotal - MemAvailable from /proc/meminfo; first to last of {} samples every {} ms",
                self.samples.len(),
                self.cfg.period.as_millis()
            ),
        }
    }

    /// Peak and mean resident memory of this process over the samples.
    pub fn memory_summary(&self) -> Option<MemorySummary> {
        let rss: Vec<u64> = self.samples.iter().filter_map(|s| s.rss_bytes).collect();
        let peak = *rss.iter().max()?;
        Some(MemorySummary {
            peak_rss_bytes: peak,
            mean_rss_bytes: rss.iter().sum::<u64>() / rss.len() as u64,
            peak_gpu_bytes: self
                .samples
                .iter()
                .filter_map(|s| {
                    s.gpu
                        .iter()
                        .map(|g| g.mem_used_bytes)
                        .sum::<Option<u64>>()
                        .filter(|_| !s.gpu.is_empty())
                })
                .max(),
            method: format!(
                "VmRSS of the engine's process from /proc/self/status, every {} ms ({} samples)",
                self.cfg.period.as_millis(),
                rss.len()
            ),
        })
    }

    /// Energy of a run whose samples occupied `spans` (overlaps counted once), one
    /// summary per source.
    pub fn energy_summaries(
        &self,
        spans: &[(MonoNs, MonoNs)],
        samples: usize,
        tokens: u64,
        idle: Option<&IdleBaseline>,
        attribution: Attribution,
    ) -> Vec<EnergySummary> {
        let merged = merge(spans);
        let per_sample_tokens = tokens as f64 / samples.max(1) as f64;
        self.summaries_over(
            &merged,
            tokens as f64,
            per_sample_tokens,
            idle,
            attribution,
            None,
        )
    }

    /// Energy of a batched run attributed per token over its steady state (seed 004,
    /// ML.ENERGY): only the intervals in which `batch` requests are in flight count;
    /// J/token = net energy in those intervals / tokens processed in them (each
    /// request's tokens prorated over its span), and J/sample = J/token x the mean
    /// tokens of a sample. `requests` are `(start_ns, end_ns, tokens)`. `None` when
    /// the batch is never full (e.g. fewer samples than the batch size).
    pub fn steady_state_energy(
        &self,
        requests: &[(MonoNs, MonoNs, u64)],
        batch: usize,
        idle: Option<&IdleBaseline>,
    ) -> Option<Vec<EnergySummary>> {
        let spans: Vec<_> = requests.iter().map(|&(a, b, _)| (a, b)).collect();
        let intervals = full_batch_intervals(&inflight_from_spans(&spans), batch);
        if intervals.is_empty() {
            return None;
        }
        let window_tokens: f64 = intervals
            .iter()
            .map(|&w| tokens_in_window(requests, w))
            .sum();
        if window_tokens <= 0.0 {
            return None;
        }
        let busy_s: f64 = merge(&spans)
            .iter()
            .map(|(a, b)| (b - a) as f64 / 1e9)
            .sum();
        let all_tokens: u64 = requests.iter().map(|r| r.2).sum();
        let per_sample_tokens = all_tokens as f64 / requests.len().max(1) as f64;
        let steady = SteadyWindow {
            batch,
            intervals: intervals.len(),
            first_ns: intervals[0].0,
            last_ns: intervals[intervals.len() - 1].1,
            full_batch_s: intervals.iter().map(|(a, b)| (b - a) as f64 / 1e9).sum(),
            busy_s,
            tokens: window_tokens,
        };
        Some(self.summaries_over(
            &intervals,
            window_tokens,
            per_sample_tokens,
            idle,
            Attribution::SteadyStatePerToken,
            Some(steady),
        ))
    }

    /// One summary per source over disjoint `windows` in which `tokens` were processed.
    fn summaries_over(
        &self,
        windows: &[(MonoNs, MonoNs)],
        tokens: f64,
        per_sample_tokens: f64,
        idle: Option<&IdleBaseline>,
        attribution: Attribution,
        steady: Option<SteadyWindow>,
    ) -> Vec<EnergySummary> {
        let merged = windows;
        let window_s: f64 = merged.iter().map(|(a, b)| (b - a) as f64 / 1e9).sum();
        let mut out = Vec::new();
        for source in self.sources() {
            let Some(raw_j) = merged
                .iter()
                .map(|(a, b)| self.energy_between(source, *a, *b))
                .sum::<Option<f64>>()
            else {
                continue;
            };
            let idle_w = idle.and_then(|i| i.watts_for(source));
            let net_j = (raw_j - idle_w.unwrap_or(0.0) * window_s).max(0.0);
            let kwh = net_j / 3.6e6;
            let per_token_j = net_j / tokens.max(1.0);
            let (domains, mut method) = match source {
                EnergySource::Rapl => (
                    self.domains.iter().map(|d| d.name.clone()).collect(),
                    format!(
                        "RAPL energy_uj counters read every {} ms",
                        self.cfg.period.as_millis()
                    ),
                ),
                EnergySource::NvmlCounter => (
                    self.gpus.clone(),
                    format!(
                        "NVML total-energy counters (nvmlDeviceGetTotalEnergyConsumption) read every {} ms",
                        self.cfg.period.as_millis()
                    ),
                ),
                EnergySource::NvmlPower => (
                    self.gpus.clone(),
                    format!(
                        "NVML power draw (nvmlDeviceGetPowerUsage) every {} ms, integrated by the trapezoid rule",
                        self.cfg.period.as_millis()
                    ),
                ),
                EnergySource::Estimate => (
                    vec!["cpu-model".to_string(), "memory-model".to_string()],
                    if self.cfg.estimate_machine_wide {
                        format!(
                            "{} (memory: the machine's in use); the whole machine's CPU use from /proc/stat every {} ms, so it covers every process on it, the client included",
                            self.model.describe(),
                            self.cfg.period.as_millis()
                        )
                    } else {
                        format!(
                            "{}; process CPU time from /proc/self/stat every {} ms",
                            self.model.describe(),
                            self.cfg.period.as_millis()
                        )
                    },
                ),
            };
            if let Some(w) = &steady {
                method.push_str(&format!(
                    "; attributed per token over the steady state: {} intervals with the batch of {} full, {:.2} s of {:.2} s busy, {:.0} tokens in them",
                    w.intervals, w.batch, w.full_batch_s, w.busy_s, w.tokens
                ));
            }
            out.push(EnergySummary {
                source,
                domains,
                window_s,
                raw_j,
                idle_w,
                idle_window_s: idle.map(|i| i.window_s),
                net_j,
                per_sample_j: per_token_j * per_sample_tokens,
                per_token_j,
                per_1k_tokens_j: 1000.0 * per_token_j,
                kwh,
                co2_g: kwh * self.cfg.grid_g_per_kwh,
                grid_g_per_kwh: self.cfg.grid_g_per_kwh,
                cost_usd: kwh * self.cfg.price_usd_per_kwh,
                price_usd_per_kwh: self.cfg.price_usd_per_kwh,
                attribution,
                method,
                steady_state: steady.clone(),
            });
        }
        out
    }
}

/// Merges overlapping spans.
fn merge(spans: &[(MonoNs, MonoNs)]) -> Vec<(MonoNs, MonoNs)> {
    let mut s: Vec<_> = spans.iter().copied().filter(|(a, b)| b > a).collect();
    s.sort_unstable();
    let mut out: Vec<(MonoNs, MonoNs)> = Vec::new();
    for (a, b) in s {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_times_survive_a_command_name_with_spaces() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
        // cmajflt utime stime cutime cstime ...
        let line = "42 (my (odd) prog) S 1 42 42 0 -1 4194560 10 0 0 0 250 50 700 100 20 0 1";
        assert_eq!(stat_cpu_s(line), Some((3.0, 8.0)));
        assert_eq!(stat_cpu_s("42 (x) S 1"), None);
    }

    fn readings(samples: Vec<Sample>, domains: Vec<rapl::Domain>) -> Readings {
        Readings {
            samples,
            domains,
            gpus: vec![],
            model: PowerModel::for_cpu("unknown", 2),
            unavailable: vec![],
            cfg: TelemetryConfig::default(),
        }
    }

    fn s(t_s: f64, cpu_s: f64, uj: Option<u64>) -> Sample {
        Sample {
            t_ns: (t_s * 1e9) as u64,
            rss_bytes: Some(0),
            cpu_s: Some(cpu_s),
            machine_cpu: Some(((t_s * 50.0) as u64, (t_s * 200.0) as u64)),
            host_used_bytes: Some((t_s * 1e9) as u64),
            rapl_uj: vec![uj],
            gpu: vec![],
        }
    }

    fn domain(max_uj: u64) -> rapl::Domain {
        rapl::Domain {
            name: "package-0".into(),
            energy_path: PathBuf::from("/fake"),
            max_uj,
        }
    }

    #[test]
    fn rapl_energy_interpolates_and_unwraps() {
        // 10 J per second, counter wrapping at 25 J.
        let r = readings(
            vec![
                s(0.0, 0.0, Some(0)),
                s(1.0, 1.0, Some(10_000_000)),
                s(2.0, 2.0, Some(20_000_000)),
                s(3.0, 3.0, Some(5_000_000)),
            ],
            vec![domain(25_000_000)],
        );
        let j = r
            .energy_between(EnergySource::Rapl, 500_000_000, 2_500_000_000)
            .unwrap();
        assert!((j - 20.0).abs() < 1e-9, "{j}");
        assert!(r
            .energy_between(EnergySource::Rapl, 0, 4_000_000_000)
            .is_none());
    }

    #[test]
    fn estimate_follows_cpu_use() {
        // One busy core of an unknown 2-CPU machine: 85 W / 2 = 42.5 W.
        let r = readings(vec![s(0.0, 0.0, None), s(2.0, 2.0, None)], vec![]);
        assert_eq!(r.sources(), vec![EnergySource::Estimate]);
        let j = r
            .energy_between(EnergySource::Estimate, 0, 2_000_000_000)
            .unwrap();
        assert!((j - 85.0).abs() < 1e-9, "{j}");
        let idle = IdleBaseline {
            watts: vec![(EnergySource::Estimate, 2.5)],
            window_s: 5.0,
        };
        let e = r.energy_summaries(
            &[(0, 1_000_000_000), (500_000_000, 2_000_000_000)],
            4,
            100,
            Some(&idle),
            Attribution::WholeRun,
        );
        assert_eq!(e.len(), 1);
        assert!((e[0].window_s - 2.0).abs() < 1e-9);
        assert!((e[0].net_j - 80.0).abs() < 1e-9);
        assert!((e[0].per_sample_j - 20.0).abs() < 1e-9);
        assert!((e[0].per_1k_tokens_j - 800.0).abs() < 1e-9);
        assert!((e[0].kwh - 80.0 / 3.6e6).abs() < 1e-15);
        assert_eq!(e[0].source, EnergySource::Estimate);
    }

    #[test]
    fn sampler_reads_this_process() {
        let dir = tempfile::tempdir().unwrap();
        crate::rapl::tests_support::fake_tree(dir.path());
        let cfg = TelemetryConfig {
            period: Duration::from_millis(10),
            powercap_root: dir.path().to_path_buf(),
            ..TelemetryConfig::default()
        };
        let t = Telemetry::start(&cfg);
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(120) {}
        let r = t.finish();
        let m = r.memory_summary().unwrap();
        assert!(m.peak_rss_bytes > 1_000_000);
        let c = r.cpu_summary();
        assert!(c.process_busy_cores.unwrap() > 0.0);
        assert!(c.peak_host_memory_used_bytes.unwrap() >= m.peak_rss_bytes);
        assert_eq!(
            r.sources(),
            vec![EnergySource::Rapl, EnergySource::Estimate]
        );
        // The fake counters do not move: zero RAPL energy, a positive estimate.
        let (t0, t1) = r.span();
        assert_eq!(r.energy_between(EnergySource::Rapl, t0, t1), Some(0.0));
        assert!(r.energy_between(EnergySource::Estimate, t0, t1).unwrap() > 0.0);
        assert!(r.unavailable().iter().any(|u| u.starts_with("nvml")));
    }

    #[test]
    fn batched_runs_are_attributed_per_token_over_the_full_batch() {
        // 10 J/s of RAPL for 4 s (fake counters). Two samples share 0-2 s (batch of
        // 2 full), a third runs alone 2-3 s (the drain): only 0-2 s counts.
        let r = readings(
            (0..5)
                .map(|i| s(i as f64, i as f64, Some(i * 10_000_000)))
                .collect(),
            vec![domain(u64::MAX)],
        );
        let sec = 1_000_000_000;
        let requests = [(0, 2 * sec, 100), (0, 2 * sec, 300), (2 * sec, 3 * sec, 50)];
        let e = r.steady_state_energy(&requests, 2, None).unwrap();
        let rapl = e.iter().find(|e| e.source == EnergySource::Rapl).unwrap();
        assert_eq!(rapl.attribution, Attribution::SteadyStatePerToken);
        assert!((rapl.window_s - 2.0).abs() < 1e-9);
        assert!((rapl.raw_j - 20.0).abs() < 1e-9);
        // 20 J over the 400 tokens of the full batch; a sample averages 150 tokens.
        assert!((rapl.per_token_j - 0.05).abs() < 1e-12);
        assert!((rapl.per_sample_j - 7.5).abs() < 1e-9);
        let w = rapl.steady_state.as_ref().unwrap();
        assert_eq!((w.intervals, w.first_ns, w.last_ns), (1, 0, 2 * sec));
        assert!((w.busy_s - 3.0).abs() < 1e-9 && (w.tokens - 400.0).abs() < 1e-9);
        assert!(rapl.method.contains("steady state"), "{}", rapl.method);
        // A batch that never fills has no steady state.
        assert!(r.steady_state_energy(&requests, 3, None).is_none());
    }

    #[test]
    fn a_meter_that_stops_mid_run_is_reported_not_filled_in() {
        // The RAPL file becomes unreadable after the second sample.
        let r = readings(
            vec![
                s(0.0, 0.0, Some(0)),
                s(1.0, 1.0, Some(10_000_000)),
                s(2.0, 2.0, None),
                s(3.0, 3.0, None),
            ],
            vec![domain(u64::MAX)],
        );
        let g = gaps(&r.samples, &r.domains, &r.gpus);
        assert_eq!(g.len(), 1);
        assert!(
            g[0].starts_with("rapl package-0 (/fake): unreadable in 2 of 4 samples (first 2.000 s"),
            "{}",
            g[0]
        );
        assert_eq!(
            r.energy_between(EnergySource::Rapl, 0, 1_000_000_000),
            Some(10.0)
        );
        assert_eq!(r.energy_between(EnergySource::Rapl, 0, 3_000_000_000), None);
        // The summaries leave RAPL out over that window and keep the estimate.
        let e = r.energy_summaries(&[(0, 3_000_000_000)], 1, 1, None, Attribution::WholeRun);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].source, EnergySource::Estimate);
    }

    #[test]
    fn sampler_reports_a_rapl_file_that_turns_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        crate::rapl::tests_support::fake_tree(dir.path());
        let cfg = TelemetryConfig {
            period: Duration::from_millis(5),
            powercap_root: dir.path().to_path_buf(),
            ..TelemetryConfig::default()
        };
        let t = Telemetry::start(&cfg);
        std::thread::sleep(Duration::from_millis(30));
        // Replace the counter by a directory: reading it fails (even as root).
        let f = dir.path().join("intel-rapl:1/energy_uj");
        std::fs::remove_file(&f).unwrap();
        std::fs::create_dir(&f).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let r = t.finish();
        assert!(
            r.unavailable()
                .iter()
                .any(|u| u.starts_with("rapl package-1") && u.contains("unreadable in")),
            "{:?}",
            r.unavailable()
        );
        let (t0, t1) = r.span();
        assert_eq!(r.energy_between(EnergySource::Rapl, t0, t1), None);
    }

    #[test]
    fn gpu_energy_from_the_counter_else_power() {
        let g = |mj: Option<u64>, mw: u32, mem: u64| nvml::GpuReading {
            energy_mj: mj,
            power_mw: Some(mw),
            mem_used_bytes: Some(mem),
        };
        let at = |t_s: f64, gpu: Vec<nvml::GpuReading>| Sample {
            t_ns: (t_s * 1e9) as u64,
            rss_bytes: Some(0),
            cpu_s: Some(0.0),
            machine_cpu: None,
            host_used_bytes: None,
            rapl_uj: vec![],
            gpu,
        };
        let mut r = readings(
            vec![
                // Two GPUs; 300 J/s and 100 J/s by their counters, 1 s apart.
                at(
                    0.0,
                    vec![g(Some(0), 250_000, 1 << 30), g(Some(0), 50_000, 0)],
                ),
                at(
                    1.0,
                    vec![
                        g(Some(300_000), 350_000, 3 << 30),
                        g(Some(100_000), 150_000, 0),
                    ],
                ),
            ],
            vec![],
        );
        r.gpus = vec!["gpu0: A".into(), "gpu1: B".into()];
        assert_eq!(
            r.sources(),
            vec![EnergySource::NvmlCounter, EnergySource::Estimate]
        );
        assert_eq!(
            r.energy_between(EnergySource::NvmlCounter, 0, 500_000_000),
            Some(200.0)
        );
        assert_eq!(r.memory_summary().unwrap().peak_gpu_bytes, Some(3 << 30));
        // Without counters: power, trapezoid: (250+350)/2 + (50+150)/2 = 400 J over 1 s.
        for s in &mut r.samples {
            for x in &mut s.gpu {
                x.energy_mj = None;
            }
        }
        assert_eq!(
            r.sources(),
            vec![EnergySource::NvmlPower, EnergySource::Estimate]
        );
        let j = r
            .energy_between(EnergySource::NvmlPower, 0, 1_000_000_000)
            .unwrap();
        assert!((j - 400.0).abs() < 1e-9, "{j}");
        let e = r.energy_summaries(&[(0, 1_000_000_000)], 1, 1, None, Attribution::WholeRun);
        assert_eq!(e[0].source, EnergySource::NvmlPower);
        assert_eq!(e[0].domains, ["gpu0: A", "gpu1: B"]);
        assert!(gaps(&r.samples, &r.domains, &r.gpus).is_empty());
    }

    #[test]
    fn cpu_and_host_memory() {
        let stat = "cpu  100 10 50 800 40 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        // busy = 100 + 10 + 50 = 160 of 1000 jiffies.
        assert_eq!(parse_proc_stat_cpu(stat), Some((160, 1000)));
        assert_eq!(parse_proc_stat_cpu("cpu  1 x 3 4 5"), None);
        let mem = "MemTotal:       8000 kB\nMemFree: 1000 kB\nMemAvailable:   3000 kB\n";
        assert_eq!(parse_meminfo_used(mem), Some(5000 * 1024));
        // 1.5 CPU seconds over 3 s; machine 50 of 200 jiffies per second busy.
        let r = readings(vec![s(0.0, 0.0, None), s(3.0, 1.5, None)], vec![]);
        let c = r.cpu_summary();
        assert_eq!(c.process_busy_cores, Some(0.5));
        assert_eq!(c.machine_utilisation, Some(0.25));
        assert_eq!(c.peak_host_memory_used_bytes, Some(3_000_000_000));
    }

    #[test]
    fn grid_table_lookup() {
        assert_eq!(grid_intensity("FR"), Some(56.0));
        assert_eq!(grid_intensity("mars"), None);
    }
}
