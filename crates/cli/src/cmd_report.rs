//! `trilemma report RUN_DIR_OR_SWEEP... [-o FILE] [--format html|json|csv|md]`.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use trilemma_analysis::report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Html,
    Json,
    Csv,
    Md,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directories (holding summary.json), sweep directories whose subdirectories are
    /// run directories, and load files (`trilemma load --out FILE`), whose points make
    /// the serving section and its energy-latency curve.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Write the report here (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Output format; HTML is one self-contained file.
    #[arg(long, value_enum, default_value = "html")]
    pub format: Format,
    /// The report as JSON (the same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let (files, dirs): (Vec<PathBuf>, Vec<PathBuf>) =
        args.runs.iter().cloned().partition(|p| p.is_file());
    let runs = if dirs.is_empty() {
        Vec::new()
    } else {
        report::load_runs(&dirs)?
    };
    let mut serving = Vec::new();
    for f in &files {
        serving.extend(trilemma_analysis::serving::load_serving(f)?);
    }
    let r = report::build_with_serving(&runs, serving)?;
    let format = if args.json { Format::Json } else { args.format };
    if let Some(out) = &args.output {
        crate::preflight::out_file(out, "--output")?;
    }
    let text = match format {
        Format::Html => report::to_html(&r),
        Format::Json => report::to_json(&r)?,
        Format::Csv => report::to_csv(&r)?,
        Format::Md => report::to_markdown(&r),
    };
    match &args.output {
        Some(path) => {
            trilemma_store::atomic::write_atomic(path, text.as_bytes())?;
            eprintln!(
                "report of {} run(s) in {} group(s) written to {}",
                runs.len(),
                r.groups.len(),
                path.display()
            );
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(())
}
