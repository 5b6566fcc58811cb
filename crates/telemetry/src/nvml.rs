//! GPU meters through NVML (cargo feature `nvml`, on by default).
//!
//! `libnvidia-ml.so` is loaded when the meters start, so the binary runs on
//! machines without it: the GPU meter is then reported unavailable with NVML's
//! error. Per device and sample: the total-energy counter
//! (`nvmlDeviceGetTotalEnergyConsumption`, millijoules, Volta and newer), the
//! power draw (`nvmlDeviceGetPowerUsage`, milliwatts) and the memory used.
//! Energy comes from the counter (`nvml-counter`); on a GPU without one, from the
//! power samples integrated by the trapezoid rule (`nvml-power`).

/// One device's reading at one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GpuReading {
    pub energy_mj: Option<u64>,
    pub power_mw: Option<u32>,
    pub mem_used_bytes: Option<u64>,
}

/// Joules between two readings from the energy counter.
pub fn counter_j(a: &GpuReading, b: &GpuReading) -> Option<f64> {
    let (x, y) = (a.energy_mj?, b.energy_mj?);
    // The counter is 64-bit millijoules since the driver loaded: it does not wrap,
    // but a driver reload resets it; such an interval has no figure.
    (y >= x).then(|| (y - x) as f64 / 1e3)
}

/// Joules between two readings from the power samples (trapezoid over `dt_s`).
pub fn power_j(a: &GpuReading, b: &GpuReading, dt_s: f64) -> Option<f64> {
    let (x, y) = (a.power_mw?, b.power_mw?);
    Some((x as f64 + y as f64) / 2.0 / 1e3 * dt_s)
}

/// The GPUs NVML sees.
pub struct Gpus {
    #[cfg(feature = "nvml")]
    nvml: nvml_wrapper::Nvml,
    count: u32,
    /// `gpu0: <name>` per device.
    pub names: Vec<String>,
    pub driver: String,
}

impl std::fmt::Debug for Gpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpus")
            .field("count", &self.count)
            .field("names", &self.names)
            .field("driver", &self.driver)
            .finish()
    }
}

impl Gpus {
    /// Loads NVML and lists the devices; the error says why not.
    #[cfg(feature = "nvml")]
    pub fn open() -> Result<Self, String> {
        let nvml = nvml_wrapper::Nvml::init().map_err(|e| format!("NVML did not load: {e}"))?;
        let count = nvml
            .device_count()
            .map_err(|e| format!("NVML device count: {e}"))?;
        if count == 0 {
            return Err("NVML loaded but sees no GPU".into());
        }
        let names = (0..count)
            .map(|i| {
                let name = nvml
                    .device_by_index(i)
                    .and_then(|d| d.name())
                    .unwrap_or_else(|e| format!("unnamed ({e})"));
                format!("gpu{i}: {name}")
            })
            .collect();
        let driver = nvml
            .sys_driver_version()
            .unwrap_or_else(|e| format!("unknown ({e})"));
        Ok(Self {
            nvml,
            count,
            names,
            driver,
        })
    }

    /// Without the `nvml` feature there is no GPU meter.
    #[cfg(not(feature = "nvml"))]
    pub fn open() -> Result<Self, String> {
        Err("not built into this binary (build trilemma-telemetry with the `nvml` feature)".into())
    }

    /// `gpu0: <name>, ... (driver <version>)` for the manifest.
    pub fn describe(&self) -> String {
        format!("{} (driver {})", self.names.join(", "), self.driver)
    }

    /// One reading per device; a failed call leaves that field `None`.
    pub fn read(&self) -> Vec<GpuReading> {
        #[cfg(feature = "nvml")]
        {
            (0..self.count)
                .map(|i| match self.nvml.device_by_index(i) {
                    Ok(d) => GpuReading {
                        energy_mj: d.total_energy_consumption().ok(),
                        power_mw: d.power_usage().ok(),
                        mem_used_bytes: d.memory_info().ok().map(|m| m.used),
                    },
                    Err(_) => GpuReading::default(),
                })
                .collect()
        }
        #[cfg(not(feature = "nvml"))]
        {
            vec![GpuReading::default(); self.count as usize]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_and_power_integration() {
        let a = GpuReading {
            energy_mj: Some(1_000_000),
            power_mw: Some(200_000),
            mem_used_bytes: None,
        };
        let b = GpuReading {
            energy_mj: Some(1_030_000),
            power_mw: Some(400_000),
            mem_used_bytes: None,
        };
        // 30,000 mJ = 30 J; (200 W + 400 W) / 2 x 0.1 s = 30 J.
        assert_eq!(counter_j(&a, &b), Some(30.0));
        assert!((power_j(&a, &b, 0.1).unwrap() - 30.0).abs() < 1e-9);
        // A reset counter or a missing reading gives no figure.
        assert_eq!(counter_j(&b, &a), None);
        assert_eq!(power_j(&GpuReading::default(), &b, 0.1), None);
    }

    #[test]
    fn no_gpu_here_is_an_error_not_a_panic() {
        // Without a GPU driver NVML's library is absent and opening it is an error that
        // says so (with the feature off, that the meter is not built in); with one, the
        // devices are listed by name.
        match Gpus::open() {
            Ok(g) => assert!(!g.names.is_empty() && g.describe().contains("driver")),
            Err(e) if cfg!(feature = "nvml") => {
                assert!(e.starts_with("NVML"), "{e}")
            }
            Err(e) => assert!(e.contains("not built into this binary"), "{e}"),
        }
    }
}
