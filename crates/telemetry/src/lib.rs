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

mod config;
mod energy;
#[cfg(test)]
mod fixtures;
mod grid;
mod host;
mod idle;
mod procfs;
mod readings;
mod sampler;

pub use config::TelemetryConfig;
pub use error::{Error, Result};
pub use estimate::PowerModel;
pub use grid::{grid_intensity, DEFAULT_PRICE_USD_PER_KWH, GRID_INTENSITY};
pub use host::{detect_host, HostInfo};
pub use idle::{measure_idle, IdleBaseline};
pub use procfs::stat_cpu_s;
pub use readings::Readings;
pub use sampler::Telemetry;
pub use steady::{
    full_batch_intervals, inflight_from_spans, steady_state_window, tokens_in_window,
};

/// CPU and host memory use over a run (the run summary's type).
pub use trilemma_core::CpuUse as CpuSummary;
