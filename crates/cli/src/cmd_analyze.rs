//! `trilemma analyze per|om|pareto --input table.csv`: the report's scores on a plain table.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use trilemma_analysis::table::Scored;
use trilemma_analysis::{OmWeights, Table};

#[derive(Debug, Args)]
pub struct TableArgs {
    /// CSV with a header of at least name,accuracy,throughput,latency,memory (throughput
    /// higher is better; latency and memory lower is better; optional energy, params, ...).
    #[arg(long)]
    pub input: PathBuf,
    /// Print a JSON list of {name, score} objects instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AnalyzeCommand {
    /// Performance-Efficiency Ratio (seed 001): the table is one compared set.
    Per(TableArgs),
    /// Overall Metric (seed 004) against a reference row; needs an `energy` column.
    Om {
        #[command(flatten)]
        table: TableArgs,
        /// Name of the reference row.
        #[arg(long)]
        reference: String,
        /// Weights for quality, latency and energy, summing to 1 (e.g. 0.5,0.25,0.25).
        #[arg(long, value_delimiter = ',', required = true)]
        weights: Vec<f64>,
    },
    /// Membership of the non-dominated set over every metric column.
    Pareto(TableArgs),
}

fn print(rows: &[Scored], json: bool, what: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(rows)?)?;
        return Ok(());
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    writeln!(out, "{:width$}  {what}", "name")?;
    for r in rows {
        let value = match (r.per, r.om, r.pareto) {
            (Some(v), _, _) | (_, Some(v), _) => format!("{v:.4}"),
            (_, _, Some(p)) => (if p { "frontier" } else { "dominated" }).to_string(),
            _ => String::new(),
        };
        writeln!(out, "{:width$}  {value}", r.name)?;
    }
    Ok(())
}

pub fn run(cmd: &AnalyzeCommand) -> anyhow::Result<()> {
    match cmd {
        AnalyzeCommand::Per(a) => {
            let t = Table::from_path(&a.input)?;
            print(&t.per()?, a.json, "per")
        }
        AnalyzeCommand::Om {
            table,
            reference,
            weights,
        } => {
            let [q, l, e] = weights[..] else {
                anyhow::bail!(
                    "--weights needs three values q,l,e (quality, latency, energy), got {}",
                    weights.len()
                );
            };
            let w = OmWeights::new(q, l, e).context("--weights q,l,e")?;
            let t = Table::from_path(&table.input)?;
            let rows = t
                .om(reference, w)
                .with_context(|| format!("OM of {}", table.input.display()))?;
            print(&rows, table.json, "om")
        }
        AnalyzeCommand::Pareto(a) => {
            let t = Table::from_path(&a.input)?;
            print(&t.pareto()?, a.json, "pareto")
        }
    }
}
