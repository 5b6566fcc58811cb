//! `trilemma compare`: are two runs' scores different, item by item?
//!
//! Samples are paired by (task, sample id). Each shared metric gets a paired bootstrap
//! of the difference of means (seeded, so the same runs always print the same interval),
//! and multiple-choice runs also get the per-item agreement of their picked choices.
//! `--lm-eval-samples` reads lm-evaluation-harness's `--log_samples` file as the other
//! side, for the peer check against lm-eval.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;
use trilemma_core::stats::{self, Estimate, PairedDifference};
use trilemma_core::SampleRecord;

use crate::output;

/// How several repeats of one item become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepeatMode {
    /// The first repeat (repeat 0) of each item.
    First,
    /// The mean of each metric over the item's scored repeats (picks come from the first).
    Mean,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Run directory A (holds manifest.json and samples.jsonl).
    pub run_a: PathBuf,
    /// Run directory B. Not given with --lm-eval-samples.
    pub run_b: Option<PathBuf>,
    /// Compare RUN_A against lm-evaluation-harness's per-sample log
    /// (`samples_<task>_*.jsonl` written by `lm_eval --log_samples`) instead of RUN_B.
    #[arg(long, conflicts_with = "run_b")]
    pub lm_eval_samples: Option<PathBuf>,
    /// The field of lm-eval's `doc` that holds the item id Trilemma records as sample_id.
    #[arg(long, default_value = "id", requires = "lm_eval_samples")]
    pub lm_eval_id_field: String,
    /// Compare only this metric (repeatable); default: every metric both runs report.
    #[arg(long)]
    pub metric: Vec<String>,
    /// Which repeat(s) of an item to use.
    #[arg(long, value_enum, default_value_t = RepeatMode::First)]
    pub repeats: RepeatMode,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = stats::BOOTSTRAP_RESAMPLES)]
    pub resamples: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = stats::BOOTSTRAP_SEED)]
    pub seed: u64,
    /// Print the comparison as JSON on stdout.
    #[arg(long)]
    pub json: bool,
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

