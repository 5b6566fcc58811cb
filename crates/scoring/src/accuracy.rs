//! Accuracy: the share of predictions equal to one of their references.

use crate::{check_pairs, Result};

/// 1.0 when `prediction` equals one of `references` exactly, else 0.0.
pub fn sentence_accuracy(prediction: &str, references: &[String]) -> f64 {
    f64::from(u8::from(references.iter().any(|r| r == prediction)))
}

/// Mean of [`sentence_accuracy`] over the corpus.
pub fn accuracy(predictions: &[String], references: &[Vec<String>]) -> Result<f64> {
    check_pairs(predictions, references)?;
    let hits: f64 = predictions
        .iter()
        .zip(references)
        .map(|(p, r)| sentence_accuracy(p, r))
        .sum();
    Ok(hits / predictions.len() as f64)
}
