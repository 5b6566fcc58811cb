//! Recorded runs joined item by item: what each tier answered, whether it was right, and
//! what it cost. Calibration replays the policy over this table without calling a model.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use trilemma_core::SampleRecord;
use trilemma_store::run::RunDir;

use crate::config::CascadeConfig;
use crate::signal::Answer;
use crate::{Error, Result};

/// One tier's recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierRun {
    pub tier: String,
    pub dir: PathBuf,
    pub model: String,
    pub task: String,
    pub primary_metric: String,
    /// SHA-256 of the run's `samples.jsonl`: a calibration names exactly what it used.
    pub samples_sha256: String,
    /// Where the per-request energy comes from: the run's energy source (its J/token times
    /// the item's tokens), `"cascade.toml joules_per_token"`, or `None` when there is none.
    pub energy_from: Option<String>,
    /// Scored samples of the run (repeat 0).
    pub items: usize,
}

/// One tier's outcome on one item.
#[derive(Debug, Clone, PartialEq)]
pub struct TierOutcome {
    /// The run's primary metric for this item (0 for an error).
    pub quality: f64,
    pub answer: Answer,
    pub prompt_tokens: u64,
    pub tokens: u64,
    pub joules: Option<f64>,
    pub usd: f64,
    pub latency_s: f64,
}

/// One item, with every tier's outcome (in tier order).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub tiers: Vec<TierOutcome>,
}

/// The runs joined on item id.
#[derive(Debug, Clone)]
pub struct Joined {
    pub runs: Vec<TierRun>,
    /// Items every run holds, sorted by id.
    pub items: Vec<Item>,
    /// Per tier, the ids it holds that some other run does not (counted and named).
    pub unmatched: Vec<(String, Vec<String>)>,
}

impl Joined {
    pub fn unmatched_total(&self) -> usize {
        self.unmatched.iter().map(|(_, ids)| ids.len()).sum()
    }
}

/// Reads one run per tier (in tier order) and joins their samples on item id.
pub fn join_runs(cfg: &CascadeConfig, dirs: &[PathBuf]) -> Result<Joined> {
    if dirs.len() != cfg.tiers.len() {
        return Err(Error::Input(format!(
            "{} runs given for {} tiers: give one run directory per tier, in tier order ({})",
            dirs.len(),
            cfg.tiers.len(),
            cfg.tiers
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut runs = Vec::new();
    let mut per_tier: Vec<BTreeMap<String, SampleRecord>> = Vec::new();
    for (tier, dir) in cfg.tiers.iter().zip(dirs) {
        let run = RunDir::read(dir)?;
        let records: BTreeMap<String, SampleRecord> = run
            .samples()?
            .into_iter()
            .filter(|r| r.repeat == 0)
            .map(|r| (r.sample_id.clone(), r))
            .collect();
        if let Some(m) = tier.model.as_deref().filter(|m| !m.ends_with(".gguf")) {
            if run.manifest.model.name != m {
                return Err(Error::Input(format!(
                    "{}: a run of {}, but tier {} is {m}: give the runs in tier order",
                    dir.display(),
                    run.manifest.model.name,
                    tier.name
                )));
            }
        }
        let (j_per_token, energy_from) = energy_per_token(&run, tier.cost.joules_per_token);
        let primary = item_metric(&run.summary.primary_metric, records.values());
        let samples_sha256 = trilemma_assets::sha256_file(&dir.join("samples.jsonl"))?;
        runs.push((
            TierRun {
                tier: tier.name.clone(),
                dir: dir.clone(),
                model: run.manifest.model.name.clone(),
                task: run.manifest.task.name.clone(),
                primary_metric: primary,
                samples_sha256,
                energy_from,
                items: records.len(),
            },
            j_per_token,
            tier.cost.usd_per_mtok.unwrap_or(0.0),
        ));
        per_tier.push(records);
    }
    let task = &runs[0].0.task;
    if let Some((r, ..)) = runs.iter().find(|(r, ..)| &r.task != task) {
        return Err(Error::Input(format!(
            "runs of different tasks: {} is {task}, {} is {}",
            runs[0].0.dir.display(),
            r.dir.display(),
            r.task
        )));
    }
    let common: BTreeSet<&String> = per_tier
        .iter()
        .map(|m| m.keys().collect::<BTreeSet<_>>())
        .reduce(|a, b| a.intersection(&b).copied().collect())
        .unwrap_or_default();
    let unmatched = runs
        .iter()
        .zip(&per_tier)
        .map(|((r, ..), m)| {
            let ids: Vec<String> = m.keys().filter(|k| !common.contains(k)).cloned().collect();
            (r.tier.clone(), ids)
        })
        .filter(|(_, ids)| !ids.is_empty())
        .collect();
    let items = common
        .iter()
        .map(|id| Item {
            id: (*id).clone(),
            tiers: runs
                .iter()
                .zip(&per_tier)
                .map(|((run, jpt, usd_mtok), m)| {
                    outcome(&m[*id], &run.primary_metric, *jpt, *usd_mtok)
                })
                .collect(),
        })
        .collect::<Vec<_>>();
    if items.is_empty() {
        return Err(Error::Input(
            "the runs share no item ids: were they run on the same task and items?".into(),
        ));
    }
    Ok(Joined {
        runs: runs.into_iter().map(|(r, ..)| r).collect(),
        items,
        unmatched,
    })
}

/// The per-item metric quality is measured by: the run's primary metric where each
/// sample has it, else the first per-sample one of `acc`, `accuracy`, `exact_match` (a
/// corpus metric such as macro-F1 has no per-item value to route on).
fn item_metric<'a>(primary: &str, mut records: impl Iterator<Item = &'a SampleRecord>) -> String {
    let Some(first) = records.next() else {
        return primary.to_string();
    };
    if first.scores.contains_key(primary) {
        return primary.to_string();
    }
    ["acc", "accuracy", "exact_match"]
        .iter()
        .find(|m| first.scores.contains_key(**m))
        .map_or_else(
            || {
                first
                    .scores
                    .keys()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| primary.to_string())
            },
            |m| m.to_string(),
        )
}

/// The run's measured energy per token (a measured source before the estimate), else the
/// cascade file's figure.
fn energy_per_token(run: &RunDir, configured: Option<f64>) -> (Option<f64>, Option<String>) {
    match (run.summary.per_token_energy(), configured) {
        (Some(e), _) => (Some(e.per_token_j), Some(e.source.label().to_string())),
        (None, Some(j)) => (Some(j), Some("cascade.toml joules_per_token".into())),
        (None, None) => (None, None),
    }
}

fn outcome(
    r: &SampleRecord,
    metric: &str,
    j_per_token: Option<f64>,
    usd_per_mtok: f64,
) -> TierOutcome {
    let tokens = r.tokens.input + r.tokens.output;
    TierOutcome {
        quality: if r.is_scored() {
            r.scores.get(metric).copied().unwrap_or(0.0)
        } else {
            0.0
        },
        answer: Answer::from_record(r),
        prompt_tokens: r.tokens.input,
        tokens,
        joules: j_per_token.map(|j| j * tokens as f64),
        usd: usd_per_mtok * tokens as f64 / 1e6,
        latency_s: r.timing.e2e_s(),
    }
}