#[derive(Debug, Clone, Serialize)]
pub struct MetricComparison {
    pub metric: String,
    pub a: Estimate,
    pub b: Estimate,
    /// mean(A) - mean(B) over the items both scored, with its paired-bootstrap 95% CI.
    pub difference: PairedDifference,
    pub significant: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChoiceAgreement {
    /// Which pick: `pick` (max log-likelihood) or `pick_norm` (length-normalised).
    pub kind: String,
    pub n: usize,
    pub agree: usize,
    pub fraction: f64,
    /// Ids (task/sample_id) of the items whose picks differ.
    pub differing: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogprobAgreement {
    /// Items with per-choice log-likelihoods on both sides and the same number of choices.
    pub n_items: usize,
    pub max_abs_diff: f64,
    pub mean_abs_diff: f64,
    pub median_abs_diff: f64,
}

#[derive(Debug, Clone, Serialize)]
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

/// Reads the complete sample records of a run directory. A torn last line (a run killed
/// mid-write) is left out with a warning; any other bad line is an error naming it.
pub fn read_run_records(dir: &Path) -> anyhow::Result<Vec<SampleRecord>> {
    let path = dir.join(trilemma_store::run::SAMPLES);
    if !path.is_file() {
        let inner: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().join(trilemma_store::run::SAMPLES).is_file())
                    .map(|e| e.path().display().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if inner.is_empty() {
            bail!(
                "{} is not a run directory (no samples.jsonl)",
                dir.display()
            );
        }
        bail!(
            "{} is not a run directory (no samples.jsonl); run directories inside it: {}",
            dir.display(),
            inner.join(", ")
        );
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<SampleRecord>(line.trim_end()) {
            Ok(r) if line.ends_with('\n') || i + 1 < lines.len() => out.push(r),
            Ok(_) | Err(_) if i + 1 == lines.len() && !line.ends_with('\n') => {
                tracing::warn!(path = %path.display(), line = i + 1, "leaving out a torn last line");
                eprintln!(
                    "warning: {}:{}: torn last line (interrupted run) left out",
                    path.display(),
                    i + 1
                );
            }
            Ok(r) => out.push(r),
            Err(e) => bail!("{}:{}: not a sample record: {e}", path.display(), i + 1),
        }
    }
    Ok(out)
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

/// Reads a run directory as one side of a comparison.
pub fn load_run(dir: &Path, mode: RepeatMode) -> anyhow::Result<Side> {
    let records = read_run_records(dir)?;
    if records.is_empty() {
        bail!("{} has no sample records", dir.display());
    }
    Ok(side_from_records(
        &dir.display().to_string(),
        &records,
        mode,
    ))
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The continuations lm-eval scored, in choice order (both of its `arguments` layouts).
fn lm_eval_continuations(args: &Value) -> Option<Vec<String>> {
    let pairs: Vec<&Value> = match args {
        Value::Array(a) => a.iter().collect(),
        // {"gen_args_0": {"arg_0": ctx, "arg_1": cont}, "gen_args_1": ...}
        Value::Object(o) => {
            let mut keyed: Vec<(usize, &Value)> = o
                .iter()
                .map(|(k, v)| Some((k.strip_prefix("gen_args_")?.parse().ok()?, v)))
                .collect::<Option<_>>()?;
            keyed.sort_by_key(|(i, _)| *i);
            keyed.into_iter().map(|(_, v)| v).collect()
        }
        _ => return None,
    };
    pairs
        .into_iter()
        .map(|p| match p {
            Value::Array(a) => a.get(1)?.as_str().map(str::to_string),
            Value::Object(o) => o.get("arg_1")?.as_str().map(str::to_string),
            _ => None,
        })
        .collect()
}

/// Index of the largest value; the first one on ties (numpy's argmax, which lm-eval uses).
fn argmax(xs: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, x) in xs.iter().enumerate() {
        match best {
            Some(b) if *x <= xs[b] => {}
            _ => best = Some(i),
        }
    }
    best
}

/// Reads lm-evaluation-harness's `--log_samples` JSONL as one side, tagged with `task`.
///
/// Metrics are the numeric top-level fields of each line (`acc`, `acc_norm`, ...). For
/// multiple choice, `pick` is the argmax of the per-choice log-likelihoods in
/// `filtered_resps`, and `pick_norm` follows lm-eval's `acc_norm`: log-likelihood over the
/// choice's length in characters, without the space lm-eval puts before it.
pub fn load_lm_eval_samples(path: &Path, task: &str, id_field: &str) -> anyhow::Result<Side> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut side = Side {
        label: format!("lm-eval {}", path.display()),
        tasks: BTreeSet::from([task.to_string()]),
        ..Side::default()
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let v: Value = serde_json::from_str(line).with_context(|| format!("{}: not JSON", at()))?;
        let id = match v.get("doc").and_then(|d| d.get(id_field)) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => bail!(
                "{}: no doc.{id_field} (choose the id field with --lm-eval-id-field)",
                at()
            ),
        };
        let scores: BTreeMap<String, f64> = v
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !matches!(k.as_str(), "doc_id" | "target" | "doc_hash"))
            .filter_map(|(k, x)| x.as_f64().map(|x| (k.clone(), x)))
            .collect();
        let logprobs: Option<Vec<f64>> = v
            .get("filtered_resps")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .map(|r| match r {
                        Value::Array(pair) => pair.first().and_then(number),
                        other => number(other),
                    })
                    .collect()
            });
        let continuations = v.get("arguments").and_then(lm_eval_continuations);
        let pick = logprobs.as_deref().and_then(argmax);
        let pick_norm = match (&logprobs, &continuations) {
            (Some(lp), Some(c)) if lp.len() == c.len() => {
                let normed: Vec<f64> = lp
                    .iter()
                    .zip(c)
                    .map(|(l, c)| {
                        let chars = c.strip_prefix(' ').unwrap_or(c).chars().count();
                        l / chars.max(1) as f64
                    })
                    .collect();
                argmax(&normed)
            }
            _ => None,
        };
        let key = (task.to_string(), id);
        if side.items.contains_key(&key) {
            bail!("{}: item {:?} appears twice", at(), key.1);
        }
        side.items.insert(
            key,
            ItemView {
                scores,
                pick,
                pick_norm,
                logprobs,
            },
        );
    }
    if side.items.is_empty() {
        bail!("{} has no samples", path.display());
    }
    Ok(side)
}

