//! What the meters read during a run: the sample series, the energy of a source between
//! two instants, and CPU and memory summaries.

use trilemma_core::{EnergySource, MemorySummary, MonoNs};

use crate::sampler::Sample;
use crate::{nvml, rapl, CpuSummary, PowerModel, TelemetryConfig};

/// What the meters read during a run.
#[derive(Debug, Clone)]
pub struct Readings {
    pub(crate) samples: Vec<Sample>,
    pub(crate) domains: Vec<rapl::Domain>,
    /// `gpu<i>: <name>` of the GPUs NVML metered (empty without NVML).
    pub(crate) gpus: Vec<String>,
    pub(crate) model: PowerModel,
    pub(crate) unavailable: Vec<String>,
    pub(crate) cfg: TelemetryConfig,
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
    pub(crate) fn increments(&self, source: EnergySource) -> Vec<(MonoNs, MonoNs, Option<f64>)> {
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
        // GPU memory per sample: the sum over devices, where every device answered.
        let gpu: Vec<u64> = self
            .samples
            .iter()
            .filter(|s| !s.gpu.is_empty())
            .filter_map(|s| s.gpu.iter().map(|g| g.mem_used_bytes).sum::<Option<u64>>())
            .collect();
        Some(MemorySummary {
            peak_rss_bytes: peak,
            mean_rss_bytes: rss.iter().sum::<u64>() / rss.len() as u64,
            peak_gpu_bytes: gpu.iter().max().copied(),
            mean_gpu_bytes: (!gpu.is_empty()).then(|| gpu.iter().sum::<u64>() / gpu.len() as u64),
            method: format!(
                "VmRSS of the engine's process from /proc/self/status, every {} ms ({} samples)",
                self.cfg.period.as_millis(),
                rss.len()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use trilemma_core::{Attribution, EnergySource};

    use crate::fixtures::{domain, readings, s};
    use crate::nvml;
    use crate::sampler::{gaps, Sample};

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
        let mem = r.memory_summary().unwrap();
        assert_eq!(mem.peak_gpu_bytes, Some(3 << 30));
        assert_eq!(mem.mean_gpu_bytes, Some(2 << 30));
        // The counter's summary says what integrated power gives over the same window:
        // (250+350)/2 + (50+150)/2 = 400 J against the counter's 400 J.
        let e = r.energy_summaries(&[(0, 1_000_000_000)], 1, 1, None, Attribution::WholeRun);
        assert_eq!(e[0].source, EnergySource::NvmlCounter);
        assert!(
            e[0].method
                .contains("gives 400.000 J (counter / power = 1.0000)"),
            "{}",
            e[0].method
        );
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
        // 1.5 CPU seconds over 3 s; machine 50 of 200 jiffies per second busy.
        let r = readings(vec![s(0.0, 0.0, None), s(3.0, 1.5, None)], vec![]);
        let c = r.cpu_summary();
        assert_eq!(c.process_busy_cores, Some(0.5));
        assert_eq!(c.machine_utilisation, Some(0.25));
        assert_eq!(c.peak_host_memory_used_bytes, Some(3_000_000_000));
    }
}
