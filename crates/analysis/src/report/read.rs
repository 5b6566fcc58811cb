//! Reading run directories from disk: summary, manifest and per-item scores.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use trilemma_core::RunSummary;
use trilemma_store::read_jsonl;
use trilemma_store::run::{self, is_run_dir, RunManifest};

use crate::{Error, Result};

/// One run directory as read from disk.
#[derive(Debug, Clone)]
pub struct RunEntry {
    pub dir: PathBuf,
    pub summary: RunSummary,
    /// The run's manifest (absent in directories written by hand).
    pub manifest: Option<RunManifest>,
    /// Per-item score of the primary metric from `samples.jsonl` (mean over repeats), by
    /// sample id; empty when the file is absent or has no scored lines.
    pub item_scores: BTreeMap<String, f64>,
}

/// The fields of a sample record the paired test needs.
#[derive(serde::Deserialize)]
struct ItemScores {
    sample_id: String,
    #[serde(default)]
    scores: BTreeMap<String, f64>,
}

/// Per-item score of `metric` (mean over repeats), by sample id.
fn read_item_scores(dir: &Path, metric: &str) -> Result<BTreeMap<String, f64>> {
    let path = dir.join(run::SAMPLES);
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let mut sums: BTreeMap<String, (f64, u32)> = BTreeMap::new();
    for rec in read_jsonl::<ItemScores>(&path)? {
        if let Some(v) = rec.scores.get(metric) {
            let slot = sums.entry(rec.sample_id).or_insert((0.0, 0));
            slot.0 += v;
            slot.1 += 1;
        }
    }
    Ok(sums
        .into_iter()
        .map(|(k, (s, n))| (k, s / f64::from(n)))
        .collect())
}

fn load_run(dir: &Path) -> Result<RunEntry> {
    let summary = run::read_summary(dir)?;
    let item_scores = read_item_scores(dir, &summary.primary_metric)?;
    let manifest = if dir.join(run::MANIFEST).exists() {
        Some(run::read_manifest(dir)?)
    } else {
        None
    };
    Ok(RunEntry {
        dir: dir.to_path_buf(),
        summary,
        manifest,
        item_scores,
    })
}

/// Reads run directories; a directory without `summary.json` is a sweep whose
/// subdirectories (one level) are run directories.
pub fn load_runs(paths: &[PathBuf]) -> Result<Vec<RunEntry>> {
    let mut runs = Vec::new();
    for p in paths {
        if is_run_dir(p) {
            runs.push(load_run(p)?);
            continue;
        }
        let rd = std::fs::read_dir(p).map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
        let mut subs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| is_run_dir(d))
            .collect();
        subs.sort();
        if subs.is_empty() {
            return Err(Error::Invalid {
                what: p.display().to_string(),
                reason: "neither a run directory (no summary.json) nor a sweep of run directories"
                    .into(),
            });
        }
        for s in subs {
            runs.push(load_run(&s)?);
        }
    }
    Ok(runs)
}
