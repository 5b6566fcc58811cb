//! `trilemma judge`: a judge model scores a run's responses on a rubric (seed 004). The
//! judging is `trilemma_judge::JudgeJob`'s; this file turns the flags into its config,
//! shows its progress and prints the summary.

use std::path::PathBuf;

use clap::Args;
use trilemma_engine::Engine;
use trilemma_judge::{JudgeConfig, JudgeEvent, JudgeJob};
use trilemma_runner::Progress;

use crate::output;

#[derive(Debug, Clone, Args)]
pub struct JudgeArgs {
    /// The run directory whose responses are judged (first repeat of each sample).
    #[arg(long)]
    pub run: PathBuf,
    /// Judge model: a catalog name or a path to a GGUF file.
    #[arg(
        long = "model",
        short = 'm',
        visible_alias = "judge-model",
        value_name = "MODEL"
    )]
    pub judge_model: String,
    /// Rubric file (TOML), or a custom task file whose `[judge]` table holds the rubric;
    /// default: the shipped seed-004 3-level rubric
    /// (crates/judge/rubrics/seed-004.toml).
    #[arg(long)]
    pub rubric: Option<PathBuf>,
    /// Where the judgements go; default RUN/judgements.jsonl. Re-running resumes it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Judge only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Responses judged together in one engine call.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    args: &JudgeArgs,
    open_engine: impl Fn(&str) -> anyhow::Result<Box<dyn Engine>>,
) -> anyhow::Result<()> {
    crate::preflight::models(&[&args.judge_model])?;
    if !args.run.is_dir() {
        anyhow::bail!("--run {}: no such run directory", args.run.display());
    }
    let job = JudgeJob::prepare(JudgeConfig {
        run: args.run.clone(),
        rubric: args.rubric.clone(),
        out: args.out.clone(),
        limit: args.limit,
        batch_size: args.batch_size,
        command: std::env::args().collect(),
        cache: trilemma_assets::Cache::from_env(),
    })?;
    if let Some(why) = &job.inputs_unavailable {
        eprintln!("warning: {why}; the judge sees responses without their questions");
    }
    if job.unscored > 0 {
        eprintln!(
            "{} samples with an error outcome have no response and are not judged",
            job.unscored
        );
    }

    let mut engine = open_engine(&args.judge_model)?;
    let mut progress: Option<output::ProgressBar> = None;
    let report = job.run(engine.as_mut(), |event| match event {
        JudgeEvent::Resumed { already, path } => {
            eprintln!(
                "resuming: {already} judgements already in {}",
                path.display()
            );
        }
        JudgeEvent::Started {
            judge,
            total,
            already,
        } => {
            let mut bar = output::ProgressBar::new(&format!("judge {judge}"));
            bar.start(total, already);
            progress = Some(bar);
        }
        JudgeEvent::Judged { done } => {
            if let Some(bar) = &mut progress {
                bar.advance(done);
            }
        }
    })?;
    if let Some(mut bar) = progress {
        bar.finish();
    }

    let summary = &report.summary.summary;
    if args.json {
        println!("{}", serde_json::to_string_pretty(summary)?);
        return Ok(());
    }
    match &summary.score {
        Some(e) => println!(
            "judge score {:.4} (95% CI {:.4}–{:.4}, stderr {:.4}; mean over {} judged responses, \
             {} errors excluded; CI: percentile bootstrap, 1,000 resamples, fixed seed)",
            e.value, e.ci_low, e.ci_high, e.stderr, e.n, summary.errors
        ),
        None => println!(
            "no judgement had a verdict ({} errors): the judge's outputs named no level of rubric {:?}",
            summary.errors, report.summary.rubric
        ),
    }
    println!(
        "verdicts: {}",
        summary
            .counts
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "judge {} with rubric {:?}; raw outputs in {}; summary in {}",
        report.summary.judge,
        report.summary.rubric,
        report.summary.judgements.display(),
        report.summary_path.display()
    );
    Ok(())
}
