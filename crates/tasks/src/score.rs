//! Per-item scoring: multiple choice (`acc`, `acc_norm`), GSM8K exact match, metrics of
//! `trilemma-scoring` over generations, classification labels and JSON verdicts, and the
//! counts behind corpus perplexity.

use std::collections::BTreeMap;

use crate::{extract_flexible, extract_strict, normalize_answer};

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
    let words = trilemma_scoring::perplexity::count_words(text);
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

/// Scores a generation with per-sample metrics of `trilemma-scoring` against all its
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
            trilemma_scoring::sentence_scores(m, &preds, &refs)
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
