//! Summary statistics and their uncertainty.
//!
//! Percentiles interpolate linearly between order statistics (numpy's default),
//! the standard error is lm-evaluation-harness's `mean_stderr` (sample standard
//! deviation over sqrt(n)), and confidence intervals come from a seeded
//! percentile bootstrap so the same run always prints the same interval.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Resamples used by every bootstrap unless a caller asks otherwise.
pub const BOOTSTRAP_RESAMPLES: usize = 1_000;
/// Seed used by every bootstrap unless a caller asks otherwise.
pub const BOOTSTRAP_SEED: u64 = 1234;

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

/// Percentile bootstrap of `statistic` over `xs`, 95% two-sided.
pub fn bootstrap_ci(
    xs: &[f64],
    statistic: impl Fn(&[f64]) -> f64,
    resamples: usize,
    seed: u64,
) -> Result<(f64, f64)> {
    if xs.is_empty() {
        return Err(Error::Empty { what: "bootstrap" });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buf = vec![0.0; xs.len()];
    let mut stats: Vec<f64> = (0..resamples)
        .map(|_| {
            for slot in buf.iter_mut() {
                *slot = xs[rng.gen_range(0..xs.len())];
            }
            statistic(&buf)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    Ok((
        percentile_sorted(&stats, 2.5),
        percentile_sorted(&stats, 97.5),
    ))
}

/// The mean of per-sample scores with its standard error and 95% bootstrap CI.
pub fn mean_estimate(xs: &[f64]) -> Result<Estimate> {
    let value = mean(xs)?;
    let (ci_low, ci_high) = bootstrap_ci(
        xs,
        |s| s.iter().sum::<f64>() / s.len() as f64,
        BOOTSTRAP_RESAMPLES,
        BOOTSTRAP_SEED,
    )?;
    Ok(Estimate {
        value,
        stderr: stderr_of_mean(xs),
        ci_low,
        ci_high,
        n: xs.len(),
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
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = diffs.len();
    let mut stats: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| diffs[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    stats.sort_by(f64::total_cmp);
    // Share of resampled deltas on the far side of zero, doubled (two-sided).
    let opposite = if delta >= 0.0 {
        stats.iter().filter(|d| **d <= 0.0).count()
    } else {
        stats.iter().filter(|d| **d >= 0.0).count()
    };
    let p_value = ((2 * opposite) as f64 / resamples as f64).min(1.0);
    Ok(PairedDifference {
        delta,
        ci_low: percentile_sorted(&stats, 2.5),
        ci_high: percentile_sorted(&stats, 97.5),
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
