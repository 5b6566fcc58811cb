//! Plain tables (`name,accuracy,throughput,latency,memory[,energy,...]`) so published
//! results can be re-analysed with the same functions as stored runs.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::pareto::non_dominated;
use crate::score::{self, Direction, OmWeights};
use crate::{Error, Result};

/// The columns every table must have.
pub const REQUIRED: [&str; 5] = ["name", "accuracy", "throughput", "latency", "memory"];

/// A parsed table: names and numeric columns, in file order. Lines starting with `#` are
/// comments.
#[derive(Debug, Clone)]
pub struct Table {
    pub path: PathBuf,
    pub names: Vec<String>,
    pub columns: Vec<String>,
    /// `values[row][col]`, `None` where the cell is empty.
    pub values: Vec<Vec<Option<f64>>>,
    /// 1-based file line of each row (for error messages).
    lines: Vec<u64>,
}

/// One row's score, as `analyze --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub om: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pareto: Option<bool>,
}

impl Table {
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses CSV text; `path` only names the source in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let mut rdr = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let csv_err = |e: csv::Error| Error::Csv {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            reason: e.to_string(),
        };
        let header: Vec<String> = rdr
            .headers()
            .map_err(csv_err)?
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        for col in REQUIRED {
            if !header.iter().any(|h| h == col) {
                return Err(Error::MissingColumn {
                    path: path.to_path_buf(),
                    column: col.to_string(),
                    header: header.join(","),
                });
            }
        }
        let name_col = header.iter().position(|h| h == "name").unwrap_or(0);
        let columns: Vec<String> = header
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != name_col)
            .map(|(_, h)| h.clone())
            .collect();
        let mut names = Vec::new();
        let mut values = Vec::new();
        let mut lines = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(csv_err)?;
            let line = rec.position().map_or(0, |p| p.line());
            let mut row = Vec::with_capacity(columns.len());
            for (i, h) in header.iter().enumerate() {
                let cell = rec.get(i).unwrap_or("");
                if i == name_col {
                    continue;
                }
                if cell.is_empty() {
                    row.push(None);
                } else {
                    let v: f64 = cell.parse().map_err(|_| Error::NotANumber {
                        path: path.to_path_buf(),
                        line,
                        column: h.clone(),
                        value: cell.to_string(),
                    })?;
                    row.push(Some(v));
                }
            }
            names.push(rec.get(name_col).unwrap_or("").to_string());
            values.push(row);
            lines.push(line);
        }
        if names.is_empty() {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                line: 1,
                reason: "no data rows".into(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            names,
            columns,
            values,
            lines,
        })
    }

    /// A numeric column with a value in every row.
    pub fn column(&self, name: &str) -> Result<Vec<f64>> {
        let Some(c) = self.columns.iter().position(|h| h == name) else {
            return Err(Error::MissingColumn {
                path: self.path.clone(),
                column: name.to_string(),
                header: format!("name,{}", self.columns.join(",")),
            });
        };
        self.values
            .iter()
            .zip(&self.lines)
            .map(|(row, line)| {
                row[c].ok_or_else(|| Error::Csv {
                    path: self.path.clone(),
                    line: *line,
                    reason: format!("column `{name}` is empty"),
                })
            })
            .collect()
    }

    /// PER of every row (the table is one compared set).
    pub fn per(&self) -> Result<Vec<Scored>> {
        let per = score::per(
            &self.column("accuracy")?,
            &self.column("throughput")?,
            &self.column("latency")?,
            &self.column("memory")?,
        )?;
        Ok(self.scored(|i| Scored {
            per: Some(per[i]),
            ..self.blank(i)
        }))
    }

    /// OM of every row against the row named `reference` (needs an `energy` column).
    pub fn om(&self, reference: &str, w: OmWeights) -> Result<Vec<Scored>> {
        let r = self
            .names
            .iter()
            .position(|n| n == reference)
            .ok_or_else(|| Error::UnknownReference(reference.to_string()))?;
        let om = score::om(
            &self.column("accuracy")?,
            &self.column("latency")?,
            &self.column("energy")?,
            r,
            w,
        )?;
        Ok(self.scored(|i| Scored {
            om: Some(om[i]),
            ..self.blank(i)
        }))
    }

    /// Membership of the non-dominated set over accuracy, throughput, latency, memory and,
    /// when the table has it, energy.
    pub fn pareto(&self) -> Result<Vec<Scored>> {
        let mut axes = vec![
            (self.column("accuracy")?, Direction::HigherIsBetter),
            (self.column("throughput")?, Direction::HigherIsBetter),
            (self.column("latency")?, Direction::LowerIsBetter),
            (self.column("memory")?, Direction::LowerIsBetter),
        ];
        if self.columns.iter().any(|c| c == "energy") {
            axes.push((self.column("energy")?, Direction::LowerIsBetter));
        }
        let points: Vec<Vec<f64>> = (0..self.names.len())
            .map(|i| axes.iter().map(|(col, _)| col[i]).collect())
            .collect();
        let dirs: Vec<Direction> = axes.iter().map(|(_, d)| *d).collect();
        let front = non_dominated(&points, &dirs)?;
        Ok(self.scored(|i| Scored {
            pareto: Some(front[i]),
            ..self.blank(i)
        }))
    }

    fn blank(&self, i: usize) -> Scored {
        Scored {
            name: self.names[i].clone(),
            per: None,
            om: None,
            pareto: None,
        }
    }

    fn scored(&self, f: impl Fn(usize) -> Scored) -> Vec<Scored> {
        (0..self.names.len()).map(f).collect()
    }
}
