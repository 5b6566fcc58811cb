//! Summary statistics and their uncertainty.
//!
//! Percentiles interpolate linearly between order statistics (numpy's default),
//! the standard error is lm-evaluation-harness's `mean_stderr` (sample standard
//! deviation over sqrt(n)), and confidence intervals come from a seeded
//! percentile bootstrap so the same run always prints the same interval.
//!
//! # Resampling
//!
//! Every interval in Trilemma comes from one primitive, [`resample_strata`] (and
//! [`resample`], its single-stratum case): each of [`BOOTSTRAP_RESAMPLES`] (1,000)
//! resamples draws, for every stratum of `n` items, `n` indices uniformly with
//! replacement from a ChaCha8 generator seeded with [`crate::DEFAULT_SEED`] (1234), the
//! workspace's one default seed; the statistic is recomputed on each resample, and the
//! 95% interval is the 2.5th and 97.5th percentiles of the resampled values
//! ([`Resampled::interval`]). The bootstraps built on it:
//! - [`mean_estimate`]: the mean of per-sample scores (items resampled);
//! - [`macro_mean_estimate`]: the mean of group means (items resampled within their group);
//! - [`paired_bootstrap`]: the difference of two runs on the same items (pairs kept
//!   together; `trilemma compare --resamples/--seed` may change the count and seed);
//! - corpus statistics that are not means of samples (BLEU, chrF and macro-F1 in
//!   trilemma-scoring, corpus perplexity in the runner): items resampled and the statistic
//!   recomputed, the standard deviation of the resampled values as the standard error
//!   ([`Resampled::estimate`]).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::setup::DEFAULT_SEED;
use crate::{Error, Result};

/// Resamples used by every bootstrap unless a caller asks otherwise.
pub const BOOTSTRAP_RESAMPLES: usize = 1_000;
/// Seed of every bootstrap unless a caller asks otherwise: the same constant as
/// [`crate::DEFAULT_SEED`] (the default of `trilemma compare --seed`).
pub const BOOTSTRAP_SEED: u64 = DEFAULT_SEED;

pub fn mean(xs: &[f64]) -> Result<f64> {
    if xs.is_empty() {
        return Err(Error::Empty { what: "mean" });
    }
    Ok(xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Sample standard deviation (n - 1 in the denominator); 0 for fewer than two values.
pub fn sample_std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (xs.len() - 1) as f64).sqrt()
}

/// Standard error of the mean, as lm-evaluation-harness reports it.
pub fn stderr_of_mean(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    sample_std(xs) / (xs.len() as f64).sqrt()
}

/// The `q`-th percentile (0..=100) with linear interpolation between order statistics.
pub fn percentile(xs: &[f64], q: f64) -> Result<f64> {
    if xs.is_empty() {
        return Err(Error::Empty { what: "percentile" });
    }
    if !(0.0..=100.0).contains(&q) {
        return Err(Error::Invalid {
            field: "q",
            reason: format!("{q} is outside 0..=100"),
        });
    }
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    Ok(percentile_sorted(&sorted, q))
}

fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let rank = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// Mean, median and tail percentiles of a set of latencies (or any values).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub n: usize,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    /// Only reported with at least 1,000 values; fewer cannot resolve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p999: Option<f64>,
    pub min: f64,
    pub max: f64,
}

