//! Reading run directories from disk: summary, manifest and per-item scores.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use trilemma_core::RunSummary;

use crate::{Error, Result};

/// One run directory as read from disk.
#[derive(Debug, Clone)]
pub struct RunEntry {
    pub dir: PathBuf,
    pub summary: RunSummary,
    pub manifest: serde_json::Value,
    /// Per-item score of the primary metric from `samples.jsonl` (mean over repeats), by
    /// sample id; empty when the file is absent or has no scored lines.
    pub item_scores: BTreeMap<String, f64>,
}

/// The fields of a `samples.jsonl` line the paired test needs.
#[derive(serde::Deserialize)]
struct SampleLine {
    sample_id: String,
    #[serde(default)]
    scores: BTreeMap<String, f64>,
}

fn read_item_scores(path: &Path, metric: &str) -> Result<BTreeMap<String, f64>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut sums: BTreeMap<String, (f64, u32)> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: SampleLine = serde_json::from_str(line).map_err(|e| Error::Json {
            path: path.to_path_buf(),
            reason: format!("line {}: {e}", i + 1),
        })?;
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

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn load_run(dir: &Path) -> Result<RunEntry> {
    let summary: RunSummary = read_json(&dir.join("summary.json"))?;
    let item_scores = read_item_scores(&dir.join("samples.jsonl"), &summary.primary_metric)?;
    let mpath = dir.join("manifest.json");
    let manifest = if mpath.exists() {
        read_json(&mpath)?
    } else {
        serde_json::Value::Null
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
        if p.join("summary.json").exists() {
            runs.push(load_run(p)?);
            continue;
        }
        let rd = std::fs::read_dir(p).map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
        let mut subs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| d.join("summary.json").exists())
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
