//! Corpus-level bootstrap: resample sentence pairs with replacement and recompute a corpus
//! statistic (BLEU, chrF) on each resample; 95% percentile interval.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trilemma_core::stats::{percentile, Estimate};

use crate::{bleu, check_pairs, chrf, Result};

/// Resamples used by [`corpus_bootstrap`] (as the core crate's `mean_estimate`).
pub const RESAMPLES: usize = 1000;
/// Fixed seed so the interval is reproducible.
pub const SEED: u64 = 0x7472_696c;

/// Bootstraps a statistic of a resample given as indices into `0..n`; `value` is the
/// statistic on the full set. `stderr` is the standard deviation of the resampled values.
pub fn bootstrap_indices(
    n: usize,
    value: f64,
    mut statistic: impl FnMut(&[usize]) -> Result<f64>,
    resamples: usize,
    seed: u64,
) -> Result<Estimate> {
    if n == 0 {
        return Err(crate::Error::Empty { what: "bootstrap" });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = Vec::with_capacity(resamples);
    let mut idx = vec![0usize; n];
    for _ in 0..resamples {
        for slot in idx.iter_mut() {
            *slot = rng.gen_range(0..n);
        }
        stats.push(statistic(&idx)?);
    }
    let m = stats.iter().sum::<f64>() / stats.len().max(1) as f64;
    let var = if stats.len() > 1 {
        stats.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (stats.len() - 1) as f64
    } else {
        0.0
    };
    let (ci_low, ci_high) = if stats.is_empty() {
        (value, value)
    } else {
        (percentile(&stats, 2.5)?, percentile(&stats, 97.5)?)
    };
    Ok(Estimate {
        value,
        stderr: var.sqrt(),
        ci_low,
        ci_high,
        n,
    })
}

/// Bootstraps any corpus statistic by resampling pairs and recomputing it (general but
/// slow: the statistic re-reads every text on every resample).
pub fn corpus_bootstrap(
    predictions: &[String],
    references: &[Vec<String>],
    statistic: impl Fn(&[String], &[Vec<String>]) -> Result<f64>,
    resamples: usize,
    seed: u64,
) -> Result<Estimate> {
    check_pairs(predictions, references)?;
    let value = statistic(predictions, references)?;
    let mut p = Vec::new();
    let mut r = Vec::new();
    bootstrap_indices(
        predictions.len(),
        value,
        |idx| {
            p.clear();
            r.clear();
            for &i in idx {
                p.push(predictions[i].clone());
                r.push(references[i].clone());
            }
            statistic(&p, &r)
        },
        resamples,
        seed,
    )
}

/// A corpus statistic made of per-segment sufficient statistics that add up: each
/// segment's statistics are computed once and summed per resample.
fn summed_stats_bootstrap<S: Clone>(
    segs: &[S],
    zero: S,
    add: impl Fn(&mut S, &S),
    score: impl Fn(&S) -> f64,
) -> Result<Estimate> {
    let total = |idx: &mut dyn Iterator<Item = usize>| {
        let mut t = zero.clone();
        for i in idx {
            add(&mut t, &segs[i]);
        }
        score(&t)
    };
    let value = total(&mut (0..segs.len()));
    bootstrap_indices(
        segs.len(),
        value,
        |idx| Ok(total(&mut idx.iter().copied())),
        RESAMPLES,
        SEED,
    )
}

/// Corpus BLEU with a bootstrap interval; segment statistics are computed once and summed
/// per resample.
pub fn bleu_bootstrap(predictions: &[String], references: &[Vec<String>]) -> Result<Estimate> {
    check_pairs(predictions, references)?;
    let segs: Vec<bleu::BleuStats> = predictions
        .iter()
        .zip(references)
        .map(|(p, r)| bleu::segment_stats(p, r))
        .collect();
    summed_stats_bootstrap(
        &segs,
        bleu::BleuStats::default(),
        |t, s| *t += *s,
        |t| bleu::score_from_stats(t, false),
    )
}

/// Corpus chrF with a bootstrap interval (segment statistics computed once).
pub fn chrf_bootstrap(predictions: &[String], references: &[Vec<String>]) -> Result<Estimate> {
    check_pairs(predictions, references)?;
    let segs: Vec<chrf::ChrfStats> = predictions
        .iter()
        .zip(references)
        .map(|(p, r)| chrf::segment_stats(p, r))
        .collect();
    summed_stats_bootstrap(
        &segs,
        [[0u64; 3]; chrf::CHAR_ORDER],
        |t, s| {
            for (tn, sn) in t.iter_mut().zip(s) {
                for (a, b) in tn.iter_mut().zip(sn) {
                    *a += b;
                }
            }
        },
        chrf::score_from_stats,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_brackets_bleu() {
        let preds: Vec<String> = (0..30)
            .map(|i| format!("the cat sat on mat number {}", i % 7))
            .collect();
        let refs: Vec<Vec<String>> = (0..30)
            .map(|i| vec![format!("the cat sat on the mat number {}", i % 5)])
            .collect();
        let e = corpus_bootstrap(&preds, &refs, crate::bleu::corpus_bleu, 200, SEED).unwrap();
        assert!(e.ci_low <= e.value && e.value <= e.ci_high, "{e:?}");
        assert!(e.ci_high > e.ci_low);
        let again = corpus_bootstrap(&preds, &refs, crate::bleu::corpus_bleu, 200, SEED).unwrap();
        assert_eq!(e, again);
        let fast = bleu_bootstrap(&preds, &refs).unwrap();
        assert!((fast.value - e.value).abs() < 1e-12);
        assert!(fast.ci_low <= fast.value && fast.value <= fast.ci_high);
    }
}
