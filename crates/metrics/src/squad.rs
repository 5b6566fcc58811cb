//! SQuAD v1.1 exact match and token F1 with the official answer normalisation.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::text::py_squash;
use crate::{check_pairs, Result};

fn articles() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\b(a|an|the)\b").expect("static regex"))
}

/// The official v1.1 `normalize_answer`: lowercase, drop ASCII punctuation
/// (`string.punctuation`), replace the articles a/an/the by a space, squash whitespace.
pub fn normalize_answer(s: &str) -> String {
    let lower = s.to_lowercase();
    let no_punc: String = lower
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    let no_art = articles().replace_all(&no_punc, " ");
    py_squash(&no_art)
}

/// 1.0 when the normalised prediction equals the normalised form of one reference.
pub fn sentence_squad_em(prediction: &str, references: &[String]) -> f64 {
    let p = normalize_answer(prediction);
    f64::from(u8::from(
        references.iter().any(|r| normalize_answer(r) == p),
    ))
}

fn f1_one(prediction: &str, reference: &str) -> f64 {
    let p = normalize_answer(prediction);
    let g = normalize_answer(reference);
    let pt: Vec<&str> = p.split(' ').filter(|t| !t.is_empty()).collect();
    let gt: Vec<&str> = g.split(' ').filter(|t| !t.is_empty()).collect();
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for t in &gt {
        *counts.entry(t).or_default() += 1;
    }
    let mut same = 0usize;
    for t in &pt {
        if let Some(c) = counts.get_mut(t) {
            if *c > 0 {
                *c -= 1;
                same += 1;
            }
        }
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / pt.len() as f64;
    let recall = same as f64 / gt.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Token F1, the maximum over references (0.0 with no references).
pub fn sentence_squad_f1(prediction: &str, references: &[String]) -> f64 {
    references
        .iter()
        .map(|r| f1_one(prediction, r))
        .fold(0.0, f64::max)
}

/// Corpus EM as a percentage-free fraction (mean of per-sample EM).
pub fn squad_em(predictions: &[String], references: &[Vec<String>]) -> Result<f64> {
    check_pairs(predictions, references)?;
    Ok(crate::mean_of(predictions, references, sentence_squad_em))
}

/// Corpus F1 (mean of per-sample F1).
pub fn squad_f1(predictions: &[String], references: &[Vec<String>]) -> Result<f64> {
    check_pairs(predictions, references)?;
    Ok(crate::mean_of(predictions, references, sentence_squad_f1))
}
