//! `trilemma score`: one metric over a predictions file and a references file.

use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `trilemma score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// Metric name: bleu, chrf, rouge1, rouge2, rougeL, rougeLsum, meteor, exact_match,
    /// squad_em, squad_f1, macro_f1, accuracy.
    #[arg(long)]
    pub metric: String,
    /// One prediction per line (or JSON Lines of strings).
    #[arg(long)]
    pub predictions: PathBuf,
    /// One reference per line; a line that is a JSON list of strings holds several
    /// references (JSON Lines of strings are accepted too).
    #[arg(long)]
    pub references: PathBuf,
    /// Print the score as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Scores the files and prints the result.
pub fn run(args: &ScoreArgs) -> anyhow::Result<()> {
    let (predictions, references) =
        trilemma_scoring::input::load_pairs(&args.predictions, &args.references)?;
    let score = trilemma_scoring::corpus_score(&args.metric, &predictions, &references)
        .with_context(|| {
            format!(
                "scoring {} with {}",
                args.predictions.display(),
                args.metric
            )
        })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&score)?);
    } else {
        println!(
            "{} = {:.4} ({}; {} pairs)",
            score.metric, score.value, score.label, score.n
        );
    }
    Ok(())
}
