//! Made-up readings for the tests: samples at chosen times with chosen CPU time and RAPL
//! counters (fakes: no meter runs).

use std::path::PathBuf;

use crate::sampler::Sample;
use crate::{rapl, PowerModel, Readings, TelemetryConfig};

pub(crate) fn readings(samples: Vec<Sample>, domains: Vec<rapl::Domain>) -> Readings {
    Readings {
        samples,
        domains,
        gpus: vec![],
        model: PowerModel::for_cpu("unknown", 2),
        unavailable: vec![],
        cfg: TelemetryConfig::default(),
    }
}

pub(crate) fn s(t_s: f64, cpu_s: f64, uj: Option<u64>) -> Sample {
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

pub(crate) fn domain(max_uj: u64) -> rapl::Domain {
    rapl::Domain {
        name: "package-0".into(),
        energy_path: PathBuf::from("/fake"),
        max_uj,
    }
}
