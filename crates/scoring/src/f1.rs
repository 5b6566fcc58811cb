//! Per-class and macro F1 with a confusion matrix, as scikit-learn's
//! `f1_score(average=None|"macro", zero_division=0)` computes them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{check_pairs, Error, Result};

/// The class an invalid output is counted under.
pub const ERROR_CLASS: &str = "Error";

/// Maps a prediction outside `valid` labels to [`ERROR_CLASS`].
pub fn classify<'a>(prediction: &'a str, valid: &[&str]) -> &'a str {
    if valid.contains(&prediction) {
        prediction
    } else {
        ERROR_CLASS
    }
}

/// A confusion matrix over sorted labels: `counts[true][pred]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    pub labels: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

/// Per-class F1 and their unweighted mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct F1Report {
    pub confusion: ConfusionMatrix,
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub f1: Vec<f64>,
    pub macro_f1: f64,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Scores `y_pred` against `y_true`; the labels are the sorted union of both (sklearn's default).
pub fn f1_report(y_true: &[&str], y_pred: &[&str]) -> Result<F1Report> {
    if y_true.len() != y_pred.len() {
        return Err(Error::LengthMismatch {
            predictions: y_pred.len(),
            references: y_true.len(),
        });
    }
    if y_true.is_empty() {
        return Err(Error::Empty { what: "f1" });
    }
    let labels: Vec<String> = y_true
        .iter()
        .chain(y_pred)
        .map(|s| s.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let idx = |s: &str| labels.binary_search_by(|l| l.as_str().cmp(s)).unwrap_or(0);
    let k = labels.len();
    let mut counts = vec![vec![0u64; k]; k];
    for (t, p) in y_true.iter().zip(y_pred) {
        counts[idx(t)][idx(p)] += 1;
    }
    let mut precision = Vec::with_capacity(k);
    let mut recall = Vec::with_capacity(k);
    let mut f1 = Vec::with_capacity(k);
    for (c, row) in counts.iter().enumerate() {
        let tp = row[c];
        let pred_c: u64 = counts.iter().map(|r| r[c]).sum();
        let true_c: u64 = row.iter().sum();
        precision.push(ratio(tp, pred_c));
        recall.push(ratio(tp, true_c));
        // sklearn: F = 2tp / (2tp + fp + fn), 0 when the denominator is 0.
        f1.push(ratio(2 * tp, pred_c + true_c));
    }
    let macro_f1 = f1.iter().sum::<f64>() / k as f64;
    Ok(F1Report {
        confusion: ConfusionMatrix { labels, counts },
        precision,
        recall,
        f1,
        macro_f1,
    })
}

/// Macro F1 where `references[i][0]` is the true label; a prediction that is not one of the
/// reference labels seen in the corpus counts as [`ERROR_CLASS`].
pub fn macro_f1(predictions: &[String], references: &[Vec<String>]) -> Result<F1Report> {
    check_pairs(predictions, references)?;
    let y_true: Vec<&str> = references.iter().map(|r| r[0].as_str()).collect();
    let valid: Vec<&str> = y_true
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let y_pred: Vec<&str> = predictions
        .iter()
        .map(|p| classify(p.as_str(), &valid))
        .collect();
    f1_report(&y_true, &y_pred)
}
