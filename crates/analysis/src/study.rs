//! A study's tables: the rows and columns of a seed's own tables, filled with what was
//! measured here, each column with a note on how it was measured and how that differs
//! from the paper.
//!
//! The builders read a [`Report`](crate::report::Report) (runs already grouped by task and
//! hardware, PER and frontiers computed) and, for significance tests, the runs' per-item
//! scores. [`per`] is seed 001, [`slm_bench`] seed 000, [`slim_eval`] seed 003.

mod per;
mod render;
mod slim_eval;
mod slm_bench;

use std::collections::BTreeMap;

use serde::Serialize;

pub use per::{per_tables, published_per, PUBLISHED_INCONSISTENT};
pub use render::{to_html, to_markdown};
pub use slim_eval::slim_eval_tables;
pub use slm_bench::slm_bench_tables;

/// One cell: a figure, a text, or a figure that could not be filled and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Cell {
    Text { text: String },
    Number { value: f64, digits: usize },
    Missing { why: String },
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Self {
        Self::Text { text: s.into() }
    }

    pub fn num(value: f64, digits: usize) -> Self {
        if value.is_finite() {
            Self::Number { value, digits }
        } else {
            Self::missing(format!("not a finite number ({value})"))
        }
    }

    pub fn missing(why: impl Into<String>) -> Self {
        Self::Missing { why: why.into() }
    }

    /// `value` when there is one, else missing with `why`.
    pub fn opt(value: Option<f64>, digits: usize, why: &str) -> Self {
        value.map_or_else(|| Self::missing(why), |v| Self::num(v, digits))
    }

    /// The cell as a table shows it.
    pub fn show(&self) -> String {
        match self {
            Self::Text { text } => text.clone(),
            Self::Number { value, digits } => {
                if *value != 0.0 && value.abs() < 10f64.powi(-(*digits as i32)) {
                    format!("{value:.2e}")
                } else {
                    format!("{value:.digits$}")
                }
            }
            Self::Missing { why } => format!("– ({why})"),
        }
    }
}

/// One column: a stable key (the preset's notes are keyed by it), its heading, how it was
/// measured here, and how that differs from the paper.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub key: String,
    pub heading: String,
    pub how: String,
    /// Filled from the study preset's notes (empty when the preset has none).
    pub differs: String,
}

impl Column {
    pub fn new(key: &str, heading: &str, how: &str) -> Self {
        Self {
            key: key.into(),
            heading: heading.into(),
            how: how.into(),
            differs: String::new(),
        }
    }
}

/// One of a seed's tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyTable {
    /// Stable id (`per-arc-easy`, `medals`, `table3`...).
    pub id: String,
    pub title: String,
    pub caption: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

impl StudyTable {
    /// The table's shape without its contents: id, headings, row count, and per row which
    /// cells are texts (`t`) and which figures (`#`: a figure, or why there is none; a
    /// meter may read on one machine and not on another). Snapshot tests hold it.
    pub fn shape(&self) -> String {
        let mut s = format!(
            "[{}] {} rows\n  {}\n",
            self.id,
            self.rows.len(),
            self.columns
                .iter()
                .map(|c| c.heading.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        );
        for r in &self.rows {
            let cells: Vec<&str> = r
                .iter()
                .map(|c| match c {
                    Cell::Text { .. } => "t",
                    Cell::Number { .. } | Cell::Missing { .. } => "#",
                })
                .collect();
            s.push_str(&format!("  {}\n", cells.join(" ")));
        }
        s
    }
}

/// A paper's item the catalog cannot reproduce (a task or data set), and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Uncovered {
    pub paper: String,
    pub why: String,
}

/// A study's report: what was run, and the seed's tables.
#[derive(Debug, Clone, Serialize)]
pub struct StudyReport {
    pub study: String,
    pub seed: String,
    pub title: String,
    pub protocol: String,
    pub budget: String,
    pub hardware: Vec<String>,
    pub tables: Vec<StudyTable>,
    pub uncovered: Vec<Uncovered>,
    /// Notes on how this run differs from the protocol (items, models, meters).
    pub notes: Vec<String>,
}

impl StudyReport {
    /// Fills every column's `differs` from `notes` (keyed by column key); returns the keys
    /// of columns that have no note.
    pub fn attach_notes(&mut self, notes: &BTreeMap<String, String>) -> Vec<String> {
        let mut missing = Vec::new();
        for t in &mut self.tables {
            for c in &mut t.columns {
                match notes.get(&c.key) {
                    Some(n) => c.differs = n.clone(),
                    None => {
                        if !missing.contains(&c.key) {
                            missing.push(c.key.clone());
                        }
                    }
                }
            }
        }
        missing
    }

    /// Every table's [`StudyTable::shape`], one after another.
    pub fn shape(&self) -> String {
        self.tables
            .iter()
            .map(StudyTable::shape)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_show_figures_and_why_not() {
        assert_eq!(Cell::num(0.12345, 3).show(), "0.123");
        assert_eq!(Cell::num(0.00001234, 3).show(), "1.23e-5");
        assert_eq!(Cell::num(0.0, 3).show(), "0.000");
        assert_eq!(Cell::opt(None, 2, "no meter").show(), "– (no meter)");
        assert!(matches!(Cell::num(f64::NAN, 2), Cell::Missing { .. }));
    }
}
