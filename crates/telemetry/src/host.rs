//! What the machine is (CPU, memory, OS, GPU), for the run manifest.

use crate::nvml;
use crate::procfs::kib_field;

pub use trilemma_core::HostInfo;

/// Reads the CPU and memory from /proc and, in a build with the `nvml` feature, the GPUs
/// and driver from NVML.
pub fn detect_host() -> HostInfo {
    let mut h = detect_cpu();
    h.gpu = nvml::Gpus::open().ok().map(|g| g.describe());
    h
}

/// The CPU and memory part of [`detect_host`].
pub(crate) fn detect_cpu() -> HostInfo {
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
