//! chrF as sacreBLEU's `CHRF()` defaults compute it: character n-grams up to 6, no word
//! n-grams, beta 2, whitespace removed, best reference per segment by sentence chrF,
//! corpus score from summed statistics, 0-100.

use std::collections::HashMap;

use crate::text::py_split;
use crate::{check_pairs, Result};

/// Character n-gram order.
pub const CHAR_ORDER: usize = 6;
const BETA: f64 = 2.0;

/// Label naming the variant.
pub const LABEL: &str = "sacreBLEU chrF, char order 6, beta 2";

/// Per order: `[hyp n-grams, ref n-grams, matches]`.
pub type ChrfStats = [[u64; 3]; CHAR_ORDER];

fn char_ngrams(s: &str) -> Vec<HashMap<String, u64>> {
    let chars: Vec<char> = py_split(s).concat().chars().collect();
    (1..=CHAR_ORDER)
        .map(|n| {
            let mut m: HashMap<String, u64> = HashMap::new();
            for w in chars.windows(n) {
                *m.entry(w.iter().collect()).or_default() += 1;
            }
            m
        })
        .collect()
}

fn match_stats(hyp: &[HashMap<String, u64>], rf: &[HashMap<String, u64>]) -> ChrfStats {
    let mut st = [[0u64; 3]; CHAR_ORDER];
    for n in 0..CHAR_ORDER {
        let h: u64 = hyp[n].values().sum();
        let r: u64 = rf[n].values().sum();
        let m: u64 = hyp[n]
            .iter()
            .map(|(g, c)| (*c).min(rf[n].get(g).copied().unwrap_or(0)))
            .sum();
        // sacreBLEU counts no hypothesis n-grams where the reference has none.
        st[n] = [if rf[n].is_empty() { 0 } else { h }, r, m];
    }
    st
}

/// chrF (0-100) from statistics.
pub fn score_from_stats(st: &ChrfStats) -> f64 {
    let factor = BETA * BETA;
    let (mut avg_p, mut avg_r, mut eff) = (0.0f64, 0.0f64, 0usize);
    for s in st {
        let [h, r, m] = *s;
        if h > 0 && r > 0 {
            avg_p += m as f64 / h as f64;
            avg_r += m as f64 / r as f64;
            eff += 1;
        }
    }
    if eff == 0 {
        return 0.0;
    }
    avg_p /= eff as f64;
    avg_r /= eff as f64;
    if avg_p + avg_r == 0.0 {
        return 0.0;
    }
    100.0 * (1.0 + factor) * avg_p * avg_r / (factor * avg_p + avg_r)
}

/// The statistics of one hypothesis against its best reference.
pub fn segment_stats(hypothesis: &str, references: &[String]) -> ChrfStats {
    let hyp = char_ngrams(hypothesis);
    let mut best = -1.0;
    let mut best_st = [[0u64; 3]; CHAR_ORDER];
    for r in references {
        let st = match_stats(&hyp, &char_ngrams(r));
        let f = score_from_stats(&st);
        if f > best {
            best = f;
            best_st = st;
        }
    }
    best_st
}

/// Sentence chrF.
pub fn sentence_chrf(prediction: &str, references: &[String]) -> f64 {
    score_from_stats(&segment_stats(prediction, references))
}

/// Corpus chrF from summed segment statistics.
pub fn corpus_chrf(predictions: &[String], references: &[Vec<String>]) -> Result<f64> {
    check_pairs(predictions, references)?;
    let mut total = [[0u64; 3]; CHAR_ORDER];
    for (p, r) in predictions.iter().zip(references) {
        let st = segment_stats(p, r);
        for n in 0..CHAR_ORDER {
            for k in 0..3 {
                total[n][k] += st[n][k];
            }
        }
    }
    Ok(score_from_stats(&total))
}
