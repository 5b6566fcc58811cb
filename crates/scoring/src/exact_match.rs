//! `exact_match` as lm-eval computes it (the HF `exact_match` metric): optional regexes
//! removed from both sides, optional case and punctuation folding, then string equality.

use regex::Regex;

use crate::{check_pairs, Result};

/// lm-eval's `exact_match` options. The default compares strings as they are.
#[derive(Debug, Clone, Default)]
pub struct ExactMatchOptions {
    /// Each match of each pattern is deleted (Python `re.sub(p, "", s)`), in order.
    pub regexes_to_ignore: Vec<Regex>,
    pub ignore_case: bool,
    pub ignore_punctuation: bool,
}

impl ExactMatchOptions {
    fn normalise(&self, s: &str) -> String {
        let mut out = s.to_string();
        for re in &self.regexes_to_ignore {
            out = re.replace_all(&out, "").into_owned();
        }
        if self.ignore_case {
            out = out.to_lowercase();
        }
        if self.ignore_punctuation {
            out.retain(|c| !c.is_ascii_punctuation());
        }
        out
    }
}

/// 1.0 when the normalised prediction equals one normalised reference.
pub fn sentence_exact_match_with(
    prediction: &str,
    references: &[String],
    options: &ExactMatchOptions,
) -> f64 {
    let p = options.normalise(prediction);
    f64::from(u8::from(
        references.iter().any(|r| options.normalise(r) == p),
    ))
}

/// lm-eval's default `exact_match`: plain string equality with any reference.
pub fn sentence_exact_match(prediction: &str, references: &[String]) -> f64 {
    sentence_exact_match_with(prediction, references, &ExactMatchOptions::default())
}

/// Mean exact match over the corpus.
pub fn exact_match_with(
    predictions: &[String],
    references: &[Vec<String>],
    options: &ExactMatchOptions,
) -> Result<f64> {
    check_pairs(predictions, references)?;
    let hits: f64 = predictions
        .iter()
        .zip(references)
        .map(|(p, r)| sentence_exact_match_with(p, r, options))
        .sum();
    Ok(hits / predictions.len() as f64)
}
