//! `trilemma judge`: a judge model scores a run's responses on a rubric (seed 004).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use trilemma_engine::Engine;
use trilemma_judge::{judge_items, summarize, JudgeItem, JudgementStore, Rubric, JUDGEMENTS};
use trilemma_runner::Progress;

use crate::cmd_compare::read_run_records;
use crate::output;

#[derive(Debug, Clone, Args)]
pub struct JudgeArgs {
    /// The run directory whose responses are judged (first repeat of each sample).
    #[arg(long)]
    pub run: PathBuf,
    /// Judge model: a catalog name or a path to a GGUF file.
    #[arg(long)]
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

/// What the judged model was asked, by sample id, when the run's task is a built-in one
/// whose data is in the cache; otherwise the judge sees an empty input.
fn task_inputs(manifest: &serde_json::Value) -> HashMap<String, String> {
    let Some(name) = manifest.pointer("/task/name").and_then(|v| v.as_str()) else {
        return HashMap::new();
    };
    let load = || -> anyhow::Result<trilemma_tasks::Task> {
        let data_set = trilemma_tasks::data_set_for(name)?;
        let package = trilemma_assets::Cache::from_env()
            .dataset(&trilemma_assets::Catalog::builtin(), data_set)?;
        Ok(trilemma_tasks::load(name, &package)?)
    };
    match load() {
        Ok(task) => task
            .items
            .into_iter()
            .map(|item| match item {
                trilemma_tasks::Item::MultipleChoice { id, context, .. } => (id, context),
                trilemma_tasks::Item::Generate { id, prompt, .. } => (id, prompt),
                trilemma_tasks::Item::Rolling { id, text } => (id, text),
            })
            .collect(),
        Err(e) => {
            eprintln!("warning: the inputs of task {name:?} are unavailable ({e:#}); the judge sees responses without their questions");
            HashMap::new()
        }
    }
}

pub fn run(
    args: &JudgeArgs,
    open_engine: impl Fn(&str) -> anyhow::Result<Box<dyn Engine>>,
) -> anyhow::Result<()> {
    let rubric = match &args.rubric {
        Some(p) => Rubric::load(p)?,
        None => Rubric::seed_004(),
    };
    let rubric_path = args
        .rubric
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| trilemma_judge::DEFAULT_RUBRIC_PATH.to_string());
    let manifest_path = args.run.join(trilemma_store::run::MANIFEST);
    let run_manifest: serde_json::Value = std::fs::read_to_string(&manifest_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    let records = read_run_records(&args.run)?;
    let inputs = task_inputs(&run_manifest);
    let mut items: Vec<JudgeItem> = records
        .iter()
        .filter(|r| r.repeat == 0 && r.is_scored())
        .map(|r| JudgeItem {
            task: r.task.clone(),
            sample_id: r.sample_id.clone(),
            input: inputs.get(&r.sample_id).cloned().unwrap_or_default(),
            response: r.prediction.clone(),
            reference: r.gold.clone(),
        })
        .collect();
    let skipped = records.iter().filter(|r| r.repeat == 0).count() - items.len();
    if skipped > 0 {
        eprintln!("{skipped} samples with an error outcome have no response and are not judged");
    }
    if let Some(n) = args.limit {
        items.truncate(n);
    }
    if items.is_empty() {
        anyhow::bail!("{} has no scored samples to judge", args.run.display());
    }

    let mut engine = open_engine(&args.judge_model)?;
    let info = engine.model_info().clone();
    let manifest = json!({
        "trilemma_version": env!("CARGO_PKG_VERSION"),
        "created_at": chrono::Utc::now().to_rfc3339(),
        "command": std::env::args().collect::<Vec<_>>(),
        "run": args.run,
        "run_id": run_manifest.get("run_id"),
        "judge": {
            "name": info.name,
            "sha256": info.sha256,
            "engine": engine.engine_info(),
        },
        "rubric": {
            "name": rubric.name,
            "path": rubric_path,
            "sha256": rubric.sha256,
            "levels": rubric.levels,
            "max_tokens": rubric.max_tokens,
        },
        "decoding": "greedy (argmax), temperature 0",
    });
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.run.join(JUDGEMENTS));
    let mut store = JudgementStore::open(
        &out,
        &manifest,
        &["judge.name", "judge.sha256", "rubric.sha256"],
    )?;
    if store.resumed > 0 {
        eprintln!(
            "resuming: {} judgements already in {}",
            store.resumed,
            out.display()
        );
    }
    let mut progress = output::ProgressBar::new(&format!("judge {}", info.name));
    let total = items.len();
    let already = items
        .iter()
        .filter(|i| {
            store
                .done()
                .contains(&(i.task.clone(), i.sample_id.clone()))
        })
        .count();
    progress.start(total, already);
    judge_items(
        engine.as_mut(),
        &rubric,
        &items,
        args.batch_size,
        &mut store,
        |n| progress.advance(already + n),
    )
    .with_context(|| format!("judging into {}", out.display()))?;
    progress.finish();

    let wanted: std::collections::HashSet<(String, String)> = items
        .iter()
        .map(|i| (i.task.clone(), i.sample_id.clone()))
        .collect();
    let judged: Vec<_> = store
        .judgements
        .iter()
        .filter(|j| wanted.contains(&(j.task.clone(), j.sample_id.clone())))
        .cloned()
        .collect();
    let summary = summarize(&judged);
    let summary_path = store.write_summary(&json!({
        "judgements": out,
        "rubric": rubric.name,
        "judge": info.name,
        "summary": summary,
        "how": "mean of the rubric scores of the judgements with a verdict (errors excluded); \
                95% percentile bootstrap CI, 1,000 resamples, fixed seed; stderr as lm-eval's",
    }))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
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
            summary.errors, rubric.name
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
        info.name,
        rubric.name,
        out.display(),
        summary_path.display()
    );
    Ok(())
}
