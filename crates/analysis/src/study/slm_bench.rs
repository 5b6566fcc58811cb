//! Seed 000's (SLM-Bench's) tables: every metric family per model and task, and the
//! leaderboard of gold, silver and bronze medals counted per metric and task.

use super::{Cell, Column, StudyTable};
use crate::report::{Report, Row};
use crate::score::{medals, Direction, Medals};
use crate::Result;

/// The family a metric belongs to in SLM-Bench: correctness, computation, consumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Correctness,
    Computation,
    Consumption,
}

struct Metric {
    key: &'static str,
    family: Family,
    dir: Direction,
    value: fn(&Row) -> Option<f64>,
    why_missing: &'static str,
}

const METRICS: [Metric; 7] = [
    Metric {
        key: "accuracy",
        family: Family::Correctness,
        dir: Direction::HigherIsBetter,
        value: |r| Some(r.accuracy),
        why_missing: "",
    },
    Metric {
        key: "runtime",
        family: Family::Computation,
        dir: Direction::LowerIsBetter,
        value: |r| Some(r.latency_s),
        why_missing: "",
    },
    Metric {
        key: "flops",
        family: Family::Computation,
        dir: Direction::LowerIsBetter,
        value: |r| r.flops,
        why_missing: "parameter count unknown",
    },
    Metric {
        key: "memory",
        family: Family::Computation,
        dir: Direction::LowerIsBetter,
        value: |r| r.memory_mb,
        why_missing: "no memory reading",
    },
    Metric {
        key: "energy",
        family: Family::Consumption,
        dir: Direction::LowerIsBetter,
        value: |r| r.energy_j,
        why_missing: "no energy reading: the run was shorter than the meters need",
    },
    Metric {
        key: "co2",
        family: Family::Consumption,
        dir: Direction::LowerIsBetter,
        value: |r| r.co2_g.map(|g| g * 1e3),
        why_missing: "no energy reading: the run was shorter than the meters need",
    },
    Metric {
        key: "cost",
        family: Family::Consumption,
        dir: Direction::LowerIsBetter,
        value: |r| r.cost_usd.map(|c| c * 1e6),
        why_missing: "no energy reading: the run was shorter than the meters need",
    },
];

/// A model's study-wide tally: its medals, and its golds per family.
#[derive(Debug, Clone, Default)]
struct Tally {
    medals: Medals,
    family_gold: [usize; 3],
}