impl Distribution {
    pub fn of(xs: &[f64]) -> Result<Self> {
        let mean = mean(xs)?;
        let mut sorted = xs.to_vec();
        sorted.sort_by(f64::total_cmp);
        let p = |q| percentile_sorted(&sorted, q);
        Ok(Self {
            n: xs.len(),
            mean,
            p50: p(50.0),
            p90: p(90.0),
            p95: p(95.0),
            p99: p(99.0),
            p999: (xs.len() >= 1_000).then(|| p(99.9)),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

/// A point estimate with its standard error and a 95% bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub stderr: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub n: usize,
}

/// A statistic recomputed on every bootstrap resample.
#[derive(Debug, Clone, PartialEq)]
pub struct Resampled {
    /// The resampled values, ascending.
    sorted: Vec<f64>,
    /// Their sample standard deviation, taken in draw order.
    std: f64,
}

impl Resampled {
    /// The resampled values, ascending.
    pub fn values(&self) -> &[f64] {
        &self.sorted
    }

    /// The 95% two-sided percentile interval: the 2.5th and 97.5th percentiles.
    pub fn interval(&self) -> (f64, f64) {
        (
            percentile_sorted(&self.sorted, 2.5),
            percentile_sorted(&self.sorted, 97.5),
        )
    }

    /// Sample standard deviation of the resampled values: the bootstrap standard error.
    pub fn std(&self) -> f64 {
        self.std
    }

    /// `value` (the statistic on all `n` items) with the bootstrap standard error and the
    /// percentile interval.
    pub fn estimate(&self, value: f64, n: usize) -> Estimate {
        let (ci_low, ci_high) = self.interval();
        Estimate {
            value,
            stderr: self.std,
            ci_low,
            ci_high,
            n,
        }
    }
}

/// The one resampling primitive (see the module doc). The items are laid out stratum
/// after stratum, `sizes[k]` items in stratum `k`; each resample draws `sizes[k]` indices
/// with replacement from stratum `k`'s own range, in that layout, and hands them to
/// `statistic`. The generator is seeded with `seed` once, so a call is reproducible.
pub fn resample_strata<E: From<Error>>(
    sizes: &[usize],
    resamples: usize,
    seed: u64,
    mut statistic: impl FnMut(&[usize]) -> std::result::Result<f64, E>,
) -> std::result::Result<Resampled, E> {
    if sizes.iter().sum::<usize>() == 0 {
        return Err(Error::Empty { what: "bootstrap" }.into());
    }
    if let Some(k) = sizes.iter().position(|&n| n == 0) {
        return Err(Error::Invalid {
            field: "bootstrap strata",
            reason: format!("stratum {k} has no item"),
        }
        .into());
    }
    if resamples == 0 {
        return Err(Error::Invalid {
            field: "resamples",
            reason: "a bootstrap needs at least one resample".into(),
        }
        .into());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx = vec![0usize; sizes.iter().sum()];
    let mut draws = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let mut start = 0;
        for &n in sizes {
            for slot in &mut idx[start..start + n] {
                *slot = start + rng.gen_range(0..n);
            }
            start += n;
        }
        draws.push(statistic(&idx)?);
    }
    let std = sample_std(&draws);
    draws.sort_by(f64::total_cmp);
    Ok(Resampled { sorted: draws, std })
}

/// [`resample_strata`] with one stratum: `resamples` resamples of `n` indices in `0..n`.
pub fn resample<E: From<Error>>(
    n: usize,
    resamples: usize,
    seed: u64,
    statistic: impl FnMut(&[usize]) -> std::result::Result<f64, E>,
) -> std::result::Result<Resampled, E> {
    resample_strata(&[n], resamples, seed, statistic)
}

/// Mean of the items at `idx`.
fn mean_at(xs: &[f64], idx: &[usize]) -> f64 {
    idx.iter().map(|&i| xs[i]).sum::<f64>() / idx.len() as f64
}

/// The mean of per-sample scores with its standard error and 95% bootstrap CI.
pub fn mean_estimate(xs: &[f64]) -> Result<Estimate> {
    let value = mean(xs)?;
    let (ci_low, ci_high) = resample(xs.len(), BOOTSTRAP_RESAMPLES, DEFAULT_SEED, |idx| {
        Ok::<_, Error>(mean_at(xs, idx))
    })?
    .interval();
    Ok(Estimate {
        value,
        stderr: stderr_of_mean(xs),
        ci_low,
        ci_high,
        n: xs.len(),
    })
}

/// The macro average over groups (e.g. MMLU subjects): the plain mean of the group means,
/// its standard error `sqrt(sum se_g^2) / G` (group means are independent), and a 95%
/// stratified bootstrap interval (items resampled within their group). A group of one
/// item has no within-group variance, so a stratified bootstrap would claim certainty:
/// when any group has a single item, the standard error and interval are those of the
/// mean of the group means ([`mean_estimate`] over the groups) instead. `n` counts items.
pub fn macro_mean_estimate(groups: &[&[f64]]) -> Result<Estimate> {
    let means = groups
        .iter()
        .map(|g| mean(g))
        .collect::<Result<Vec<f64>>>()?;
    let n = groups.iter().map(|g| g.len()).sum();
    if groups.iter().any(|g| g.len() < 2) {
        return Ok(Estimate {
            n,
            ..mean_estimate(&means)?
        });
    }
    let n_groups = means.len() as f64;
    let items = groups.concat();
    let sizes: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let (ci_low, ci_high) = resample_strata(&sizes, BOOTSTRAP_RESAMPLES, DEFAULT_SEED, |idx| {
        let mut start = 0;
        let sum_of_means = sizes
            .iter()
            .map(|&len| {
                start += len;
                mean_at(&items, &idx[start - len..start])
            })
            .sum::<f64>();
        Ok::<_, Error>(sum_of_means / n_groups)
    })?
    .interval();
    Ok(Estimate {
        value: means.iter().sum::<f64>() / n_groups,
        stderr: groups
            .iter()
            .map(|g| stderr_of_mean(g).powi(2))
            .sum::<f64>()
            .sqrt()
            / n_groups,
        ci_low,
        ci_high,
        n,
    })
}

/// The difference of means of two runs scored on the same items.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedDifference {
    /// mean(a) - mean(b)
    pub delta: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Two-sided bootstrap p-value for "no difference".
    pub p_value: f64,
    pub n: usize,
}

impl PairedDifference {
    /// Significant at the 95% level: the interval excludes zero.
    pub fn significant(&self) -> bool {
        self.ci_low > 0.0 || self.ci_high < 0.0
    }
}

/// Paired bootstrap over items both runs scored: resample item indices, keep pairs together.
pub fn paired_bootstrap(
    a: &[f64],
    b: &[f64],
    resamples: usize,
    seed: u64,
) -> Result<PairedDifference> {
    if a.len() != b.len() {
        return Err(Error::Invalid {
            field: "paired samples",
            reason: format!("{} values against {}", a.len(), b.len()),
        });
    }
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let delta = mean(&diffs)?;
    let n = diffs.len();
    let boot = resample(n, resamples, seed, |idx| {
        Ok::<_, Error>(mean_at(&diffs, idx))
    })?;
    let stats = boot.values();
    // Share of resampled deltas on the far side of zero, doubled (two-sided).
    let opposite = if delta >= 0.0 {
        stats.iter().filter(|d| **d <= 0.0).count()
    } else {
        stats.iter().filter(|d| **d >= 0.0).count()
    };
    let p_value = ((2 * opposite) as f64 / resamples as f64).min(1.0);
    let (ci_low, ci_high) = boot.interval();
    Ok(PairedDifference {
        delta,
        ci_low,
        ci_high,
        p_value,
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4, 10], [50, 95, 99]) -> 3.0, 8.8, 9.76
        let xs = [4.0, 1.0, 10.0, 3.0, 2.0];
        assert_eq!(percentile(&xs, 50.0).unwrap(), 3.0);
        assert!((percentile(&xs, 95.0).unwrap() - 8.8).abs() < 1e-12);
        assert!((percentile(&xs, 99.0).unwrap() - 9.76).abs() < 1e-12);
        assert!(percentile(&xs, 101.0).is_err());
        assert!(percentile(&[], 50.0).is_err());
    }

    #[test]
    fn stderr_matches_lm_eval() {
        // lm_eval.api.metrics.mean_stderr([1, 0, 1, 1]) = stdev / sqrt(4) = 0.5 / 2
        let xs = [1.0, 0.0, 1.0, 1.0];
        assert!((stderr_of_mean(&xs) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_mean() {
        let xs: Vec<f64> = (0..200).map(|i| f64::from(i % 3 == 0)).collect();
        let a = mean_estimate(&xs).unwrap();
        let b = mean_estimate(&xs).unwrap();
        assert_eq!(a, b);
        assert!(a.ci_low < a.value && a.value < a.ci_high, "{a:?}");
        assert!(a.ci_high - a.ci_low < 0.2);
    }

    #[test]
    fn resampling_stays_within_each_stratum_and_is_seeded() {
        let sizes = [3, 1, 4];
        let mut seen = Vec::new();
        let a = resample_strata(&sizes, 50, DEFAULT_SEED, |idx| {
            assert_eq!(idx.len(), 8);
            assert!(idx[..3].iter().all(|&i| i < 3), "{idx:?}");
            assert_eq!(idx[3], 3);
            assert!(idx[4..].iter().all(|&i| (4..8).contains(&i)), "{idx:?}");
            seen.extend_from_slice(idx);
            Ok::<_, Error>(idx.iter().sum::<usize>() as f64)
        })
        .unwrap();
        let b = resample_strata(&sizes, 50, DEFAULT_SEED, |idx| {
            Ok::<_, Error>(idx.iter().sum::<usize>() as f64)
        })
        .unwrap();
        assert_eq!(a, b);
        assert!(a.values().windows(2).all(|w| w[0] <= w[1]));
        let (lo, hi) = a.interval();
        assert!(lo <= hi && a.std() > 0.0);
        // Every index of every stratum is drawn over 50 resamples.
        assert!((0..8).all(|i| seen.contains(&i)));
        let other = resample(8, 50, 7, |idx| Ok::<_, Error>(idx[0] as f64)).unwrap();
        let same_seed = resample(8, 50, 7, |idx| Ok::<_, Error>(idx[0] as f64)).unwrap();
        assert_eq!(other, same_seed);
    }

    #[test]
    fn resampling_refuses_what_it_cannot_draw() {
        let stat = |_: &[usize]| Ok::<_, Error>(0.0);
        assert!(matches!(resample(0, 10, 1, stat), Err(Error::Empty { .. })));
        assert!(matches!(
            resample(5, 0, 1, stat),
            Err(Error::Invalid {
                field: "resamples",
                ..
            })
        ));
        assert!(matches!(
            resample_strata(&[2, 0], 10, 1, stat),
            Err(Error::Invalid { .. })
        ));
        let failing = resample(3, 10, 1, |_| Err(Error::Empty { what: "statistic" }));
        assert!(matches!(failing, Err(Error::Empty { what: "statistic" })));
    }

    #[test]
    fn macro_mean_resamples_within_groups() {
        // Group a: 1 of 2 right (0.5); group b: 8 of 8 right (1.0).
        let a = [1.0, 0.0];
        let b = [1.0; 8];
        let m = macro_mean_estimate(&[&a, &b]).unwrap();
        assert_eq!(m.value, 0.75);
        assert_eq!(m.n, 10);
        // Only group a varies: stderr is its own halved, the mean moves by a quarter at most.
        assert!((m.stderr - stderr_of_mean(&a) / 2.0).abs() < 1e-12);
        assert!(m.ci_low >= 0.5 && m.ci_high <= 1.0, "{m:?}");
        assert!(m.ci_low < m.value && m.value < m.ci_high, "{m:?}");
        // A single-item group: the spread of the group means instead.
        let one = macro_mean_estimate(&[&a, &[1.0]]).unwrap();
        let means = mean_estimate(&[0.5, 1.0]).unwrap();
        assert_eq!(one, Estimate { n: 3, ..means });
        assert!(macro_mean_estimate(&[&a, &[]]).is_err());
        assert!(macro_mean_estimate(&[]).is_err());
    }

    #[test]
    fn paired_bootstrap_detects_a_real_difference_only() {
        let a: Vec<f64> = (0..300).map(|i| f64::from(i % 4 != 0)).collect();
        let b: Vec<f64> = (0..300).map(|i| f64::from(i % 2 == 0)).collect();
        let d = paired_bootstrap(&a, &b, 1000, 7).unwrap();
        assert!(d.significant(), "{d:?}");
        let same = paired_bootstrap(&a, &a, 1000, 7).unwrap();
        assert!(!same.significant());
        assert!(paired_bootstrap(&a, &b[..10], 10, 1).is_err());
    }

    #[test]
    fn distribution_reports_p999_only_with_enough_values() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        let d = Distribution::of(&xs).unwrap();
        assert_eq!(d.p999, None);
        assert!((d.p50 - 50.5).abs() < 1e-12);
        let many: Vec<f64> = (0..1000).map(f64::from).collect();
        assert!(Distribution::of(&many).unwrap().p999.is_some());
    }
}
