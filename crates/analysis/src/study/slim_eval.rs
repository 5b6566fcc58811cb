//! Seed 003's (SLiM-Eval's) tables: each model at each precision (Table II), the deltas
//! against the model's highest precision (Table III), and the recommendation per
//! deployment objective with its significance (Table IV).

use std::collections::BTreeMap;

use super::{Cell, Column, StudyTable};
use crate::quant::{self, precision_bits, Variant};
use crate::recommend::{recommend, Candidate, Objective};
use crate::report::{Report, RunEntry};
use crate::Result;

/// One (model, precision) over every task it ran.
struct Measured {
    model: String,
    precision: String,
    derived_from: Option<String>,
    accuracy: BTreeMap<String, f64>,
    latency_s: Vec<f64>,
    throughput: Vec<f64>,
    memory_mb: Option<f64>,
    energy_j: Option<Vec<f64>>,
    /// Per-item scores keyed `task/sample`.
    items: BTreeMap<String, f64>,
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

fn collect(report: &Report, runs: &[RunEntry]) -> Vec<Measured> {
    let mut out: Vec<Measured> = Vec::new();
    for g in &report.groups {
        for r in &g.rows {
            let precision = r.quantization.clone().unwrap_or_else(|| "unknown".into());
            let i = match out
                .iter()
                .position(|m| m.model == r.model && m.precision == precision)
            {
                Some(i) => i,
                None => {
                    out.push(Measured {
                        model: r.model.clone(),
                        precision: precision.clone(),
                        derived_from: r.derived_from.clone(),
                        accuracy: BTreeMap::new(),
                        latency_s: Vec::new(),
                        throughput: Vec::new(),
                        memory_mb: Some(0.0),
                        energy_j: Some(Vec::new()),
                        items: BTreeMap::new(),
                    });
                    out.len() - 1
                }
            };
            let m = &mut out[i];
            m.accuracy.insert(g.task.clone(), r.accuracy);
            m.latency_s.push(r.latency_s);
            m.throughput.push(r.per_throughput);
            m.memory_mb = match (m.memory_mb, r.memory_mb) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            match (&mut m.energy_j, r.energy_j) {
                (Some(v), Some(e)) => v.push(e),
                (slot, _) => *slot = None,
            }
            if let Some(run) = runs.iter().find(|run| run.dir == r.dir) {
                for (k, v) in &run.item_scores {
                    m.items.insert(format!("{}/{k}", g.task), *v);
                }
            }
        }
    }
    out
}

fn precision_label(m: &Measured) -> String {
    match &m.derived_from {
        Some(src) => format!("{} (derived from {src})", m.precision),
        None => format!("{} (as published)", m.precision),
    }
}

/// Tables II, III and IV over the runs of a sweep of models x precisions x tasks.
pub fn slim_eval_tables(report: &Report, runs: &[RunEntry]) -> Result<Vec<StudyTable>> {
    let measured = collect(report, runs);
    let tasks: Vec<String> = report.groups.iter().map(|g| g.task.clone()).collect();
    let mut out = Vec::new();

    // Table II: absolute figures per variant.
    let mut cols = vec![
        Column::new("model", "model", "the source model"),
        Column::new(
            "precision",
            "precision",
            "the file's type; a derived variant names the precision it was quantized from",
        ),
    ];
    for t in &tasks {
        cols.push(Column::new(
            "accuracy",
            &format!("{t} ↑"),
            "the task's primary metric over the items run",
        ));
    }
    cols.extend([
        Column::new(
            "latency",
            "latency ms/item ↓",
            "mean end-to-end latency per item, averaged over the tasks",
        ),
        Column::new(
            "throughput",
            "throughput ↑",
            "samples/s (or output tokens/s for generation), averaged over the tasks",
        ),
        Column::new(
            "memory",
            "peak memory MiB ↓",
            "the highest peak resident memory over the tasks",
        ),
        Column::new(
            "energy",
            "energy J/item ↓",
            "idle-subtracted energy per item from the preferred source, averaged over the tasks",
        ),
    ]);
    let rows = measured
        .iter()
        .map(|m| {
            let mut row = vec![Cell::text(&m.model), Cell::text(precision_label(m))];
            for t in &tasks {
                row.push(Cell::opt(
                    m.accuracy.get(t).copied(),
                    4,
                    "not run on this task",
                ));
            }
            row.push(Cell::num(mean(&m.latency_s) * 1000.0, 1));
            row.push(Cell::num(mean(&m.throughput), 2));
            row.push(Cell::opt(m.memory_mb, 1, "no memory reading"));
            row.push(Cell::opt(
                m.energy_j.as_deref().map(mean),
                3,
                "no energy reading: the run was shorter than the meters need",
            ));
            row
        })
        .collect();
    out.push(StudyTable {
        id: "table2".into(),
        title: "Table II: each model at each precision".into(),
        caption: "Absolute figures; accuracy per task, the rest averaged over the tasks.".into(),
        columns: cols,
        rows,
    });

    // Table III: deltas against the highest precision of the same model.
    let variants: Vec<Variant> = measured
        .iter()
        .filter(|m| precision_bits(&m.precision).is_some())
        .map(|m| Variant {
            model: m.model.clone(),
            source: m.model.clone(),
            precision: m.precision.clone(),
            derived_from: m.derived_from.clone(),
            latency: mean(&m.latency_s),
            memory: m.memory_mb.unwrap_or(0.0),
            energy: m.energy_j.as_deref().map(mean),
            accuracy: m.accuracy.clone(),
        })
        .collect();
    let deltas = quant::deltas(&variants)?;
    let mut cols = vec![
        Column::new("model", "model", "the source model"),
        Column::new("precision", "precision", "the variant compared"),
        Column::new(
            "baseline",
            "against",
            "the model's highest precision run here",
        ),
        Column::new(
            "speedup",
            "speed-up ×",
            "baseline latency / variant latency",
        ),
        Column::new(
            "memory_change",
            "memory saved %",
            "(baseline - variant) / baseline peak memory",
        ),
        Column::new(
            "energy_change",
            "energy saved %",
            "(baseline - variant) / baseline energy per item",
        ),
    ];
    for t in &tasks {
        cols.push(Column::new(
            "accuracy_change",
            &format!("{t} accuracy change %"),
            "(variant - baseline) / baseline accuracy; negative is a loss",
        ));
    }
    let rows: Vec<Vec<Cell>> = deltas
        .iter()
        .map(|d| {
            let mut row = vec![
                Cell::text(&d.model),
                Cell::text(&d.precision),
                Cell::text(&d.baseline),
                Cell::num(d.speedup, 2),
                Cell::num(d.memory_change_pct, 1),
                Cell::opt(d.energy_reduction_pct, 1, "no energy reading: the run was shorter than the meters need"),
            ];
            for t in &tasks {
                row.push(Cell::opt(
                    d.accuracy_drop_pct.get(t).copied(),
                    1,
                    "no relative change: the baseline scored 0, or one precision did not run this task",
                ));
            }
            row
        })
        .collect();
    let caption = if rows.is_empty() {
        "No model ran at two precisions: no deltas.".to_string()
    } else {
        "Relative changes against each model's highest precision, as seed 003 Table III."
            .to_string()
    };
    out.push(StudyTable {
        id: "table3".into(),
        title: "Table III: what quantization costs and saves".into(),
        caption,
        columns: cols,
        rows,
    });

    // Table IV: a recommendation per objective.
    let shared: Vec<&String> = measured
        .first()
        .map(|m| {
            m.items
                .keys()
                .filter(|k| measured.iter().all(|o| o.items.contains_key(*k)))
                .collect()
        })
        .unwrap_or_default();
    let name = |m: &Measured| format!("{} ({})", m.model, m.precision);
    let cands: Vec<Candidate> = measured
        .iter()
        .map(|m| Candidate {
            name: name(m),
            accuracy: mean(&m.accuracy.values().copied().collect::<Vec<_>>()),
            latency: mean(&m.latency_s),
            energy: m.energy_j.as_deref().map(mean),
            item_scores: (!shared.is_empty()).then(|| shared.iter().map(|k| m.items[*k]).collect()),
        })
        .collect();
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    if !cands.is_empty() {
        let recs = recommend(&cands)?;
        for r in &recs {
            rows.push(vec![
                Cell::text(r.objective.label()),
                Cell::text(&r.choice),
                r.runner_up
                    .as_deref()
                    .map_or_else(|| Cell::missing("one candidate"), Cell::text),
                Cell::opt(r.margin, 4, "one candidate"),
                Cell::text(&r.significance),
            ]);
        }
        // Energy-constrained and balanced need energy on every variant.
        for o in [Objective::EnergyConstrained, Objective::Balanced] {
            if !recs.iter().any(|r| r.objective == o) {
                let why =
                    "a variant has no energy reading (its run was shorter than the meters need)";
                let mut row = vec![Cell::text(o.label())];
                row.extend((0..4).map(|_| Cell::missing(why)));
                rows.push(row);
            }
        }
        // Memory-constrained: the lowest peak memory.
        let mem: Option<Vec<f64>> = measured.iter().map(|m| m.memory_mb).collect();
        match mem {
            Some(mem) => {
                let mut idx: Vec<usize> = (0..mem.len()).collect();
                idx.sort_by(|a, b| mem[*a].total_cmp(&mem[*b]));
                let second = idx.get(1).copied();
                rows.push(vec![
                    Cell::text("memory-constrained"),
                    Cell::text(name(&measured[idx[0]])),
                    second.map_or_else(
                        || Cell::missing("one candidate"),
                        |s| Cell::text(name(&measured[s])),
                    ),
                    second.map_or_else(
                        || Cell::missing("one candidate"),
                        |s| Cell::num(mem[s] - mem[idx[0]], 1),
                    ),
                    Cell::text("not tested (one peak reading per variant)"),
                ]);
            }
            None => rows.push(vec![
                Cell::text("memory-constrained"),
                Cell::missing("no memory reading"),
                Cell::missing("no memory reading"),
                Cell::missing("no memory reading"),
                Cell::missing("no memory reading"),
            ]),
        }
    }
    out.push(StudyTable {
        id: "table4".into(),
        title: "Table IV: the configuration per deployment objective".into(),
        caption: format!(
            "Accuracy is the mean over the tasks; the accuracy-critical choice is tested against its runner-up with a paired bootstrap over the {} items every variant scored.",
            shared.len()
        ),
        columns: vec![
            Column::new("objective", "objective", "what the deployment must favour"),
            Column::new("choice", "choice", "the best variant on that objective"),
            Column::new("runner_up", "runner-up", "the second best"),
            Column::new(
                "margin",
                "margin",
                "how far the choice beats the runner-up, in the objective's unit (accuracy, s, J, balanced score, MiB)",
            ),
            Column::new(
                "significance",
                "significance",
                "paired bootstrap over shared items where per-item scores exist",
            ),
        ],
        rows,
    });
    Ok(out)
}
