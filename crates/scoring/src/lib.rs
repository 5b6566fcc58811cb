//! Scoring functions that equal their reference implementations (sacreBLEU, rouge-score,
//! NLTK, the SQuAD v1.1 script, scikit-learn, lm-eval), and a registry that scores a
//! corpus by metric name.
//!
//! Corpus metrics (BLEU, chrF) are not means of per-sample scores; every other metric's
//! corpus value is the mean of its per-sample values, which [`sentence_scores`] returns so
//! a caller can bootstrap over samples.

pub mod acc_norm;
pub mod accuracy;
pub mod bleu;
pub mod bootstrap;
pub mod chrf;
mod error;
pub mod exact_match;
pub mod f1;
pub mod gsm8k;
pub mod input;
pub mod meteor;
pub mod pass_at_k;
pub mod perplexity;
pub mod porter;
pub mod rouge;
pub mod squad;
pub mod text;

use serde::{Deserialize, Serialize};

pub use error::{Error, Result};

/// A metric's value on a corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Registry name, e.g. `bleu`.
    pub metric: String,
    /// What exactly was computed, e.g. `sacreBLEU 13a, exp smoothing`.
    pub label: String,
    /// The value on the reference implementation's scale (BLEU, chrF: 0-100; the others 0-1).
    pub value: f64,
    /// Number of prediction/reference pairs.
    pub n: usize,
}

/// Metric names that [`corpus_score`] knows.
pub const METRICS: &[&str] = &[
    "bleu",
    "chrf",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "meteor",
    "exact_match",
    "squad_em",
    "squad_f1",
    "macro_f1",
    "accuracy",
];

/// Checks that predictions and references pair up and that no reference set is empty.
pub(crate) fn check_pairs(predictions: &[String], references: &[Vec<String>]) -> Result<()> {
    if predictions.len() != references.len() {
        return Err(Error::LengthMismatch {
            predictions: predictions.len(),
            references: references.len(),
        });
    }
    if let Some(index) = references.iter().position(Vec::is_empty) {
        return Err(Error::NoReference { index });
    }
    Ok(())
}

/// Mean of a per-sample score over the pairs (0.0 for an empty corpus).
pub(crate) fn mean_of(
    predictions: &[String],
    references: &[Vec<String>],
    f: impl Fn(&str, &[String]) -> f64,
) -> f64 {
    if predictions.is_empty() {
        return 0.0;
    }
    let sum: f64 = predictions
        .iter()
        .zip(references)
        .map(|(p, r)| f(p, r))
        .sum();
    sum / predictions.len() as f64
}

fn unknown(name: &str) -> Error {
    Error::UnknownMetric {
        name: name.to_string(),
        known: METRICS.join(", "),
    }
}

/// What a metric's value means, for display.
pub fn label(metric: &str) -> Result<&'static str> {
    Ok(match metric {
        "bleu" => bleu::LABEL,
        "chrf" => chrf::LABEL,
        "rouge1" | "rouge2" | "rougeL" | "rougeLsum" => rouge::LABEL,
        "meteor" => meteor::LABEL,
        "exact_match" => "exact match (lm-eval, no normalisation)",
        "squad_em" => "SQuAD v1.1 exact match",
        "squad_f1" => "SQuAD v1.1 token F1",
        "macro_f1" => "macro F1 (scikit-learn; invalid outputs as class Error)",
        "accuracy" => "accuracy (exact string equality)",
        other => return Err(unknown(other)),
    })
}

/// Scores a corpus with the named metric; `references[i]` holds the references of
/// `predictions[i]` (for `macro_f1`, the first reference is the true label).
pub fn corpus_score(
    metric: &str,
    predictions: &[String],
    references: &[Vec<String>],
) -> Result<Score> {
    let label = label(metric)?;
    check_pairs(predictions, references)?;
    let value = match metric {
        "bleu" => bleu::corpus_bleu(predictions, references)?,
        "chrf" => chrf::corpus_chrf(predictions, references)?,
        "rouge1" | "rouge2" | "rougeL" | "rougeLsum" => {
            let kind = rouge::RougeType::from_name(metric).ok_or_else(|| unknown(metric))?;
            rouge::corpus_rouge(kind, predictions, references)?
        }
        "exact_match" => exact_match::exact_match_with(
            predictions,
            references,
            &exact_match::ExactMatchOptions::default(),
        )?,
        "meteor" => meteor::corpus_meteor(predictions, references)?,
        "squad_em" => squad::squad_em(predictions, references)?,
        "squad_f1" => squad::squad_f1(predictions, references)?,
        "macro_f1" => f1::macro_f1(predictions, references)?.macro_f1,
        "accuracy" => accuracy::accuracy(predictions, references)?,
        other => return Err(unknown(other)),
    };
    Ok(Score {
        metric: metric.to_string(),
        label: label.to_string(),
        value,
        n: predictions.len(),
    })
}

