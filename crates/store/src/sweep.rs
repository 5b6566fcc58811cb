//! `sweep.json`: the axes and flags a sweep was started with, at the root of its results
//! tree; each run of the sweep is a run directory below it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{read_json, write_json_atomic, Error, Result};

pub const SWEEP: &str = "sweep.json";
pub const SWEEP_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepManifest {
    #[serde(default)]
    pub schema_version: u32,
    pub name: String,
    pub axes: SweepAxes,
    /// The run flags every run of the sweep shares.
    pub run_flags: SweepRunFlags,
    pub created_at: String,
    #[serde(default)]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepAxes {
    pub models: Vec<SweepModel>,
    /// Quantization types derived from each model (empty: the files as they are).
    pub quant: Vec<String>,
    pub tasks: Vec<String>,
    pub batch_sizes: Vec<usize>,
    /// Thread counts (`null`: all cores).
    pub threads: Vec<Option<u32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepModel {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRunFlags {
    pub limit: Option<usize>,
    pub n_ctx: u32,
    pub repeats: u32,
    pub warmup: usize,
    pub seed: u64,
    pub num_fewshot: Option<usize>,
}

impl SweepManifest {
    /// Writes `sweep.json` into `dir`, or checks that the one there was started with the
    /// same name, axes and run flags (a resumed sweep must be the same sweep).
    pub fn write_or_check(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(crate::io(dir))?;
        let path = dir.join(SWEEP);
        if !path.exists() {
            return write_json_atomic(&path, self);
        }
        let old = read_sweep(dir)?;
        let differs = |field: &str, was: String, now: String| {
            Err(Error::Io {
                path: path.clone(),
                message: format!(
                    "this sweep was started with different {field} ({was} then, {now} now); \
                     resume it with the same flags or choose another --name/--out"
                ),
            })
        };
        if old.name != self.name {
            return differs("name", show(&old.name), show(&self.name));
        }
        if old.axes != self.axes {
            return differs("axes", show(&old.axes), show(&self.axes));
        }
        if old.run_flags != self.run_flags {
            return differs("run_flags", show(&old.run_flags), show(&self.run_flags));
        }
        Ok(())
    }
}

/// Compact JSON of a manifest part, for messages.
fn show(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Reads `sweep.json` from a sweep directory.
pub fn read_sweep(dir: &Path) -> Result<SweepManifest> {
    let path = dir.join(SWEEP);
    let m: SweepManifest = read_json(&path)?;
    crate::check_schema(&path, m.schema_version, SWEEP_SCHEMA_VERSION)?;
    Ok(m)
}
