//! Energy summaries from the readings: per source, net of the idle baseline, attributed
//! to each sample's own window or per token over the steady state, with CO2 and cost.

use trilemma_core::{Attribution, EnergySource, EnergySummary, MonoNs, SteadyWindow};

use crate::{full_batch_intervals, inflight_from_spans, tokens_in_window, IdleBaseline, Readings};

impl Readings {
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
            if source == EnergySource::NvmlCounter {
                // Zeus compares the two and finds them within ~1%; say how far apart they are here.
                if let Some(p) = merged
                    .iter()
                    .map(|(a, b)| self.energy_between(EnergySource::NvmlPower, *a, *b))
                    .sum::<Option<f64>>()
                    .filter(|p| *p > 0.0)
                {
                    method.push_str(&format!(
                        "; cross-check: NVML power integrated over the same window gives {p:.3} J (counter / power = {:.4})",
                        raw_j / p
                    ));
                }
            }
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
    use trilemma_core::{Attribution, EnergySource};

    use crate::fixtures::{domain, readings, s};
    use crate::IdleBaseline;

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
}