/// Per-sample scores of a metric whose corpus value is their mean. Corpus-level metrics
/// (`bleu`, `chrf`, `macro_f1`) have none: bootstrap them with [`bootstrap`] instead.
pub fn sentence_scores(
    metric: &str,
    predictions: &[String],
    references: &[Vec<String>],
) -> Result<Vec<f64>> {
    check_pairs(predictions, references)?;
    if let Some(kind) = rouge::RougeType::from_name(metric) {
        return Ok(predictions
            .iter()
            .zip(references)
            .map(|(p, r)| rouge::sentence_rouge(kind, p, r))
            .collect());
    }
    let f: fn(&str, &[String]) -> f64 = match metric {
        "meteor" => meteor::sentence_meteor,
        "exact_match" => exact_match::sentence_exact_match,
        "squad_em" => squad::sentence_squad_em,
        "squad_f1" => squad::sentence_squad_f1,
        "accuracy" => accuracy::sentence_accuracy,
        "bleu" | "chrf" | "macro_f1" => {
            return Err(Error::Invalid {
                what: "sentence_scores",
                detail: format!("{metric} is a corpus statistic, not a mean of samples"),
            })
        }
        other => return Err(unknown(other)),
    };
    Ok(predictions
        .iter()
        .zip(references)
        .map(|(p, r)| f(p, r))
        .collect())
}

/// The named metric with a 95% bootstrap interval: corpus statistics (`bleu`, `chrf`,
/// `macro_f1`) resample pairs and recompute the statistic ([`bootstrap`]); the others
/// bootstrap the mean of their per-sample scores (the core crate's `mean_estimate`).
pub fn score_estimate(
    metric: &str,
    predictions: &[String],
    references: &[Vec<String>],
) -> Result<trilemma_core::stats::Estimate> {
    label(metric)?;
    check_pairs(predictions, references)?;
    match metric {
        "bleu" => bootstrap::bleu_bootstrap(predictions, references),
        "chrf" => bootstrap::chrf_bootstrap(predictions, references),
        "macro_f1" => bootstrap::corpus_bootstrap(predictions, references, |p, r| {
            Ok(f1::macro_f1(p, r)?.macro_f1)
        }),
        _ => Ok(trilemma_core::stats::mean_estimate(&sentence_scores(
            metric,
            predictions,
            references,
        )?)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn registry_scores_and_rejects() {
        let p = s(&["The cat", "a dog"]);
        let r = vec![s(&["the cat!"]), s(&["dog", "a dog"])];
        let em = corpus_score("squad_em", &p, &r).unwrap();
        assert_eq!(em.value, 1.0);
        assert_eq!(em.n, 2);
        assert_eq!(corpus_score("exact_match", &p, &r).unwrap().value, 0.5);
        let err = corpus_score("nope", &p, &r).unwrap_err().to_string();
        assert!(err.contains("bleu") && err.contains("squad_f1"), "{err}");
        assert!(corpus_score("bleu", &p, &r[..1]).is_err());
        assert!(sentence_scores("bleu", &p, &r).is_err());
        assert_eq!(sentence_scores("accuracy", &p, &r).unwrap(), vec![0.0, 1.0]);
    }

    #[test]
    fn estimates_bracket_the_corpus_value() {
        let p = s(&[
            "the cat sat on the mat today",
            "a dog ran in the park",
            "birds fly south in the winter",
            "x",
            "the end of the story",
        ]);
        let r = vec![
            s(&["the cat sat on the mat"]),
            s(&["a dog ran in the park"]),
            s(&["birds fly north in the summer"]),
            s(&["y"]),
            s(&["the end of the story"]),
        ];
        for m in METRICS {
            let e = score_estimate(m, &p, &r).unwrap();
            let v = corpus_score(m, &p, &r).unwrap().value;
            assert!((e.value - v).abs() < 1e-12, "{m}: {} vs {v}", e.value);
            assert!(e.ci_low <= e.value && e.value <= e.ci_high, "{m}: {e:?}");
            assert!(e.ci_high > e.ci_low, "{m}: degenerate interval {e:?}");
        }
    }
}
