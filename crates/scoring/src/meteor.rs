//! METEOR as NLTK's `meteor_score` computes it (alpha 0.9, beta 3, gamma 0.5, lowercase,
//! best reference wins) with the exact and Porter-stem matching stages only: WordNet
//! synonyms are not available here, so the synonym stage matches nothing. Texts are
//! tokenized with Python's `str.split()`. Values are 0-1; the corpus value is the mean.

use crate::text::py_split;
use crate::{check_pairs, porter, Error, Result};

/// Label naming the variant.
pub const LABEL: &str = "meteor (exact+stem; no WordNet synonyms)";
const ALPHA: f64 = 0.9;
const BETA: f64 = 3.0;
const GAMMA: f64 = 0.5;

/// NLTK's greedy matcher: hypothesis words from the last, each to the last equal
/// reference word still free. Matched pairs leave both lists.
fn match_enums(
    hyp: &mut Vec<(usize, String)>,
    rf: &mut Vec<(usize, String)>,
    out: &mut Vec<(usize, usize)>,
) {
    for i in (0..hyp.len()).rev() {
        if let Some(j) = (0..rf.len()).rev().find(|&j| hyp[i].1 == rf[j].1) {
            out.push((hyp[i].0, rf[j].0));
            hyp.remove(i);
            rf.remove(j);
        }
    }
}

fn count_chunks(matches: &[(usize, usize)]) -> usize {
    1 + matches
        .windows(2)
        .filter(|w| !(w[1].0 == w[0].0 + 1 && w[1].1 == w[0].1 + 1))
        .count()
}

/// METEOR of a hypothesis against one reference (NLTK's `single_meteor_score`).
pub fn single_meteor(reference: &str, hypothesis: &str) -> f64 {
    let enumerate = |s: &str| -> Vec<(usize, String)> {
        py_split(s)
            .into_iter()
            .map(str::to_lowercase)
            .enumerate()
            .collect()
    };
    let mut hyp = enumerate(hypothesis);
    let mut rf = enumerate(reference);
    let (hyp_len, ref_len) = (hyp.len(), rf.len());
    let mut matches = Vec::new();
    match_enums(&mut hyp, &mut rf, &mut matches);
    let mut hyp_st: Vec<(usize, String)> = hyp
        .into_iter()
        .map(|(i, w)| (i, porter::stem(&w)))
        .collect();
    let mut rf_st: Vec<(usize, String)> =
        rf.into_iter().map(|(i, w)| (i, porter::stem(&w))).collect();
    match_enums(&mut hyp_st, &mut rf_st, &mut matches);
    matches.sort_by_key(|m| m.0);
    let m = matches.len();
    if m == 0 || hyp_len == 0 || ref_len == 0 {
        return 0.0;
    }
    let precision = m as f64 / hyp_len as f64;
    let recall = m as f64 / ref_len as f64;
    let fmean = (precision * recall) / (ALPHA * precision + (1.0 - ALPHA) * recall);
    let frag = count_chunks(&matches) as f64 / m as f64;
    let penalty = GAMMA * frag.powf(BETA);
    (1.0 - penalty) * fmean
}

/// The best METEOR over the references (NLTK's `meteor_score`; 0.0 with none).
pub fn sentence_meteor(prediction: &str, references: &[String]) -> f64 {
    references
        .iter()
        .map(|r| single_meteor(r, prediction))
        .fold(0.0, f64::max)
}

/// Corpus METEOR: the mean of per-pair scores.
pub fn corpus_meteor(predictions: &[String], references: &[Vec<String>]) -> Result<f64> {
    check_pairs(predictions, references)?;
    if predictions.is_empty() {
        return Err(Error::Empty { what: "meteor" });
    }
    Ok(crate::mean_of(predictions, references, sentence_meteor))
}
