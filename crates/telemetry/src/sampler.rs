//! The sampling thread: one [`Sample`] of every meter per period, and the gaps of
//! meters that stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use trilemma_core::{now_ns, MonoNs};

use crate::procfs::{parse_meminfo_used, parse_proc_stat_cpu, read_cpu_s, read_rss};
use crate::{nvml, rapl, HostInfo, PowerModel, Readings, TelemetryConfig};

/// One tick of the sampler.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) t_ns: MonoNs,
    pub(crate) rss_bytes: Option<u64>,
    pub(crate) cpu_s: Option<f64>,
    pub(crate) rapl_uj: Vec<Option<u64>>,
    pub(crate) gpu: Vec<nvml::GpuReading>,
    /// Machine-wide (busy, total) CPU jiffies from /proc/stat.
    pub(crate) machine_cpu: Option<(u64, u64)>,
    /// Machine-wide memory in use (MemTotal - MemAvailable).
    pub(crate) host_used_bytes: Option<u64>,
}

pub(crate) fn sample(domains: &[rapl::Domain], gpus: Option<&nvml::Gpus>) -> Sample {
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
        let mut host = crate::host::detect_cpu();
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
        // The first sample is taken before `start` returns: whatever is measured next
        // starts after it, however late a loaded machine schedules the meter thread.
        let (first_tx, first_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let handle = {
            let stop = stop.clone();
            let domains = domains.clone();
            let period = cfg.period;
            std::thread::Builder::new()
                .name("trilemma-meters".into())
                .spawn(move || {
                    let mut out = vec![sample(&domains, gpus.as_ref())];
                    let _ = first_tx.send(());
                    loop {
                        std::thread::park_timeout(period);
                        // Read the flag before sampling: the sample taken after seeing it
                        // set is the last, and it comes after `finish` was called.
                        let last = stop.load(Ordering::Relaxed);
                        out.push(sample(&domains, gpus.as_ref()));
                        if last {
                            break;
                        }
                    }
                    out
                })
                .expect("spawning the meter thread")
        };
        // A thread that died before its first sample says so when joined in `finish`.
        let _ = first_rx.recv();
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
pub(crate) fn gaps(samples: &[Sample], domains: &[rapl::Domain], gpus: &[String]) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use trilemma_core::{Attribution, EnergySource};

    use super::*;
    use crate::fixtures::{domain, readings, s};

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
}
