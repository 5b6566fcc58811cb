//! Are two runs' scores different, item by item?
//!
//! Samples are paired by (task, sample id). Each shared metric gets a paired bootstrap
//! of the difference of means (seeded, so the same runs always give the same interval),
//! and multiple-choice runs also get the per-item agreement of their picked choices and
//! the distance between their per-choice log-likelihoods. A side is a run directory
//! ([`load_run`]) or lm-evaluation-harness's per-sample log ([`crate::lm_eval`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trilemma_core::stats::{self, Estimate, PairedDifference};
use trilemma_core::SampleRecord;
use trilemma_store::run;

use crate::{Error, Result};

/// How several repeats of one item become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepeatMode {
    /// The first repeat (repeat 0) of each item.
    First,
    /// The mean of each metric over the item's scored repeats (picks come from the first).
    Mean,
}

/// One item of one side, after repeats are folded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemView {
    pub scores: BTreeMap<String, f64>,
    /// Index of the chosen choice (multiple choice).
    pub pick: Option<usize>,
    /// Index of the chosen choice by length-normalised log-likelihood.
    pub pick_norm: Option<usize>,
    /// Per-choice log-likelihoods.
    pub logprobs: Option<Vec<f64>>,
}

/// One side of a comparison: what a run (or an lm-eval log) scored, by (task, id).
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub label: String,
    pub tasks: BTreeSet<String>,
    pub items: BTreeMap<(String, String), ItemView>,
    /// Items whose (first) record is an error outcome.
    pub errors: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    pub metric: String,
    pub a: Estimate,
    pub b: Estimate,
    /// mean(A) - mean(B) over the items both scored, with its paired-bootstrap 95% CI.
    pub difference: PairedDifference,
    pub significant: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceAgreement {
    /// Which pick: `pick` (max log-likelihood) or `pick_norm` (length-normalised).
    pub kind: String,
    pub n: usize,
    pub agree: usize,
    pub fraction: f64,
    /// Ids (task/sample_id) of the items whose picks differ.
    pub differing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogprobAgreement {
    /// Items with per-choice log-likelihoods on both sides and the same number of choices.
    pub n_items: usize,
    pub max_abs_diff: f64,
    pub mean_abs_diff: f64,
    pub median_abs_diff: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub tasks: Vec<String>,
    pub repeats: RepeatMode,
    pub resamples: usize,
    pub seed: u64,
    pub shared: usize,
    pub only_in_a: usize,
    pub only_in_b: usize,
    pub errors_in_a: usize,
    pub errors_in_b: usize,
    pub metrics: Vec<MetricComparison>,
    pub choices: Vec<ChoiceAgreement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<LogprobAgreement>,
}

fn pick_of(detail: &Value, key: &str) -> Option<usize> {
    detail
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
}

/// Folds a run's records into one view per (task, id).
pub fn side_from_records(label: &str, records: &[SampleRecord], mode: RepeatMode) -> Side {
    let mut by_item: BTreeMap<(String, String), Vec<&SampleRecord>> = BTreeMap::new();
    for r in records {
        by_item
            .entry((r.task.clone(), r.sample_id.clone()))
            .or_default()
            .push(r);
    }
    let mut side = Side {
        label: label.to_string(),
        ..Side::default()
    };
    for (key, mut recs) in by_item {
        side.tasks.insert(key.0.clone());
        recs.sort_by_key(|r| r.repeat);
        let first = recs[0];
        let used: Vec<&SampleRecord> = match mode {
            RepeatMode::First => vec![first],
            RepeatMode::Mean => recs.iter().copied().filter(|r| r.is_scored()).collect(),
        };
        if !first.is_scored() || used.is_empty() {
            side.errors += 1;
            continue;
        }
        let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for r in &used {
            for (m, v) in &r.scores {
                let e = sums.entry(m.clone()).or_default();
                e.0 += v;
                e.1 += 1;
            }
        }
        let logprobs = first
            .detail
            .get("logprobs")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>());
        side.items.insert(
            key,
            ItemView {
                scores: sums
                    .into_iter()
                    .map(|(m, (s, n))| (m, s / n as f64))
                    .collect(),
                pick: pick_of(&first.detail, "pick"),
                pick_norm: pick_of(&first.detail, "pick_norm"),
                logprobs,
            },
        );
    }
    side
}

