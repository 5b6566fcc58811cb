//! Reports over run directories: load, compare within (task, hardware) groups, render.
//!
//! Runs of different tasks or hardware are never min-max normalised together: each group
//! gets its own PER, frontiers, medals and recommendations.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use trilemma_core::{EnergySource, EnergySummary, RunSummary};

use crate::pareto::{non_dominated, pareto_2d};
use crate::quant::{self, precision_bits, Variant};
use crate::recommend::{recommend, Candidate, Recommendation};
use crate::score::{self, medals, ranks, weight_grid, Direction};
use crate::serving::ServingPoint;
use crate::{Error, Result};

mod html;
pub use html::to_html;

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

/// Which runs lie on which frontier.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Frontiers {
    pub latency_accuracy: bool,
    pub energy_accuracy: Option<bool>,
    pub size_accuracy: Option<bool>,
    /// Non-dominated over every axis all runs of the group have.
    pub all_axes: bool,
}

/// One run in a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub label: String,
    pub run_id: String,
    pub model: String,
    pub quantization: Option<String>,
    /// The precision a derived variant was quantized from (`trilemma sweep --quant`),
    /// when its manifest says so: a variant derived from a 4-bit file holds no more
    /// information than that file, whatever its own type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived_from: Option<String>,
    pub batch_size: u32,
    pub threads: Option<u32>,
    pub accuracy: f64,
    pub accuracy_ci: (f64, f64),
    /// Mean end-to-end latency per sample, seconds.
    pub latency_s: f64,
    pub latency_p95_s: f64,
    /// PER's latency: ms/token for token-level tasks (time per output token), ms/sample
    /// otherwise.
    pub per_latency_ms: f64,
    /// PER's throughput: tokens/s (token level) or samples/s (sample level).
    pub per_throughput: f64,
    pub memory_mb: Option<f64>,
    pub size_mb: Option<f64>,
    /// Energy per sample, joules, from the preferred source (a meter over an estimate).
    pub energy_j: Option<f64>,
    pub energy_source: Option<String>,
    pub energy_is_estimate: bool,
    pub per: Option<f64>,
    pub medals: usize,
    pub frontiers: Frontiers,
}

/// Rank of each run under one weighting scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    pub weights: String,
    pub om: Vec<f64>,
    pub ranks: Vec<usize>,
}

/// All runs of one task on one hardware label.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub task: String,
    pub hardware: String,
    /// The evaluation setting (items evaluated, few-shot) when runs of this task and
    /// hardware differ in it: such runs are separate groups, never normalised together.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub setting: String,
    pub level: String,
    pub primary_metric: String,
    pub rows: Vec<Row>,
    pub per_note: String,
    pub recommendations: Vec<Recommendation>,
    pub quant_deltas: Vec<quant::Delta>,
    /// OM reference (the most accurate run) and rankings under seed 004's weight grid.
    pub om_reference: Option<String>,
    pub rankings: Vec<Ranking>,
    pub batch_sizes_differ: bool,
}

/// Where a run's figures came from.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub run_id: String,
    pub dir: String,
    pub task: String,
    pub engine: String,
    pub hardware: String,
    pub repeats: u32,
    pub samples: usize,
    pub errors: usize,
    pub partial: bool,
    pub started_at: String,
    pub finished_at: String,
    pub memory_method: Option<String>,
    pub energy: Vec<EnergyProvenance>,
    pub manifest: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnergyProvenance {
    pub source: String,
    pub is_estimate: bool,
    pub domains: Vec<String>,
    pub window_s: f64,
    pub idle_w: Option<f64>,
    pub idle_window_s: Option<f64>,
    pub net_j: f64,
    pub attribution: String,
    pub method: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub note: String,
    pub groups: Vec<Group>,
    pub provenance: Vec<Provenance>,
    /// Serving under load (`trilemma load --out` files), with the energy-latency front.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub serving: Vec<ServingPoint>,
}

fn preferred_energy(s: &RunSummary) -> Option<&EnergySummary> {
    s.energy
        .iter()
        .find(|e| e.source != EnergySource::Estimate)
        .or_else(|| s.energy.first())
}

const MB: f64 = 1024.0 * 1024.0;