/// Compares two sides item by item.
pub fn compare(
    a: &Side,
    b: &Side,
    metrics: &[String],
    mode: RepeatMode,
    resamples: usize,
    seed: u64,
) -> anyhow::Result<Comparison> {
    if a.tasks != b.tasks {
        bail!(
            "the runs are for different tasks: {} has {:?}, {} has {:?}; compare runs of the same task",
            a.label,
            a.tasks,
            b.label,
            b.tasks
        );
    }
    let shared: Vec<&(String, String)> = a
        .items
        .keys()
        .filter(|k| b.items.contains_key(*k))
        .collect();
    if shared.is_empty() {
        bail!(
            "{} and {} share no scored items ({} and {} items); nothing to compare",
            a.label,
            b.label,
            a.items.len(),
            b.items.len()
        );
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
                bail!(
                    "metric {m:?} is not reported by both runs; shared metrics: {}",
                    metric_names
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
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

fn print_text(c: &Comparison) {
    println!("A: {}", c.a);
    println!("B: {}", c.b);
    println!(
        "task(s) {}: {} shared items, {} only in A, {} only in B, {} error items in A, {} in B",
        c.tasks.join(", "),
        c.shared,
        c.only_in_a,
        c.only_in_b,
        c.errors_in_a,
        c.errors_in_b
    );
    println!(
        "items paired by (task, sample_id); repeats: {}",
        match c.repeats {
            RepeatMode::First => "first repeat of each item",
            RepeatMode::Mean => "mean over each item's scored repeats (picks from the first)",
        }
    );
    let mut t = output::table(&[
        "metric",
        "A (95% CI)",
        "B (95% CI)",
        "A - B (95% CI)",
        "p",
        "verdict",
    ]);
    for m in &c.metrics {
        let est = |e: &Estimate| format!("{:.4} ({:.4}–{:.4})", e.value, e.ci_low, e.ci_high);
        let d = &m.difference;
        t.add_row(vec![
            m.metric.clone(),
            est(&m.a),
            est(&m.b),
            format!("{:+.4} ({:+.4}–{:+.4})", d.delta, d.ci_low, d.ci_high),
            format!("{:.3}", d.p_value),
            if m.significant {
                "significant".into()
            } else {
                "not significant".into()
            },
        ]);
    }
    println!("{t}");
    println!(
        "CIs: percentile bootstrap, {} resamples, seed {}; A - B: paired bootstrap over the shared items; \
         p: share of resampled differences on the far side of zero, doubled; significant: the 95% CI excludes 0",
        c.resamples, c.seed
    );
    for ch in &c.choices {
        let what = if ch.kind == "pick" {
            "choice (max log-likelihood)"
        } else {
            "choice (length-normalised; each side's own rule)"
        };
        let shown: Vec<&str> = ch.differing.iter().take(10).map(String::as_str).collect();
        println!(
            "same {what} on {}/{} items ({:.2}%){}",
            ch.agree,
            ch.n,
            100.0 * ch.fraction,
            if shown.is_empty() {
                String::new()
            } else {
                format!(
                    "; differing: {}{}",
                    shown.join(", "),
                    if ch.differing.len() > shown.len() {
                        " ..."
                    } else {
                        ""
                    }
                )
            }
        );
    }
    if let Some(l) = &c.logprobs {
        println!(
            "per-choice log-likelihood |A - B| over {} items: median {:.2e}, mean {:.2e}, max {:.2e}",
            l.n_items, l.median_abs_diff, l.mean_abs_diff, l.max_abs_diff
        );
    }
}

pub fn run(args: &CompareArgs) -> anyhow::Result<()> {
    let a = load_run(&args.run_a, args.repeats)?;
    let b = match (&args.run_b, &args.lm_eval_samples) {
        (Some(b), None) => load_run(b, args.repeats)?,
        (None, Some(file)) => {
            // lm-eval's log names no Trilemma task; it is paired against RUN_A's task by id.
            if a.tasks.len() != 1 {
                bail!(
                    "{} holds several tasks ({:?}); --lm-eval-samples compares one task",
                    a.label,
                    a.tasks
                );
            }
            let task = a.tasks.iter().next().cloned().unwrap_or_default();
            load_lm_eval_samples(file, &task, &args.lm_eval_id_field)?
        }
        _ => bail!("give RUN_B or --lm-eval-samples FILE"),
    };
    let c = compare(
        &a,
        &b,
        &args.metric,
        args.repeats,
        args.resamples,
        args.seed,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print_text(&c);
    }
    Ok(())
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

    #[test]
    fn lm_eval_pick_norm_uses_chars_without_the_leading_space() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples_arc.jsonl");
        // " ab" -> 2 chars: -3/2 = -1.5; " abcdé" -> 5 chars: -6/5 = -1.2 -> choice 1.
        // (By bytes with the space, 3 and 7: -1.0 and -0.857, also 1; raw ll picks 0.)
        let line = serde_json::json!({
            "doc_id": 0, "doc": {"id": "Q1"}, "target": 0,
            "arguments": {"gen_args_0": {"arg_0": "Q", "arg_1": " ab"},
                          "gen_args_1": {"arg_0": "Q", "arg_1": " abcdé"}},
            "filtered_resps": [["-3.0", "False"], [-6.0, false]],
            "acc": 1.0, "acc_norm": 0.0
        });
        std::fs::write(&p, format!("{line}\n")).unwrap();
        let side = load_lm_eval_samples(&p, "arc-easy", "id").unwrap();
        let item = &side.items[&("arc-easy".to_string(), "Q1".to_string())];
        assert_eq!(item.pick, Some(0));
        assert_eq!(item.pick_norm, Some(1));
        assert_eq!(item.logprobs.as_deref(), Some(&[-3.0, -6.0][..]));
        assert_eq!(item.scores.keys().collect::<Vec<_>>(), ["acc", "acc_norm"]);
        let err = load_lm_eval_samples(&p, "arc-easy", "nope")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":1: no doc.nope"), "{err}");
    }
}
