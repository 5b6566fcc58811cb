//! Deriving a run's summary from its per-sample records.

use std::collections::{BTreeMap, BTreeSet};

use trilemma_core::stats::{
    macro_mean_estimate, mean_estimate, resample, Distribution, Estimate, BOOTSTRAP_RESAMPLES,
};
use trilemma_core::DEFAULT_SEED;
use trilemma_core::{
    EnergySummary, MemorySummary, ModelInfo, RepeatSpread, RunSummary, SampleRecord, Throughput,
    Truncation, TruncationSummary,
};
use trilemma_engine::EngineInfo;
use trilemma_tasks::TaskInfo;

use crate::{Error, Result, RunSettings};

/// Everything besides the records that a summary reports.
#[derive(Debug, Clone)]
pub(crate) struct SummaryInputs<'a> {
    pub run_id: String,
    pub model: &'a ModelInfo,
    pub task: &'a TaskInfo,
    pub engine: &'a EngineInfo,
    pub settings: &'a RunSettings,
    pub energy: Vec<EnergySummary>,
    pub memory: Option<MemorySummary>,
    pub cpu: Option<trilemma_core::CpuUse>,
    pub hardware: String,
    pub started_at: String,
    pub finished_at: String,
    pub partial: bool,
}

/// Seconds covered by a set of intervals (overlaps counted once).
fn covered_ns(mut spans: Vec<(u64, u64)>) -> u64 {
    spans.sort_unstable();
    let mut total = 0;
    let mut cur: Option<(u64, u64)> = None;
    for (a, b) in spans {
        match cur {
            Some((s, e)) if a <= e => cur = Some((s, e.max(b))),
            Some((s, e)) => {
                total += e - s;
                cur = Some((a, b));
            }
            None => cur = Some((a, b)),
        }
    }
    total + cur.map_or(0, |(s, e)| e - s)
}

/// Wall time the engine was busy with the run's samples: per session (timestamps of
/// different processes are not comparable), the union of the samples' windows.
pub fn busy_seconds(records: &[SampleRecord]) -> f64 {
    let sessions: BTreeSet<u32> = records.iter().map(|r| r.session).collect();
    sessions
        .into_iter()
        .map(|s| {
            let spans = records
                .iter()
                .filter(|r| r.session == s && r.timing.end_ns > r.timing.start_ns)
                .map(|r| (r.timing.start_ns, r.timing.end_ns))
                .collect();
            covered_ns(spans) as f64 / 1e9
        })
        .sum()
}

/// Each metric (and latency, throughput of the same session) per repeat, when there are several.
fn repeat_spread(records: &[SampleRecord]) -> BTreeMap<String, RepeatSpread> {
    let repeats: BTreeSet<u32> = records.iter().map(|r| r.repeat).collect();
    let mut out = BTreeMap::new();
    if repeats.len() < 2 {
        return out;
    }
    let mut per: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for rep in &repeats {
        let rs: Vec<&SampleRecord> = records.iter().filter(|r| r.repeat == *rep).collect();
        let mut by_metric: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for r in &rs {
            for (k, v) in &r.scores {
                by_metric.entry(k).or_default().push(*v);
            }
        }
        for (k, v) in by_metric {
            per.entry(k.to_string())
                .or_default()
                .push(v.iter().sum::<f64>() / v.len() as f64);
        }
        let lat: Vec<f64> = rs.iter().map(|r| r.timing.e2e_s()).collect();
        per.entry("latency_mean_s".into())
            .or_default()
            .push(lat.iter().sum::<f64>() / lat.len().max(1) as f64);
        let owned: Vec<SampleRecord> = rs.iter().map(|r| (*r).clone()).collect();
        let busy = busy_seconds(&owned);
        if busy > 0.0 {
            per.entry("samples_per_s".into())
                .or_default()
                .push(rs.len() as f64 / busy);
        }
    }
    for (k, values) in per {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let std = trilemma_core::stats::sample_std(&values);
        out.insert(k, RepeatSpread { values, mean, std });
    }
    out
}

/// Per-group scores (a record's group is `detail.group`, e.g. an MMLU subject), by group
/// then metric.
type PerGroup = BTreeMap<String, BTreeMap<String, Estimate>>;

