//! Deriving a run's summary from its per-sample records.

use std::collections::{BTreeMap, BTreeSet};

use trilemma_core::stats::{mean_estimate, Distribution};
use trilemma_core::{
    EnergySummary, MemorySummary, ModelInfo, RepeatSpread, RunSummary, SampleRecord, Throughput,
};
use trilemma_engine::EngineInfo;
use trilemma_tasks::TaskInfo;

use crate::{Error, Result, RunSettings};

/// Everything besides the records that a summary reports.
#[derive(Debug, Clone)]
pub struct SummaryInputs<'a> {
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

pub fn summarize(records: &[SampleRecord], inputs: SummaryInputs<'_>) -> Result<RunSummary> {
    if records.is_empty() {
        return Err(Error::Empty);
    }
    let mut per_metric: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in records {
        for (k, v) in &r.scores {
            per_metric.entry(k.as_str()).or_default().push(*v);
        }
    }
    let metrics = per_metric
        .into_iter()
        .filter_map(|(k, v)| mean_estimate(&v).ok().map(|e| (k.to_string(), e)))
        .collect();
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
    Ok(RunSummary {
        run_id: inputs.run_id,
        model: inputs.model.clone(),
        task: inputs.task.name.clone(),
        primary_metric: inputs.task.primary_metric.clone(),
        level: inputs.task.level.clone(),
        engine: format!("{} ({})", inputs.engine.kind, inputs.engine.version),
        threads: inputs.engine.threads,
        batch_size: inputs.settings.batch_size as u32,
        repeats: inputs.settings.repeats,
        across_repeats,
        samples: records.len(),
        errors,
        metrics,
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
mod tests {
    use super::*;

    #[test]
    fn spread_across_repeats() {
        let mk = |repeat: u32, acc: f64, start: u64| SampleRecord {
            sample_id: format!("s{start}"),
            task: "t".into(),
            repeat,
            session: 0,
            outcome: trilemma_core::Outcome::Scored,
            prediction: String::new(),
            gold: String::new(),
            scores: BTreeMap::from([("acc".to_string(), acc)]),
            tokens: Default::default(),
            timing: trilemma_core::RequestTiming {
                start_ns: start,
                end_ns: start + 1_000_000_000,
                ..Default::default()
            },
            detail: serde_json::Value::Null,
        };
        let recs = vec![
            mk(0, 1.0, 0),
            mk(0, 0.0, 0),
            mk(1, 1.0, 5_000_000_000),
            mk(1, 1.0, 5_000_000_000),
        ];
        let s = repeat_spread(&recs);
        assert_eq!(s["acc"].values, vec![0.5, 1.0]);
        assert!((s["acc"].std - 0.353_553_390_593_273_8).abs() < 1e-12);
        assert_eq!(s["samples_per_s"].values, vec![2.0, 2.0]);
        assert!(repeat_spread(&recs[..2]).is_empty());
    }

    #[test]
    fn overlapping_windows_count_once() {
        assert_eq!(covered_ns(vec![(0, 10), (5, 20), (30, 40)]), 30);
        assert_eq!(covered_ns(vec![]), 0);
        assert_eq!(covered_ns(vec![(3, 4), (0, 10)]), 10);
    }
}