fn row_of(run: &RunEntry) -> Result<Row> {
    let s = &run.summary;
    let est = s
        .metrics
        .get(&s.primary_metric)
        .ok_or_else(|| Error::Invalid {
            what: run.dir.join("summary.json").display().to_string(),
            reason: format!(
                "primary metric `{}` is not among metrics {:?}",
                s.primary_metric,
                s.metrics.keys().collect::<Vec<_>>()
            ),
        })?;
    let token_level = s.level == "token";
    let per_latency_ms = match (&s.tpot_s, token_level) {
        (Some(t), true) => t.mean * 1000.0,
        _ => s.latency_s.mean * 1000.0,
    };
    let per_throughput = if token_level {
        s.throughput.output_tokens_per_s
    } else {
        s.throughput.samples_per_s
    };
    let memory_mb = s
        .memory
        .as_ref()
        .map(|m| m.peak_gpu_bytes.unwrap_or(m.peak_rss_bytes) as f64 / MB);
    let e = preferred_energy(s);
    Ok(Row {
        label: String::new(),
        run_id: s.run_id.clone(),
        model: s.model.name.clone(),
        quantization: s.model.quantization.clone(),
        derived_from: run.manifest["model"]["derived"]["source_precision"]
            .as_str()
            .map(String::from),
        batch_size: s.batch_size,
        threads: s.threads,
        accuracy: est.value,
        accuracy_ci: (est.ci_low, est.ci_high),
        latency_s: s.latency_s.mean,
        latency_p95_s: s.latency_s.p95,
        per_latency_ms,
        per_throughput,
        memory_mb,
        size_mb: s.model.file_bytes.map(|b| b as f64 / MB),
        energy_j: e.map(|e| e.per_sample_j),
        energy_source: e.map(|e| e.source.label().to_string()),
        energy_is_estimate: e.is_some_and(|e| e.source == EnergySource::Estimate),
        per: None,
        medals: 0,
        frontiers: Frontiers::default(),
    })
}

fn all<T: Copy>(xs: impl Iterator<Item = Option<T>>) -> Option<Vec<T>> {
    xs.collect()
}

