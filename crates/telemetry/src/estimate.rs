//! The CPU power estimate used when no energy counter exists (source `estimate`).
//!
//! As CodeCarbon does, power is the CPU's TDP scaled by utilisation, plus memory:
//!
//! - `P_cpu = TDP / cores_of_model × busy_cores`, where `busy_cores` is the
//!   process's CPU seconds per wall second (from `/proc/self/stat`), and the TDP and
//!   core count come from the table below by the `model name` in `/proc/cpuinfo`;
//! - unknown CPU models fall back to CodeCarbon's default of 85 W TDP, spread over
//!   the logical CPUs the OS reports (`TDP / nproc` per busy core);
//! - `P_mem = 0.375 W per GB of the process's resident memory` (CodeCarbon's 3 W per 8 GB).
//!
//! It is a model, not a measurement, and every figure from it says so.

/// (substring of the CPU model name, TDP watts, physical cores).
const TDP_TABLE: &[(&str, f64, f64)] = &[
    ("Xeon(R) Platinum 8480", 350.0, 56.0),
    ("Xeon(R) Platinum 8375C", 300.0, 32.0),
    ("Xeon(R) Platinum 8259CL", 210.0, 24.0),
    ("Xeon(R) Gold 6248", 150.0, 20.0),
    ("EPYC 7763", 280.0, 64.0),
    ("EPYC 9654", 360.0, 96.0),
    ("EPYC 7B13", 280.0, 64.0),
    ("Core(TM) i7-12700", 65.0, 12.0),
    ("Core(TM) i9-13900K", 125.0, 24.0),
    ("Apple M2", 20.0, 8.0),
];

/// CodeCarbon's default TDP for a CPU it does not know.
pub const FALLBACK_TDP_W: f64 = 85.0;
/// Watts per GB of resident memory (CodeCarbon: 3 W per 8 GB).
pub const MEMORY_W_PER_GB: f64 = 0.375;

/// The power model for one CPU.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerModel {
    pub cpu_model: String,
    pub tdp_w: f64,
    /// Cores the TDP is shared by.
    pub cores: f64,
    /// True when the CPU was not in the table and the fallback applies.
    pub fallback: bool,
}

impl PowerModel {
    pub fn for_cpu(cpu_model: &str, logical_cpus: usize) -> Self {
        match TDP_TABLE.iter().find(|(k, _, _)| cpu_model.contains(k)) {
            Some((_, tdp, cores)) => Self {
                cpu_model: cpu_model.to_string(),
                tdp_w: *tdp,
                cores: *cores,
                fallback: false,
            },
            None => Self {
                cpu_model: cpu_model.to_string(),
                tdp_w: FALLBACK_TDP_W,
                cores: logical_cpus.max(1) as f64,
                fallback: true,
            },
        }
    }

    /// Logical CPUs the TDP is spread over.
    pub fn cores(&self) -> f64 {
        self.cores
    }

    /// Watts drawn for `busy_cores` of CPU and `rss_bytes` of resident memory.
    pub fn watts(&self, busy_cores: f64, rss_bytes: u64) -> f64 {
        let cpu = self.tdp_w / self.cores * busy_cores.max(0.0);
        let mem = MEMORY_W_PER_GB * rss_bytes as f64 / 1e9;
        cpu + mem
    }

    pub fn describe(&self) -> String {
        format!(
            "CPU power model: TDP {:.0} W over {:.0} cores x busy cores{} + {} W/GB resident memory",
            self.tdp_w,
            self.cores,
            if self.fallback {
                format!(" (\"{}\" not in the TDP table: CodeCarbon's 85 W fallback over the logical CPUs)", self.cpu_model)
            } else {
                format!(" ({})", self.cpu_model)
            },
            MEMORY_W_PER_GB
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_cpus() {
        let m = PowerModel::for_cpu("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", 8);
        assert!(!m.fallback);
        // 300 W / 32 cores x 2 busy cores = 18.75 W, + 0.375 W for 1 GB.
        assert!((m.watts(2.0, 1_000_000_000) - 19.125).abs() < 1e-9);
        let f = PowerModel::for_cpu("Intel(R) Xeon(R) Processor", 2);
        assert!(f.fallback);
        // 85 W / 2 logical CPUs x 1 busy core = 42.5 W.
        assert!((f.watts(1.0, 0) - 42.5).abs() < 1e-9);
        assert!(f.describe().contains("fallback"));
    }
}