/// Reads a run directory as one side of a comparison. A directory without samples is
/// refused, naming the run directories inside it (a sweep or `--out` directory given by
/// mistake).
pub fn load_run(dir: &Path, mode: RepeatMode) -> Result<Side> {
    if !dir.join(run::SAMPLES).is_file() {
        let inside = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.join(run::SAMPLES).is_file())
                    .collect()
            })
            .unwrap_or_default();
        return Err(Error::NotARun {
            path: dir.to_path_buf(),
            inside,
        });
    }
    let records = run::read_samples(dir)?;
    if records.is_empty() {
        return Err(Error::Invalid {
            what: dir.display().to_string(),
            reason: "no sample records".into(),
        });
    }
    Ok(side_from_records(
        &dir.display().to_string(),
        &records,
        mode,
    ))
}
/// Compares two sides item by item.
pub fn compare(
    a: &Side,
    b: &Side,
    metrics: &[String],
    mode: RepeatMode,
    resamples: usize,
    seed: u64,
) -> Result<Comparison> {
    if a.tasks != b.tasks {
        return Err(Error::Incomparable(format!(
            "the runs are for different tasks: {} has {:?}, {} has {:?}; compare runs of the same task",
            a.label, a.tasks, b.label, b.tasks
        )));
    }
    let shared: Vec<&(String, String)> = a
        .items
        .keys()
        .filter(|k| b.items.contains_key(*k))
        .collect();
    if shared.is_empty() {
        return Err(Error::Incomparable(format!(
            "{} and {} share no scored items ({} and {} items); nothing to compare",
            a.label,
            b.label,
            a.items.len(),
            b.items.len()
        )));
    }
    let metric_names: BTreeSet<&String> = shared
        .iter()
        .flat_map(|k| a.items[*k].scores.keys())
        .filter(|m| shared.iter().any(|k| b.items[*k].scores.contains_key(*m)))
        .collect();
    let chosen: Vec<String> = if metrics.is_empty() {
        metric_names.iter().map(|m| (*m).clone()).collect()
    } else {
        for m in metrics {
            if !metric_names.contains(m) {
                return Err(Error::Incomparable(format!(
                    "metric {m:?} is not reported by both runs; shared metrics: {}",
                    metric_names
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        metrics.to_vec()
    };

    let mut metric_out = Vec::new();
    for m in &chosen {
        let (xa, xb): (Vec<f64>, Vec<f64>) = shared
            .iter()
            .filter_map(|k| Some((*a.items[*k].scores.get(m)?, *b.items[*k].scores.get(m)?)))
            .unzip();
        if xa.is_empty() {
            continue;
        }
        let difference = stats::paired_bootstrap(&xa, &xb, resamples, seed)?;
        metric_out.push(MetricComparison {
            metric: m.clone(),
            a: stats::mean_estimate(&xa)?,
            b: stats::mean_estimate(&xb)?,
            significant: difference.significant(),
            difference,
        });
    }

    let mut choices = Vec::new();
    for kind in ["pick", "pick_norm"] {
        let get = |v: &ItemView| if kind == "pick" { v.pick } else { v.pick_norm };
        let mut n = 0;
        let mut differing = Vec::new();
        for k in &shared {
            if let (Some(pa), Some(pb)) = (get(&a.items[*k]), get(&b.items[*k])) {
                n += 1;
                if pa != pb {
                    differing.push(format!("{}/{}", k.0, k.1));
                }
            }
        }
        if n > 0 {
            choices.push(ChoiceAgreement {
                kind: kind.to_string(),
                n,
                agree: n - differing.len(),
                fraction: (n - differing.len()) as f64 / n as f64,
                differing,
            });
        }
    }

    let mut diffs = Vec::new();
    let mut n_items = 0;
    for k in &shared {
        if let (Some(la), Some(lb)) = (&a.items[*k].logprobs, &b.items[*k].logprobs) {
            if la.len() == lb.len() {
                n_items += 1;
                diffs.extend(la.iter().zip(lb).map(|(x, y)| (x - y).abs()));
            }
        }
    }
    let logprobs = if diffs.is_empty() {
        None
    } else {
        Some(LogprobAgreement {
            n_items,
            max_abs_diff: diffs.iter().copied().fold(0.0, f64::max),
            mean_abs_diff: stats::mean(&diffs)?,
            median_abs_diff: stats::percentile(&diffs, 50.0)?,
        })
    };

    Ok(Comparison {
        a: a.label.clone(),
        b: b.label.clone(),
        tasks: a.tasks.iter().cloned().collect(),
        repeats: mode,
        resamples,
        seed,
        shared: shared.len(),
        only_in_a: a.items.len() - shared.len(),
        only_in_b: b.items.len() - shared.len(),
        errors_in_a: a.errors,
        errors_in_b: b.errors,
        metrics: metric_out,
        choices,
        logprobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trilemma_core::{Outcome, RequestTiming, TokenCounts};

    fn rec(id: &str, repeat: u32, acc: f64, pick: usize) -> SampleRecord {
        SampleRecord {
            sample_id: id.into(),
            task: "arc-easy".into(),
            repeat,
            session: 0,
            outcome: Outcome::Scored,
            prediction: String::new(),
            gold: String::new(),
            scores: BTreeMap::from([("acc".into(), acc)]),
            tokens: TokenCounts::default(),
            timing: RequestTiming::default(),
            detail: serde_json::json!({"pick": pick, "logprobs": [-1.0, -2.0]}),
        }
    }

    #[test]
    fn repeats_fold_as_asked() {
        let recs = [rec("x", 1, 0.0, 1), rec("x", 0, 1.0, 0)];
        let first = side_from_records("a", &recs, RepeatMode::First);
        assert_eq!(first.items.values().next().unwrap().scores["acc"], 1.0);
        assert_eq!(first.items.values().next().unwrap().pick, Some(0));
        let mean = side_from_records("a", &recs, RepeatMode::Mean);
        assert_eq!(mean.items.values().next().unwrap().scores["acc"], 0.5);
    }

    #[test]
    fn error_outcomes_are_counted_not_compared() {
        let mut bad = rec("y", 0, 0.0, 0);
        bad.outcome = Outcome::Error {
            message: "boom".into(),
        };
        let side = side_from_records("a", &[rec("x", 0, 1.0, 0), bad], RepeatMode::First);
        assert_eq!(side.items.len(), 1);
        assert_eq!(side.errors, 1);
    }
}
