//! Idle power per source, measured before a run and subtracted from its energy.

use std::time::Duration;

use trilemma_core::EnergySource;

use crate::{Telemetry, TelemetryConfig};

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