/// Per task: the model's figures on every metric family and its medals there; then the
/// leaderboard over all tasks and metrics (olympic order: golds, then silvers, bronzes).
pub fn slm_bench_tables(report: &Report) -> Result<Vec<StudyTable>> {
    let mut out = Vec::new();
    let mut board: Vec<(String, Tally)> = Vec::new();
    for g in &report.groups {
        let mut columns = vec![Column::new("model", "model", "the model file run")];
        let heads = [
            (
                format!("{} ↑", g.primary_metric),
                "the task's primary metric over the items run",
            ),
            (
                "runtime s/item ↓".to_string(),
                "mean end-to-end latency per item (prompt, scoring or generation)",
            ),
            (
                "FLOPs/item ↓".to_string(),
                "estimated: 2 x parameters x tokens processed, per item",
            ),
            (
                "memory MiB ↓".to_string(),
                "peak resident memory of the process",
            ),
            (
                "energy J/item ↓".to_string(),
                "idle-subtracted energy per item from the preferred source (a meter over the CPU estimate)",
            ),
            (
                "CO2 mg/item ↓".to_string(),
                "energy per item x the grid's carbon intensity (--grid)",
            ),
            (
                "cost µUSD/item ↓".to_string(),
                "energy per item x the electricity price (--price)",
            ),
        ];
        for (m, (h, how)) in METRICS.iter().zip(&heads) {
            columns.push(Column::new(m.key, h, how));
        }
        columns.push(Column::new(
            "medals",
            "medals g/s/b",
            "gold, silver and bronze on this task's metrics: first, second and third place (ties share a place)",
        ));
        // Medals over the metrics every row has; the others are named in the caption.
        let mut axes: Vec<(Vec<f64>, Direction, Family)> = Vec::new();
        let mut skipped = Vec::new();
        for m in &METRICS {
            match g.rows.iter().map(m.value).collect::<Option<Vec<f64>>>() {
                Some(v) => axes.push((v, m.dir, m.family)),
                None => skipped.push(format!("{} ({})", m.key, m.why_missing)),
            }
        }
        let medal_axes: Vec<(&[f64], Direction)> =
            axes.iter().map(|(v, d, _)| (v.as_slice(), *d)).collect();
        let per_row = medals(&medal_axes)?;
        for (i, r) in g.rows.iter().enumerate() {
            let slot = match board.iter().position(|(n, _)| *n == r.label) {
                Some(p) => p,
                None => {
                    board.push((r.label.clone(), Tally::default()));
                    board.len() - 1
                }
            };
            let tally = &mut board[slot].1;
            tally.medals.add(per_row[i]);
            for (v, d, fam) in &axes {
                if !v.iter().any(|o| d.better(*o, v[i])) {
                    tally.family_gold[*fam as usize] += 1;
                }
            }
        }
        let rows = g
            .rows
            .iter()
            .zip(&per_row)
            .map(|(r, m)| {
                let mut row = vec![Cell::text(&r.label)];
                for (k, metric) in METRICS.iter().enumerate() {
                    let digits = match k {
                        0 => 4,
                        2 => 0,
                        _ => 3,
                    };
                    row.push(Cell::opt((metric.value)(r), digits, metric.why_missing));
                }
                row.push(Cell::text(m.label()));
                row
            })
            .collect();
        let caption = if skipped.is_empty() {
            "Medals over all seven metrics.".to_string()
        } else {
            format!(
                "Medals over the metrics every model has; left out: {}.",
                skipped.join(", ")
            )
        };
        out.push(StudyTable {
            id: format!("slm-bench-{}", g.task),
            title: format!("{} on {}", g.task, g.hardware),
            caption,
            columns,
            rows,
        });
    }
    board.sort_by(|a, b| a.1.medals.olympic_cmp(&b.1.medals).then(a.0.cmp(&b.0)));
    let rows = board
        .iter()
        .enumerate()
        .map(|(i, (name, t))| {
            vec![
                Cell::num((i + 1) as f64, 0),
                Cell::text(name),
                Cell::num(t.medals.gold as f64, 0),
                Cell::num(t.medals.silver as f64, 0),
                Cell::num(t.medals.bronze as f64, 0),
                Cell::num(t.medals.total() as f64, 0),
                Cell::num(t.family_gold[Family::Correctness as usize] as f64, 0),
                Cell::num(t.family_gold[Family::Computation as usize] as f64, 0),
                Cell::num(t.family_gold[Family::Consumption as usize] as f64, 0),
            ]
        })
        .collect();
    out.insert(
        0,
        StudyTable {
            id: "medals".into(),
            title: "Leaderboard: medals per model over every task and metric".into(),
            caption: "Each (task, metric) awards gold, silver and bronze to its first three places; a model's medals are summed over tasks and metrics, as SLM-Bench counts them. Sorted by golds, then silvers, then bronzes.".into(),
            columns: vec![
                Column::new("place", "#", "order on the leaderboard"),
                Column::new("model", "model", "the model file run"),
                Column::new("gold", "gold", "first places over tasks x metrics"),
                Column::new("silver", "silver", "second places over tasks x metrics"),
                Column::new("bronze", "bronze", "third places over tasks x metrics"),
                Column::new("total", "total", "gold + silver + bronze"),
                Column::new(
                    "gold_correctness",
                    "gold: correctness",
                    "golds on the task's primary metric",
                ),
                Column::new(
                    "gold_computation",
                    "gold: computation",
                    "golds on runtime, FLOPs and memory",
                ),
                Column::new(
                    "gold_consumption",
                    "gold: consumption",
                    "golds on energy, CO2 and cost",
                ),
            ],
            rows,
        },
    );
    Ok(out)
}
