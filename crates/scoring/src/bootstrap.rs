//! Corpus-level bootstrap: resample sentence pairs with replacement and recompute a corpus
//! statistic (BLEU, chrF, macro-F1) on each resample. The resampling is the core crate's
//! one scheme (`trilemma_core::stats::resample`: 1,000 resamples from
//! `trilemma_core::DEFAULT_SEED`, 95% percentile interval); the standard error is the
//! standard deviation of the resampled values.

use trilemma_core::stats::{resample, Estimate, BOOTSTRAP_RESAMPLES};
use trilemma_core::DEFAULT_SEED;

use crate::{bleu, check_pairs, chrf, Result};

/// `value`, a statistic on all `n` items, with the interval of `statistic` recomputed on
/// each resample (given as indices into `0..n`).
fn estimate(
    n: usize,
    value: f64,
    statistic: impl FnMut(&[usize]) -> Result<f64>,
) -> Result<Estimate> {
    Ok(resample(n, BOOTSTRAP_RESAMPLES, DEFAULT_SEED, statistic)?.estimate(value, n))
}

/// Bootstraps any corpus statistic by resampling pairs and recomputing it (general but
/// slow: the statistic re-reads every text on every resample).
pub fn corpus_bootstrap(
    predictions: &[String],
    references: &[Vec<String>],
    statistic: impl Fn(&[String], &[Vec<String>]) -> Result<f64>,
) -> Result<Estimate> {
    check_pairs(predictions, references)?;
    let value = statistic(predictions, references)?;
    let mut p = Vec::new();
    let mut r = Vec::new();
    estimate(predictions.len(), value, |idx| {
        p.clear();
        r.clear();
        for &i in idx {
            p.push(predictions[i].clone());
            r.push(references[i].clone());
        }
        statistic(&p, &r)
    })
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
    estimate(segs.len(), value, |idx| Ok(total(&mut idx.iter().copied())))
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
        let e = corpus_bootstrap(&preds, &refs, crate::bleu::corpus_bleu).unwrap();
        assert!(e.ci_low <= e.value && e.value <= e.ci_high, "{e:?}");
        assert!(e.ci_high > e.ci_low);
        let again = corpus_bootstrap(&preds, &refs, crate::bleu::corpus_bleu).unwrap();
        assert_eq!(e, again);
        // Both paths draw the same resamples (one scheme, one seed): same interval.
        let fast = bleu_bootstrap(&preds, &refs).unwrap();
        assert!((fast.value - e.value).abs() < 1e-12);
        assert!((fast.ci_low - e.ci_low).abs() < 1e-12, "{fast:?} {e:?}");
        assert!((fast.ci_high - e.ci_high).abs() < 1e-12, "{fast:?} {e:?}");
        assert!((fast.stderr - e.stderr).abs() < 1e-12, "{fast:?} {e:?}");
    }
}
