//! SQuAD v1.1 exact match and token F1 with the official answer normalisation.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::text::py_squash;
use crate::{check_pairs, Result};

/// Maximal runs of the characters Python's `re` counts as `\w` in a `str` pattern
/// (`str.isalnum()` or `_`: letters and numbers, but not combining marks, which the
/// `regex` crate's `\w` includes). The official `\b(a|an|the)\b` matches exactly
/// the runs that equal an article.
fn py_words() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"[\p{L}\p{N}_]+").expect("static regex"))
}

/// The official v1.1 `normalize_answer`: lowercase, drop ASCII punctuation
/// (`string.punctuation`), replace the articles a/an/the by a space, squash whitespace.
pub fn normalize_answer(s: &str) -> String {
    let lower = s.to_lowercase();
    let no_punc: String = lower
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    let no_art = py_words().replace_all(&no_punc, |c: &regex::Captures<'_>| {
        if matches!(&c[0], "a" | "an" | "the") {
            " ".to_string()
        } else {
            c[0].to_string()
        }
    });
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

#[cfg(test)]
mod tests {
    use super::normalize_answer;

    #[test]
    fn articles_next_to_combining_marks_are_removed_as_python_does() {
        // Expected values printed by the official normalisation under CPython 3.11.
        assert_eq!(normalize_answer("the\u{301} cat"), "\u{301} cat");
        assert_eq!(normalize_answer("İ an apple"), "i\u{307} apple");
        assert_eq!(
            normalize_answer("\u{2170}the a²the the_x 3the the\u{345}"),
            "\u{2170}the a²the thex 3the \u{345}"
        );
        assert_eq!(normalize_answer("The Cat, a hat; an ox."), "cat hat ox");
    }
}
