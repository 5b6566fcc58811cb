//! The calibration file: written atomically, read with its schema version checked,
//! verified against a cascade file, and compared with another.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::calibrate::{Calibration, CALIBRATION_SCHEMA};
use crate::config::CascadeConfig;
use crate::{Error, Result};

impl Calibration {
    pub fn write(&self, path: &Path) -> Result<()> {
        trilemma_store::atomic::write_json_atomic(path, self)?;
        Ok(())
    }

    pub fn read(path: &Path) -> Result<Self> {
        let value: serde_json::Value = trilemma_store::read_json(path)?;
        let found = value
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32;
        trilemma_store::check_schema(path, found, CALIBRATION_SCHEMA)?;
        serde_json::from_value(value).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
    }

    /// Checks that this calibration fits a cascade file: same tiers, same signal, and where
    /// a tier names a run summary, the same run (by the hash of its samples).
    pub fn verify(&self, cfg: &CascadeConfig, path: &Path) -> Result<()> {
        let names: Vec<String> = cfg.tiers.iter().map(|t| t.name.clone()).collect();
        let bad = |m: String| Err(Error::Input(format!("{}: {m}", path.display())));
        if names != self.tiers {
            return bad(format!(
                "calibrated for tiers {:?}, the cascade file has {:?}",
                self.tiers, names
            ));
        }
        if cfg.policy.signal.name() != self.signal {
            return bad(format!(
                "calibrated on signal {:?}, the cascade file uses {:?}",
                self.signal,
                cfg.policy.signal.name()
            ));
        }
        for (t, run) in cfg.tiers.iter().zip(&self.runs) {
            let Some(summary) = &t.cost.summary else {
                continue;
            };
            let dir = summary.parent().unwrap_or(Path::new("."));
            let sha = trilemma_assets::sha256_file(&dir.join("samples.jsonl"))?;
            if sha != run.samples_sha256 {
                return bad(format!(
                    "tier {} was calibrated on {} (samples sha256 {}), the cascade file names {} (sha256 {sha}): recalibrate",
                    t.name,
                    run.dir.display(),
                    &run.samples_sha256[..12],
                    dir.display()
                ));
            }
        }
        Ok(())
    }
}

/// How two calibrations route the same items differently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteDiff {
    pub shared: usize,
    pub differ: usize,
    pub only_a: usize,
    pub only_b: usize,
    /// Up to ten (item, tier in A, tier in B).
    pub examples: Vec<(String, String, String)>,
}

pub fn diff(a: &Calibration, b: &Calibration) -> RouteDiff {
    let mut d = RouteDiff {
        shared: 0,
        differ: 0,
        only_a: 0,
        only_b: b
            .routes
            .keys()
            .filter(|k| !a.routes.contains_key(*k))
            .count(),
        examples: Vec::new(),
    };
    for (id, ta) in &a.routes {
        match b.routes.get(id) {
            None => d.only_a += 1,
            Some(tb) => {
                d.shared += 1;
                if ta != tb {
                    d.differ += 1;
                    if d.examples.len() < 10 {
                        d.examples.push((id.clone(), ta.clone(), tb.clone()));
                    }
                }
            }
        }
    }
    d
}
