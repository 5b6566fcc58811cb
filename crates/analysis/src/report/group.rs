//! One group's comparison: rows, PER, frontiers, medals, recommendations, quantization
//! deltas and OM rankings, over runs of one task, hardware and setting.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use trilemma_core::{EnergySource, EnergySummary, RunSummary};

use super::identity::Identity;
use super::{Frontiers, Group, Ranking, Row, RunEntry};
use crate::pareto::{non_dominated, pareto_2d};
use crate::quant::{self, precision_bits, Variant};
use crate::recommend::{recommend, Candidate};
use crate::score::{self, medals, ranks, weight_grid, Direction};
use crate::{Error, Result};

fn preferred_energy(s: &RunSummary) -> Option<&EnergySummary> {
    s.energy
        .iter()
        .find(|e| e.source != EnergySource::Estimate)
        .or_else(|| s.energy.first())
}

const MB: f64 = 1024.0 * 1024.0;

const J_PER_KWH: f64 = 3.6e6;

fn row_of(run: &RunEntry, id: &Identity) -> Result<Row> {
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
        dir: run.dir.clone(),
        run_id: s.run_id.clone(),
        model: id.name.clone(),
        sha256: id.file.clone(),
        quantization: s.model.quantization.clone(),
        derived_from: run
            .manifest
            .as_ref()
            .and_then(|m| m.model.derived.as_ref())
            .map(|d| d.source_precision.clone()),
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
        co2_g: e.map(|e| e.per_sample_j / J_PER_KWH * e.grid_g_per_kwh),
        cost_usd: e.map(|e| e.per_sample_j / J_PER_KWH * e.price_usd_per_kwh),
        flops: s
            .flops_estimate
            .filter(|_| s.samples > 0)
            .map(|f| f / s.samples as f64),
        per: None,
        medals: crate::score::Medals::default(),
        frontiers: Frontiers::default(),
    })
}

fn all<T: Copy>(xs: impl Iterator<Item = Option<T>>) -> Option<Vec<T>> {
    xs.collect()
}

pub(super) fn build_group(members: &[(&RunEntry, &Identity)]) -> Result<Group> {
    let runs: Vec<&RunEntry> = members.iter().map(|(r, _)| *r).collect();
    let first = &runs[0].summary;
    let mut rows: Vec<Row> = members
        .iter()
        .map(|(r, id)| row_of(r, id))
        .collect::<Result<_>>()?;
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

    // The frontier of a cost (lower is better) against accuracy.
    let cost_frontier = |cost: &[f64]| {
        let pts: Vec<(f64, f64)> = cost.iter().copied().zip(acc.iter().copied()).collect();
        pareto_2d(&pts, Direction::LowerIsBetter, Direction::HigherIsBetter)
    };
    let f_la = cost_frontier(&lat)?;
    let f_ea = energy.as_deref().map(cost_frontier).transpose()?;
    let f_sa = size.as_deref().map(cost_frontier).transpose()?;
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
        .zip(&runs)
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

    // Variants of one lineage (one model's files: see `identity`) are compared at one
    // batch size and, when the runs differ in it, one thread count: a delta never mixes
    // models, batch sizes or thread counts.
    let mixed_threads = rows.iter().any(|r| r.threads != rows[0].threads);
    let variants: Vec<Variant> = rows
        .iter()
        .zip(members)
        .filter_map(|(r, (_, id))| {
            let q = r.quantization.clone()?;
            precision_bits(&q)?;
            let setting = match (mixed_threads, r.threads) {
                (true, Some(t)) => format!("b{} t{t}", r.batch_size),
                _ => format!("b{}", r.batch_size),
            };
            Some(Variant {
                model: format!("{} {setting}", r.model),
                source: format!("{} {setting}", id.lineage),
                precision: q,
                derived_from: r.derived_from.clone(),
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
