//! Seed 001's tables: PER per model and task (its Tables 1 and 2), the rank of each model
//! per task, and the published PER beside the one its own inputs give.

use std::path::Path;

use super::{Cell, Column, StudyTable};
use crate::report::Report;
use crate::score::ranks;
use crate::table::Table;
use crate::Result;

/// The seed's transcribed tables (task as the paper names it, file, CSV text).
const PUBLISHED: [(&str, &str, &str); 5] = [
    (
        "GSM8K (Table 1)",
        "seed001_gsm8k.csv",
        include_str!("../../tests/data/seed001_gsm8k.csv"),
    ),
    (
        "SQuAD 2.0 (Table 1)",
        "seed001_squad2.csv",
        include_str!("../../tests/data/seed001_squad2.csv"),
    ),
    (
        "HellaSwag (Table 2)",
        "seed001_hellaswag.csv",
        include_str!("../../tests/data/seed001_hellaswag.csv"),
    ),
    (
        "IMDB (Table 2)",
        "seed001_imdb.csv",
        include_str!("../../tests/data/seed001_imdb.csv"),
    ),
    (
        "ARC-Easy (Table 2)",
        "seed001_arc_easy.csv",
        include_str!("../../tests/data/seed001_arc_easy.csv"),
    ),
];

/// Published rows whose PER does not follow from the paper's own inputs: (file, model,
/// why). The rest agree within 0.02, what rounding the published inputs leaves.
pub const PUBLISHED_INCONSISTENT: [(&str, &str, &str); 5] = [
    (
        "seed001_gsm8k.csv",
        "Mistral-7B",
        "neither worst nor best on any input, so PER cannot be as low as published",
    ),
    (
        "seed001_squad2.csv",
        "Qwen2.5-32B",
        "published as 0 but worst on no input",
    ),
    (
        "seed001_squad2.csv",
        "Llama-3.1-70B",
        "lowest throughput (tied), so the formula gives 0",
    ),
    (
        "seed001_hellaswag.csv",
        "Gemma-2-2B",
        "the inputs give 0.5595 against the published 0.53",
    ),
    (
        "seed001_arc_easy.csv",
        "Vicuna-13B",
        "lowest throughput (tied), so the formula gives 0",
    ),
];

/// Per task run here: Table 1/2's columns (model, accuracy, throughput, latency, memory,
/// PER) over this study's models; then the rank of each model by PER per task.
pub fn per_tables(report: &Report) -> Result<Vec<StudyTable>> {
    let mut out = Vec::new();
    let mut models: Vec<String> = Vec::new();
    for g in &report.groups {
        for r in &g.rows {
            if !models.contains(&r.label) {
                models.push(r.label.clone());
            }
        }
    }
    let mut rank_cols = vec![Column::new("model", "model", "the model file run")];
    let mut rank_cells: Vec<Vec<Option<usize>>> = vec![Vec::new(); models.len()];
    for g in &report.groups {
        let token = g.level == "token";
        let (thr_unit, lat_unit) = if token {
            ("output tokens/s", "ms/output token")
        } else {
            ("samples/s", "ms/sample")
        };
        let columns = vec![
            Column::new("model", "model", "the model file run"),
            Column::new(
                "accuracy",
                &format!("accuracy ({})", g.primary_metric),
                "the task's primary metric over the items run",
            ),
            Column::new(
                "throughput",
                &format!("throughput ({thr_unit})"),
                "completed work over the busy time of the run",
            ),
            Column::new(
                "latency",
                &format!("latency ({lat_unit})"),
                "mean per output token for generation, per sample otherwise",
            ),
            Column::new(
                "memory",
                "memory (MiB)",
                "peak resident memory of the process (GPU memory where a GPU ran)",
            ),
            Column::new(
                "per",
                "PER",
                "fourth root of the product of min-max normalised accuracy, throughput, latency and memory over this table's rows",
            ),
        ];
        let rows = g
            .rows
            .iter()
            .map(|r| {
                vec![
                    Cell::text(&r.label),
                    Cell::num(r.accuracy, 4),
                    Cell::num(r.per_throughput, 2),
                    Cell::num(r.per_latency_ms, 2),
                    Cell::opt(r.memory_mb, 1, "no memory reading"),
                    Cell::opt(r.per, 4, "PER needs every row's memory"),
                ]
            })
            .collect();
        out.push(StudyTable {
            id: format!("per-{}", g.task),
            title: format!("PER on {} ({})", g.task, g.hardware),
            caption: format!(
                "{} {}-level, as seed 001 Tables 1 and 2.",
                g.per_note, g.level
            ),
            columns,
            rows,
        });
        rank_cols.push(Column::new(
            "rank",
            &format!("rank on {}", g.task),
            "rank by PER among this study's models (1 = best, ties share)",
        ));
        let pers: Vec<Option<f64>> = g.rows.iter().map(|r| r.per).collect();
        let rk: Option<Vec<usize>> = pers
            .iter()
            .copied()
            .collect::<Option<Vec<f64>>>()
            .map(|p| ranks(&p));
        for (mi, m) in models.iter().enumerate() {
            let pos = g.rows.iter().position(|r| &r.label == m);
            rank_cells[mi].push(match (pos, &rk) {
                (Some(i), Some(rk)) => Some(rk[i]),
                _ => None,
            });
        }
    }
    rank_cols.push(Column::new(
        "mean_rank",
        "mean rank",
        "mean of the ranks over the tasks the model ran",
    ));
    let rank_rows = models
        .iter()
        .zip(&rank_cells)
        .map(|(m, cells)| {
            let mut row = vec![Cell::text(m)];
            row.extend(cells.iter().map(|c| match c {
                Some(r) => Cell::num(*r as f64, 0),
                None => Cell::missing("not run, or no PER"),
            }));
            let got: Vec<f64> = cells.iter().flatten().map(|r| *r as f64).collect();
            row.push(if got.is_empty() {
                Cell::missing("no rank")
            } else {
                Cell::num(got.iter().sum::<f64>() / got.len() as f64, 2)
            });
            row
        })
        .collect();
    out.push(StudyTable {
        id: "per-ranks".into(),
        title: "Rank by PER per task".into(),
        caption: "Each task's PER is normalised over its own rows only; a rank compares models within one task.".into(),
        columns: rank_cols,
        rows: rank_rows,
    });
    Ok(out)
}