/// Scores of each group, and for each metric the macro average over groups: the plain
/// mean of the group means, its standard error `sqrt(sum se_g^2) / G` (group means are
/// independent), and a 95% stratified bootstrap CI (items resampled within each group):
/// `trilemma_core::stats::macro_mean_estimate`. When some group has a single item (e.g.
/// `--limit 1` on MMLU) the standard error and CI are those of the mean of the group means
/// (resampling groups) instead. Empty when no record carries a group.
pub fn group_metrics(records: &[SampleRecord]) -> (PerGroup, BTreeMap<String, Estimate>) {
    let mut values: BTreeMap<&str, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    for r in records {
        let Some(g) = r.detail.get("group").and_then(serde_json::Value::as_str) else {
            continue;
        };
        for (k, v) in &r.scores {
            values
                .entry(k.as_str())
                .or_default()
                .entry(g)
                .or_default()
                .push(*v);
        }
    }
    let mut per_group: PerGroup = BTreeMap::new();
    let mut macros = BTreeMap::new();
    for (metric, groups) in &values {
        for (g, xs) in groups {
            if let Ok(e) = mean_estimate(xs) {
                per_group
                    .entry((*g).to_string())
                    .or_default()
                    .insert((*metric).to_string(), e);
            }
        }
        let groups: Vec<&[f64]> = groups.values().map(Vec::as_slice).collect();
        if let Ok(e) = macro_mean_estimate(&groups) {
            macros.insert(format!("{metric}_macro"), e);
        }
    }
    (per_group, macros)
}

/// Corpus-level metrics (BLEU, chrF, macro-F1) over every record's prediction and its
/// `detail.references` (a failed sample counts as an empty prediction), each with a 95%
/// bootstrap CI over items (`trilemma_scoring::score_estimate`).
/// A corpus perplexity (`word_perplexity`, `byte_perplexity`, `token_perplexity`,
/// `bits_per_byte`) over the scored rolling records, as lm-eval's `weighted_perplexity`
/// and `bits_per_byte`, with a 95% bootstrap CI over documents (the core crate's
/// `resample`: 1,000 resamples, `DEFAULT_SEED`) and the bootstrap standard deviation as
/// its standard error.
fn perplexity_estimate(records: &[SampleRecord], name: &str) -> Option<Estimate> {
    let unit = match name {
        "word_perplexity" => "words",
        "byte_perplexity" | "bits_per_byte" => "bytes",
        "token_perplexity" => "tokens",
        _ => return None,
    };
    let pairs: Vec<(f64, u64)> = records
        .iter()
        .filter(|r| r.is_scored())
        .filter_map(|r| {
            Some((
                r.detail.get("loglikelihood")?.as_f64()?,
                r.detail.get(unit)?.as_u64()?,
            ))
        })
        .collect();
    let stat = |ps: &mut dyn Iterator<Item = (f64, u64)>| -> f64 {
        let (ll, n) = ps.fold((0.0, 0u64), |(a, b), (l, u)| (a + l, b + u));
        let r = if name == "bits_per_byte" {
            trilemma_scoring::perplexity::bits_per_byte(ll, n)
        } else {
            trilemma_scoring::perplexity::weighted_perplexity(ll, n)
        };
        r.unwrap_or(f64::NAN)
    };
    let value = stat(&mut pairs.iter().copied());
    if pairs.is_empty() || !value.is_finite() {
        return None;
    }
    let boot = resample(pairs.len(), BOOTSTRAP_RESAMPLES, DEFAULT_SEED, |idx| {
        Ok::<_, trilemma_core::Error>(stat(&mut idx.iter().map(|&i| pairs[i])))
    })
    .ok()?;
    Some(boot.estimate(value, pairs.len()))
}

pub fn corpus_metrics(records: &[SampleRecord], names: &[String]) -> BTreeMap<String, Estimate> {
    let mut out = BTreeMap::new();
    let mut rest = Vec::new();
    for m in names {
        if trilemma_tasks::PERPLEXITY_METRICS.contains(&m.as_str()) {
            if let Some(e) = perplexity_estimate(records, m) {
                out.insert(m.clone(), e);
            }
        } else {
            rest.push(m.clone());
        }
    }
    out.extend(corpus_text_metrics(records, &rest));
    out
}

fn corpus_text_metrics(records: &[SampleRecord], names: &[String]) -> BTreeMap<String, Estimate> {
    let mut preds = Vec::new();
    let mut refs = Vec::new();
    for r in records {
        let list: Vec<String> = r
            .detail
            .get("references")
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_else(|| vec![r.gold.clone()]);
        preds.push(r.prediction.clone());
        refs.push(if list.is_empty() {
            vec![r.gold.clone()]
        } else {
            list
        });
    }
    // Tasks with a label set (IMDB, the HaluEval validator) already map answers outside it
    // to "Error": score every label of the set (and Error) as a class.
    let labels: BTreeSet<String> = records
        .iter()
        .filter_map(|r| r.detail.get("labels")?.as_array().cloned())
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let mut out = BTreeMap::new();
    for m in names {
        let estimate = if m == "macro_f1" && !labels.is_empty() {
            let stat = |p: &[String], r: &[Vec<String>]| {
                let t: Vec<&str> = r.iter().map(|x| x[0].as_str()).collect();
                let q: Vec<&str> = p.iter().map(String::as_str).collect();
                Ok(trilemma_scoring::f1::f1_report(&t, &q)?.macro_f1)
            };
            trilemma_scoring::bootstrap::corpus_bootstrap(&preds, &refs, stat)
        } else {
            trilemma_scoring::score_estimate(m, &preds, &refs)
        };
        match estimate {
            Ok(e) => {
                out.insert(m.clone(), e);
            }
            Err(e) => tracing::warn!(metric = %m, %e, "corpus metric not computed"),
        }
    }
    out
}