fn build_group(runs: &[&RunEntry]) -> Result<Group> {
    let first = &runs[0].summary;
    let mut rows: Vec<Row> = runs.iter().map(|r| row_of(r)).collect::<Result<_>>()?;
    let batch_sizes_differ = rows.iter().any(|r| r.batch_size != rows[0].batch_size);
    let threads_differ = rows.iter().any(|r| r.threads != rows[0].threads);
    for r in rows.iter_mut() {
        let mut label = r.model.clone();
        if let Some(q) = &r.quantization {
            let _ = write!(label, " {q}");
        }
        if batch_sizes_differ {
            let _ = write!(label, " b{}", r.batch_size);
        }
        if threads_differ {
            let _ = write!(label, " t{}", r.threads.unwrap_or(0));
        }
        r.label = label;
    }
    // Same label twice (e.g. repeated runs): add the run id so rows stay distinguishable.
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    for (i, r) in rows.iter_mut().enumerate() {
        if labels.iter().filter(|l| **l == labels[i]).count() > 1 {
            r.label = format!("{} [{}]", r.label, r.run_id);
        }
    }
    let acc: Vec<f64> = rows.iter().map(|r| r.accuracy).collect();
    let lat: Vec<f64> = rows.iter().map(|r| r.latency_s).collect();
    let thr: Vec<f64> = rows.iter().map(|r| r.per_throughput).collect();
    let mem = all(rows.iter().map(|r| r.memory_mb));
    let energy = all(rows.iter().map(|r| r.energy_j));
    let size = all(rows.iter().map(|r| r.size_mb));

    let per_note;
    if let Some(mem) = &mem {
        let plat: Vec<f64> = rows.iter().map(|r| r.per_latency_ms).collect();
        let per = score::per(&acc, &thr, &plat, mem)?;
        for (r, p) in rows.iter_mut().zip(per) {
            r.per = Some(p);
        }
        per_note = format!(
            "PER (seed 001) over the {} runs of this group only, {}-level: throughput in {}, latency in {}.",
            rows.len(),
            first.level,
            if first.level == "token" { "output tokens/s" } else { "samples/s" },
            if first.level == "token" { "ms/output token" } else { "ms/sample" },
        );
    } else {
        per_note = "PER not computed: a run has no memory reading.".into();
    }

    let lat_acc: Vec<(f64, f64)> = lat.iter().copied().zip(acc.iter().copied()).collect();
    let f_la = pareto_2d(
        &lat_acc,
        Direction::LowerIsBetter,
        Direction::HigherIsBetter,
    )?;
    let f_ea = match &energy {
        Some(e) => Some(pareto_2d(
            &e.iter()
                .copied()
                .zip(acc.iter().copied())
                .collect::<Vec<_>>(),
            Direction::LowerIsBetter,
            Direction::HigherIsBetter,
        )?),
        None => None,
    };
    let f_sa = match &size {
        Some(s) => Some(pareto_2d(
            &s.iter()
                .copied()
                .zip(acc.iter().copied())
                .collect::<Vec<_>>(),
            Direction::LowerIsBetter,
            Direction::HigherIsBetter,
        )?),
        None => None,
    };
    let mut axes: Vec<(Vec<f64>, Direction)> = vec![
        (acc.clone(), Direction::HigherIsBetter),
        (thr.clone(), Direction::HigherIsBetter),
        (lat.clone(), Direction::LowerIsBetter),
    ];
    if let Some(m) = &mem {
        axes.push((m.clone(), Direction::LowerIsBetter));
    }
    if let Some(e) = &energy {
        axes.push((e.clone(), Direction::LowerIsBetter));
    }
    let points: Vec<Vec<f64>> = (0..rows.len())
        .map(|i| axes.iter().map(|(c, _)| c[i]).collect())
        .collect();
    let dirs: Vec<Direction> = axes.iter().map(|(_, d)| *d).collect();
    let f_all = non_dominated(&points, &dirs)?;
    let medal_axes: Vec<(&[f64], Direction)> =
        axes.iter().map(|(c, d)| (c.as_slice(), *d)).collect();
    let m = medals(&medal_axes)?;
    for (i, r) in rows.iter_mut().enumerate() {
        r.medals = m[i];
        r.frontiers = Frontiers {
            latency_accuracy: f_la[i],
            energy_accuracy: f_ea.as_ref().map(|f| f[i]),
            size_accuracy: f_sa.as_ref().map(|f| f[i]),
            all_axes: f_all[i],
        };
    }

    // Items every run of the group scored, for the paired bootstrap.
    let shared: Vec<&String> = runs[0]
        .item_scores
        .keys()
        .filter(|k| runs.iter().all(|r| r.item_scores.contains_key(*k)))
        .collect();
    let cands: Vec<Candidate> = rows
        .iter()
        .zip(runs)
        .map(|(r, run)| Candidate {
            name: r.label.clone(),
            accuracy: r.accuracy,
            latency: r.latency_s,
            energy: r.energy_j,
            item_scores: (!shared.is_empty())
                .then(|| shared.iter().map(|k| run.item_scores[*k]).collect()),
        })
        .collect();
    let recommendations = recommend(&cands)?;

    // Variants are compared at one batch size and, when the runs differ in it, one
    // thread count: a delta never mixes them.
    let mixed_threads = rows.iter().any(|r| r.threads != rows[0].threads);
    let variants: Vec<Variant> = rows
        .iter()
        .filter_map(|r| {
            let q = r.quantization.clone()?;
            precision_bits(&q)?;
            let q = match &r.derived_from {
                Some(src) => format!("{q} (derived from {src})"),
                None => q,
            };
            Some(Variant {
                model: match (mixed_threads, r.threads) {
                    (true, Some(t)) => format!("{} b{} t{t}", r.model, r.batch_size),
                    _ => format!("{} b{}", r.model, r.batch_size),
                },
                precision: q,
                latency: r.latency_s,
                memory: r.memory_mb.or(r.size_mb)?,
                energy: r.energy_j,
                accuracy: BTreeMap::from([(first.task.clone(), r.accuracy)]),
            })
        })
        .collect();
    let quant_deltas = quant::deltas(&variants)?;

    let (om_reference, rankings) = match &energy {
        Some(e)
            if rows.len() > 1
                && acc.iter().all(|a| *a > 0.0)
                && lat.iter().all(|l| *l > 0.0)
                && e.iter().all(|x| *x > 0.0) =>
        {
            let r = (0..rows.len())
                .max_by(|a, b| acc[*a].total_cmp(&acc[*b]))
                .unwrap_or(0);
            let rk = weight_grid()
                .into_iter()
                .map(|w| {
                    let om = score::om(&acc, &lat, e, r, w)?;
                    Ok(Ranking {
                        weights: w.label(),
                        ranks: ranks(&om),
                        om,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            (Some(rows[r].label.clone()), rk)
        }
        _ => (None, Vec::new()),
    };

    Ok(Group {
        task: first.task.clone(),
        hardware: first.hardware.clone(),
        setting: String::new(),
        level: first.level.clone(),
        primary_metric: first.primary_metric.clone(),
        rows,
        per_note,
        recommendations,
        quant_deltas,
        om_reference,
        rankings,
        batch_sizes_differ,
    })
}

fn provenance(run: &RunEntry) -> Provenance {
    let s = &run.summary;
    Provenance {
        run_id: s.run_id.clone(),
        dir: run.dir.display().to_string(),
        task: s.task.clone(),
        engine: s.engine.clone(),
        hardware: s.hardware.clone(),
        repeats: s.repeats,
        samples: s.samples,
        errors: s.errors,
        partial: s.partial,
        started_at: s.started_at.clone(),
        finished_at: s.finished_at.clone(),
        memory_method: s.memory.as_ref().map(|m| m.method.clone()),
        energy: s
            .energy
            .iter()
            .map(|e| EnergyProvenance {
                source: e.source.label().to_string(),
                is_estimate: e.source == EnergySource::Estimate,
                domains: e.domains.clone(),
                window_s: e.window_s,
                idle_w: e.idle_w,
                idle_window_s: e.idle_window_s,
                net_j: e.net_j,
                attribution: serde_json::to_value(e.attribution)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                method: e.method.clone(),
            })
            .collect(),
        manifest: run.manifest.clone(),
    }
}

/// What was evaluated, from a run's manifest: the item limit and the few-shot count.
fn setting_of(r: &RunEntry) -> String {
    let settings = &r.manifest["settings"];
    let limit = settings["limit"]
        .as_u64()
        .map_or("all items".to_string(), |n| format!("first {n} items"));
    let shots = r.manifest["task"]["num_fewshot"]
        .as_u64()
        .map_or(String::new(), |k| format!(", {k}-shot"));
    format!("{limit}{shots}")
}

/// Builds the report: one group per (task, hardware, setting), in first-seen order.
pub fn build(runs: &[RunEntry]) -> Result<Report> {
    if runs.is_empty() {
        return Err(Error::Invalid {
            what: "report".into(),
            reason: "no runs".into(),
        });
    }
    let key = |r: &RunEntry| {
        (
            r.summary.task.clone(),
            r.summary.hardware.clone(),
            setting_of(r),
        )
    };
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for r in runs {
        let k = key(r);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let groups = keys
        .iter()
        .map(|k| {
            let members: Vec<&RunEntry> = runs.iter().filter(|r| &key(r) == k).collect();
            let mut g = build_group(&members)?;
            // Name the setting only where it tells groups of one task and hardware apart.
            if keys.iter().any(|o| o.0 == k.0 && o.1 == k.1 && o.2 != k.2) {
                g.setting = k.2.clone();
            }
            Ok(g)
        })
        .collect::<Result<Vec<_>>>()?;
    let note = if groups.len() > 1 {
        format!(
            "{} groups: runs are compared (and min-max normalised) only within one task, one hardware label and one evaluation setting (items, few-shot).",
            groups.len()
        )
    } else {
        "One group: every run has the same task and hardware label.".to_string()
    };
    Ok(Report {
        note,
        groups,
        provenance: runs.iter().map(provenance).collect(),
        serving: Vec::new(),
    })
}

/// [`build`] over run directories (there may be none) and the points of load files,
/// whose energy-latency front is marked.
pub fn build_with_serving(runs: &[RunEntry], mut serving: Vec<ServingPoint>) -> Result<Report> {
    crate::serving::mark_frontier(&mut serving)?;
    let mut r = if runs.is_empty() && !serving.is_empty() {
        Report {
            note: "Serving under load only: no evaluation runs were given.".into(),
            groups: Vec::new(),
            provenance: Vec::new(),
            serving: Vec::new(),
        }
    } else {
        build(runs)?
    };
    r.serving = serving;
    Ok(r)
}

pub fn to_json(r: &Report) -> Result<String> {
    serde_json::to_string_pretty(r).map_err(|e| Error::Invalid {
        what: "report JSON".into(),
        reason: e.to_string(),
    })
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

/// One CSV row per run, with its group's task and hardware.
pub fn to_csv(r: &Report) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Invalid {
        what: "report CSV".into(),
        reason: e.to_string(),
    };
    w.write_record([
        "task",
        "hardware",
        "name",
        "run_id",
        "batch_size",
        "accuracy",
        "latency_s",
        "throughput",
        "memory_mb",
        "energy_j",
        "energy_source",
        "per",
        "medals",
        "pareto",
    ])
    .map_err(err)?;
    for g in &r.groups {
        for row in &g.rows {
            w.write_record([
                g.task.clone(),
                g.hardware.clone(),
                row.label.clone(),
                row.run_id.clone(),
                row.batch_size.to_string(),
                format!("{:.6}", row.accuracy),
                format!("{:.6}", row.latency_s),
                format!("{:.4}", row.per_throughput),
                opt(row.memory_mb, 1).replace('-', ""),
                opt(row.energy_j, 6).replace('-', ""),
                row.energy_source.clone().unwrap_or_default(),
                opt(row.per, 4).replace('-', ""),
                row.medals.to_string(),
                row.frontiers.all_axes.to_string(),
            ])
            .map_err(err)?;
        }
    }
    let bytes = w.into_inner().map_err(|e| Error::Invalid {
        what: "report CSV".into(),
        reason: e.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid {
        what: "report CSV".into(),
        reason: e.to_string(),
    })
}

fn energy_cell(row: &Row) -> String {
    match row.energy_j {
        Some(e) if row.energy_is_estimate => format!("{e:.3} (estimate)"),
        Some(e) => format!("{e:.3} ({})", row.energy_source.as_deref().unwrap_or("")),
        None => "-".into(),
    }
}

/// Markdown: the trilemma table, recommendations and quantization deltas per group, then
/// provenance.
pub fn to_markdown(r: &Report) -> String {
    let mut s = String::from("# Trilemma report\n\n");
    let _ = writeln!(s, "{}\n", r.note);
    for g in &r.groups {
        let _ = writeln!(
            s,
            "## {} on {}{}\n",
            g.task,
            g.hardware,
            if g.setting.is_empty() {
                String::new()
            } else {
                format!(" ({})", g.setting)
            }
        );
        let _ = writeln!(s, "{}\n", g.per_note);
        let _ = writeln!(
            s,
            "| name | {} (higher better) | latency s/sample (lower better) | throughput | memory MB | energy J/sample | PER | medals | Pareto |",
            g.primary_metric
        );
        s.push_str("|---|---|---|---|---|---|---|---|---|\n");
        for row in &g.rows {
            let _ = writeln!(
                s,
                "| {} | {:.4} [{:.4}, {:.4}] | {:.4} | {:.2} | {} | {} | {} | {} | {} |",
                row.label,
                row.accuracy,
                row.accuracy_ci.0,
                row.accuracy_ci.1,
                row.latency_s,
                row.per_throughput,
                opt(row.memory_mb, 1),
                energy_cell(row),
                opt(row.per, 3),
                row.medals,
                if row.frontiers.all_axes { "yes" } else { "no" },
            );
        }
        s.push_str("\n### Recommendations\n\n| objective | choice | runner-up | margin | significance |\n|---|---|---|---|---|\n");
        for rec in &g.recommendations {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                rec.objective.label(),
                rec.choice,
                rec.runner_up.as_deref().unwrap_or("-"),
                opt(rec.margin, 4),
                rec.significance
            );
        }
        if !g.quant_deltas.is_empty() {
            s.push_str("\n### Quantization deltas (against the highest-precision variant)\n\n| model | precision | baseline | speed-up | memory change % | energy reduction % | accuracy change % |\n|---|---|---|---|---|---|---|\n");
            for d in &g.quant_deltas {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.2}x | {:.2} | {} | {} |",
                    d.model,
                    d.precision,
                    d.baseline,
                    d.speedup,
                    d.memory_change_pct,
                    opt(d.energy_reduction_pct, 1),
                    opt(d.accuracy_drop_pct.values().next().copied(), 2)
                );
            }
        }
        s.push('\n');
    }
    if !r.serving.is_empty() {
        s.push_str("## Serving under load (energy-latency, seed 004)\n\n");
        s.push_str(crate::serving::NOTE);
        let _ = writeln!(
            s,
            "\n\n| {} |\n|{}",
            crate::serving::COLUMNS.join(" | "),
            "---|".repeat(crate::serving::COLUMNS.len())
        );
        for p in &r.serving {
            let _ = writeln!(s, "| {} |", crate::serving::cells(p).join(" | "));
        }
        s.push('\n');
    }
    if !r.provenance.is_empty() {
        s.push_str("## Provenance\n\n");
    }
    for p in &r.provenance {
        let _ = writeln!(
            s,
            "- `{}` ({}): {}, {}, {} repeats, {} samples, {} errors{}",
            p.run_id,
            p.task,
            p.engine,
            p.hardware,
            p.repeats,
            p.samples,
            p.errors,
            if p.partial { ", PARTIAL" } else { "" }
        );
        for e in &p.energy {
            let _ =
                writeln!(
                s,
                "  - energy {}{}: domains {}, window {:.1} s, idle {} W over {} s, attribution {}",
                e.source,
                if e.is_estimate { " (an estimate, not a measurement)" } else { "" },
                e.domains.join("+"),
                e.window_s,
                opt(e.idle_w, 2),
                opt(e.idle_window_s, 1),
                e.attribution
            );
        }
    }
    s
}