/// The seed's published PER beside the PER its own published inputs give, per row of its
/// Tables 1 and 2; the rows where the two disagree are named.
pub fn published_per() -> Result<StudyTable> {
    let mut rows = Vec::new();
    for (task, file, text) in PUBLISHED {
        let t = Table::parse(Path::new(file), text)?;
        let published = t.column("published_per")?;
        let scored = t.per()?;
        for (s, p) in scored.iter().zip(published) {
            let got = s.per.unwrap_or(f64::NAN);
            let note = PUBLISHED_INCONSISTENT
                .iter()
                .find(|(f, m, _)| *f == file && *m == s.name)
                .map_or_else(
                    || {
                        if (got - p).abs() <= 0.02 {
                            "agrees (within input rounding)".to_string()
                        } else {
                            "differs".to_string()
                        }
                    },
                    |(_, _, why)| format!("inconsistent: {why}"),
                );
            rows.push(vec![
                Cell::text(task),
                Cell::text(&s.name),
                Cell::num(p, 4),
                Cell::num(got, 4),
                Cell::text(note),
            ]);
        }
    }
    Ok(StudyTable {
        id: "per-published".into(),
        title: "Seed 001's published PER against the PER of its published inputs".into(),
        caption: "Recomputed with the same formula as the tables above, from the paper's accuracy, throughput, latency and memory columns.".into(),
        columns: vec![
            Column::new("paper_task", "task", "the paper's task and table"),
            Column::new("paper_model", "model", "the paper's model"),
            Column::new("published_per", "published PER", "as printed in the paper"),
            Column::new(
                "recomputed_per",
                "recomputed PER",
                "PER of the paper's own inputs over the paper's 16 models",
            ),
            Column::new("check", "check", "agreement of the two"),
        ],
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_table_names_mistral_on_gsm8k() {
        let t = published_per().unwrap();
        assert_eq!(t.rows.len(), 80);
        let mistral = t
            .rows
            .iter()
            .find(|r| r[0] == Cell::text("GSM8K (Table 1)") && r[1] == Cell::text("Mistral-7B"))
            .unwrap();
        assert_eq!(mistral[2], Cell::num(0.2837, 4));
        match &mistral[3] {
            Cell::Number { value, .. } => assert!((value - 0.5138).abs() < 1e-3),
            c => panic!("{c:?}"),
        }
        assert!(mistral[4].show().starts_with("inconsistent"));
        let inconsistent = t
            .rows
            .iter()
            .filter(|r| r[4].show().starts_with("inconsistent"))
            .count();
        assert_eq!(inconsistent, 5);
        assert!(t.rows.iter().all(|r| r[4].show() != "differs"));
    }
}