/// The confusion matrix and per-class scores of a macro-F1 task, over every record.
pub fn classification(records: &[SampleRecord], task: &TaskInfo) -> Option<serde_json::Value> {
    if !task.corpus_metrics.iter().any(|m| m == "macro_f1") {
        return None;
    }
    let preds: Vec<String> = records.iter().map(|r| r.prediction.clone()).collect();
    let refs: Vec<Vec<String>> = records.iter().map(|r| vec![r.gold.clone()]).collect();
    let has_labels = records.iter().any(|r| r.detail.get("labels").is_some());
    let report = if has_labels {
        let t: Vec<&str> = refs.iter().map(|x| x[0].as_str()).collect();
        let q: Vec<&str> = preds.iter().map(String::as_str).collect();
        trilemma_scoring::f1::f1_report(&t, &q)
    } else {
        trilemma_scoring::f1::macro_f1(&preds, &refs)
    };
    report.ok().and_then(|r| serde_json::to_value(r).ok())
}

pub(crate) fn summarize(records: &[SampleRecord], inputs: SummaryInputs<'_>) -> Result<RunSummary> {
    if records.is_empty() {
        return Err(Error::Empty);
    }
    let mut per_metric: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in records {
        for (k, v) in &r.scores {
            per_metric.entry(k.as_str()).or_default().push(*v);
        }
    }
    let mut metrics: BTreeMap<String, Estimate> = per_metric
        .into_iter()
        .filter_map(|(k, v)| mean_estimate(&v).ok().map(|e| (k.to_string(), e)))
        .collect();
    let (per_group, macros) = group_metrics(records);
    metrics.extend(macros);
    metrics.extend(corpus_metrics(records, &inputs.task.corpus_metrics));
    let across_repeats = repeat_spread(records);
    let latencies: Vec<f64> = records.iter().map(|r| r.timing.e2e_s()).collect();
    let ttft: Vec<f64> = records.iter().filter_map(|r| r.timing.ttft_s()).collect();
    let tpot: Vec<f64> = records.iter().filter_map(|r| r.timing.tpot_s()).collect();
    let itl: Vec<f64> = records.iter().flat_map(|r| r.timing.itl_s()).collect();
    let decode: Vec<f64> = records.iter().filter_map(|r| r.timing.decode_s()).collect();
    let input_tokens: u64 = records.iter().map(|r| r.tokens.input).sum();
    let output_tokens: u64 = records.iter().map(|r| r.tokens.output).sum();
    let wall_s = busy_seconds(records);
    let per_s = |x: f64| if wall_s > 0.0 { x / wall_s } else { 0.0 };
    let errors = records.iter().filter(|r| !r.is_scored()).count();
    let cuts: Vec<Truncation> = records.iter().filter_map(Truncation::of_record).collect();
    Ok(RunSummary {
        run_id: inputs.run_id,
        model: inputs.model.clone(),
        task: inputs.task.name.clone(),
        primary_metric: inputs.task.primary_metric.clone(),
        level: inputs.task.level.clone(),
        engine: match inputs.engine.gpu_layers {
            Some(n) if n > 0 => format!(
                "{} ({}), {n} layers on the GPU",
                inputs.engine.kind, inputs.engine.version
            ),
            _ => format!("{} ({})", inputs.engine.kind, inputs.engine.version),
        },
        threads: inputs.engine.threads,
        batch_size: inputs.settings.batch_size as u32,
        repeats: inputs.settings.repeats,
        across_repeats,
        draws: if inputs.settings.sampling.is_greedy() {
            None
        } else {
            crate::draws::summarize_draws(records)
        },
        samples: records.len(),
        errors,
        truncated: TruncationSummary::of(&cuts),
        metrics,
        per_group,
        classification: classification(records, inputs.task),
        latency_s: Distribution::of(&latencies).map_err(|_| Error::Empty)?,
        ttft_s: Distribution::of(&ttft).ok(),
        tpot_s: Distribution::of(&tpot).ok(),
        itl_s: Distribution::of(&itl).ok(),
        decode_s: Distribution::of(&decode).ok(),
        throughput: Throughput {
            wall_s,
            samples_per_s: per_s(records.len() as f64),
            tokens_per_s: per_s((input_tokens + output_tokens) as f64),
            output_tokens_per_s: per_s(output_tokens as f64),
            input_tokens,
            output_tokens,
        },
        memory: inputs.memory,
        cpu: inputs.cpu,
        energy: inputs.energy,
        flops_estimate: inputs
            .model
            .parameters
            .map(|p| 2.0 * p as f64 * (input_tokens + output_tokens) as f64),
        hardware: inputs.hardware,
        started_at: inputs.started_at,
        finished_at: inputs.finished_at,
        partial: inputs.partial,
    })
}

#[cfg(test)]
mod tests;
