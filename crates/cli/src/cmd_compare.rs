//! `trilemma compare`: are two runs' scores different, item by item? The comparison is
//! `trilemma_analysis::compare`'s; this file turns the flags into its inputs and prints.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};
use trilemma_analysis::compare::{compare, load_run, Comparison, RepeatMode};
use trilemma_analysis::lm_eval;
use trilemma_core::stats::{self, Estimate};

use crate::output;

/// How several repeats of one item become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RepeatArg {
    /// The first repeat (repeat 0) of each item.
    First,
    /// The mean of each metric over the item's scored repeats (picks come from the first).
    Mean,
}

impl From<RepeatArg> for RepeatMode {
    fn from(r: RepeatArg) -> Self {
        match r {
            RepeatArg::First => RepeatMode::First,
            RepeatArg::Mean => RepeatMode::Mean,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Run directory A (holds manifest.json and samples.jsonl).
    pub run_a: PathBuf,
    /// Run directory B. Not given with --lm-eval-samples.
    pub run_b: Option<PathBuf>,
    /// Compare RUN_A against lm-evaluation-harness's per-sample log
    /// (`samples_<task>_*.jsonl` written by `lm_eval --log_samples`) instead of RUN_B.
    #[arg(long, conflicts_with = "run_b")]
    pub lm_eval_samples: Option<PathBuf>,
    /// The field of lm-eval's `doc` that holds the item id Trilemma records as sample_id.
    #[arg(long, default_value = "id", requires = "lm_eval_samples")]
    pub lm_eval_id_field: String,
    /// Compare only this metric (repeatable); default: every metric both runs report.
    #[arg(long)]
    pub metric: Vec<String>,
    /// Which repeat(s) of an item to use.
    #[arg(long, value_enum, default_value_t = RepeatArg::First)]
    pub repeats: RepeatArg,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = stats::BOOTSTRAP_RESAMPLES)]
    pub resamples: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = stats::BOOTSTRAP_SEED)]
    pub seed: u64,
    /// Print the comparison as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn print_text(c: &Comparison) {
    println!("A: {}", c.a);
    println!("B: {}", c.b);
    println!(
        "task(s) {}: {} shared items, {} only in A, {} only in B, {} error items in A, {} in B",
        c.tasks.join(", "),
        c.shared,
        c.only_in_a,
        c.only_in_b,
        c.errors_in_a,
        c.errors_in_b
    );
    println!(
        "items paired by (task, sample_id); repeats: {}",
        match c.repeats {
            RepeatMode::First => "first repeat of each item",
            RepeatMode::Mean => "mean over each item's scored repeats (picks from the first)",
        }
    );
    let mut t = output::table(&[
        "metric",
        "A (95% CI)",
        "B (95% CI)",
        "A - B (95% CI)",
        "p",
        "verdict",
    ]);
    for m in &c.metrics {
        let est = |e: &Estimate| format!("{:.4} ({:.4}–{:.4})", e.value, e.ci_low, e.ci_high);
        let d = &m.difference;
        t.add_row(vec![
            m.metric.clone(),
            est(&m.a),
            est(&m.b),
            format!("{:+.4} ({:+.4}–{:+.4})", d.delta, d.ci_low, d.ci_high),
            format!("{:.3}", d.p_value),
            if m.significant {
                "significant".into()
            } else {
                "not significant".into()
            },
        ]);
    }
    println!("{t}");
    println!(
        "CIs: percentile bootstrap, {} resamples, seed {}; A - B: paired bootstrap over the shared items; \
         p: share of resampled differences on the far side of zero, doubled; significant: the 95% CI excludes 0",
        c.resamples, c.seed
    );
    for ch in &c.choices {
        let what = if ch.kind == "pick" {
            "choice (max log-likelihood)"
        } else {
            "choice (length-normalised; each side's own rule)"
        };
        let shown: Vec<&str> = ch.differing.iter().take(10).map(String::as_str).collect();
        println!(
            "same {what} on {}/{} items ({:.2}%){}",
            ch.agree,
            ch.n,
            100.0 * ch.fraction,
            if shown.is_empty() {
                String::new()
            } else {
                format!(
                    "; differing: {}{}",
                    shown.join(", "),
                    if ch.differing.len() > shown.len() {
                        " ..."
                    } else {
                        ""
                    }
                )
            }
        );
    }
    if let Some(l) = &c.logprobs {
        println!(
            "per-choice log-likelihood |A - B| over {} items: median {:.2e}, mean {:.2e}, max {:.2e}",
            l.n_items, l.median_abs_diff, l.mean_abs_diff, l.max_abs_diff
        );
    }
}

pub fn run(args: &CompareArgs) -> anyhow::Result<()> {
    let mode = RepeatMode::from(args.repeats);
    let a = load_run(&args.run_a, mode)?;
    let b = match (&args.run_b, &args.lm_eval_samples) {
        (Some(b), None) => load_run(b, mode)?,
        (None, Some(file)) => {
            // lm-eval's log names no Trilemma task; it is paired against RUN_A's task by id.
            if a.tasks.len() != 1 {
                bail!(
                    "{} holds several tasks ({:?}); --lm-eval-samples compares one task",
                    a.label,
                    a.tasks
                );
            }
            let task = a.tasks.iter().next().cloned().unwrap_or_default();
            lm_eval::load_samples(file, &task, &args.lm_eval_id_field)?
        }
        _ => bail!("give RUN_B or --lm-eval-samples FILE"),
    };
    let c = compare(&a, &b, &args.metric, mode, args.resamples, args.seed)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print_text(&c);
    }
    Ok(())
}
