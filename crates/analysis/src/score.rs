//! Composite scores: seed 001's PER, seed 004's OM, and seed 000's medals.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

impl Direction {
    /// True when `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Self::HigherIsBetter => a > b,
            Self::LowerIsBetter => a < b,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Self::HigherIsBetter => "higher is better",
            Self::LowerIsBetter => "lower is better",
        }
    }
}

fn check_finite(what: &str, xs: &[f64]) -> Result<()> {
    if xs.is_empty() {
        return Err(Error::Invalid {
            what: what.to_string(),
            reason: "no values".into(),
        });
    }
    if let Some((i, x)) = xs.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(Error::Invalid {
            what: what.to_string(),
            reason: format!("value {i} is {x}"),
        });
    }
    Ok(())
}

/// Seed 001's min-max normalisation to [0, 1], flipped for lower-is-better metrics.
///
/// When every value is equal the formula is 0/0; no configuration is worse than another,
/// so each gets 1.
pub fn min_max(xs: &[f64], dir: Direction) -> Result<Vec<f64>> {
    check_finite("min-max normalisation", xs)?;
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = hi - lo;
    Ok(xs
        .iter()
        .map(|x| {
            if span == 0.0 {
                1.0
            } else {
                let n = (x - lo) / span;
                match dir {
                    Direction::HigherIsBetter => n,
                    Direction::LowerIsBetter => 1.0 - n,
                }
            }
        })
        .collect())
}

/// Seed 001's Performance-Efficiency Ratio over one compared set (one task, one accelerator):
/// the fourth root of the product of min-max normalised accuracy, throughput (higher is
/// better), memory and latency (lower is better).
pub fn per(
    accuracy: &[f64],
    throughput: &[f64],
    latency: &[f64],
    memory: &[f64],
) -> Result<Vec<f64>> {
    let n = accuracy.len();
    for (what, xs) in [
        ("throughput", throughput),
        ("latency", latency),
        ("memory", memory),
    ] {
        if xs.len() != n {
            return Err(Error::Invalid {
                what: "PER".into(),
                reason: format!("{n} accuracies but {} {what} values", xs.len()),
            });
        }
    }
    let a = min_max(accuracy, Direction::HigherIsBetter)?;
    let t = min_max(throughput, Direction::HigherIsBetter)?;
    let l = min_max(latency, Direction::LowerIsBetter)?;
    let m = min_max(memory, Direction::LowerIsBetter)?;
    Ok((0..n)
        .map(|i| (a[i] * t[i] * m[i] * l[i]).powf(0.25))
        .collect())
}

/// OM weights for quality, latency and energy (seed 004, equation 1); they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OmWeights {
    pub quality: f64,
    pub latency: f64,
    pub energy: f64,
}

impl OmWeights {
    pub fn new(quality: f64, latency: f64, energy: f64) -> Result<Self> {
        let w = Self {
            quality,
            latency,
            energy,
        };
        let ok = [quality, latency, energy]
            .iter()
            .all(|x| x.is_finite() && *x >= 0.0);
        if !ok || (quality + latency + energy - 1.0).abs() > 1e-6 {
            return Err(Error::Invalid {
                what: "OM weights".into(),
                reason: format!(
                    "{quality},{latency},{energy}: each must be >= 0 and they must sum to 1"
                ),
            });
        }
        Ok(w)
    }

    /// Short label: percentages of quality / latency / energy.
    pub fn label(&self) -> String {
        format!(
            "{:.0}/{:.0}/{:.0}",
            self.quality * 100.0,
            self.latency * 100.0,
            self.energy * 100.0
        )
    }
}

/// Seed 004's Overall Metric of each row against the reference row `reference`:
/// sqrt(wq (Q_E/Q_R)^2 + wl (L_R/L_E)^2 + we (E_R/E_E)^2). Above 1 beats the reference.
pub fn om(
    quality: &[f64],
    latency: &[f64],
    energy: &[f64],
    reference: usize,
    w: OmWeights,
) -> Result<Vec<f64>> {
    let n = quality.len();
    if latency.len() != n || energy.len() != n || reference >= n {
        return Err(Error::Invalid {
            what: "OM".into(),
            reason: format!(
                "{n} qualities, {} latencies, {} energies, reference index {reference}",
                latency.len(),
                energy.len()
            ),
        });
    }
    check_finite("OM quality", quality)?;
    check_finite("OM latency", latency)?;
    check_finite("OM energy", energy)?;
    let (qr, lr, er) = (quality[reference], latency[reference], energy[reference]);
    if qr <= 0.0 {
        return Err(Error::Invalid {
            what: "OM".into(),
            reason: format!("reference quality is {qr}; the ratio needs it above 0"),
        });
    }
    (0..n)
        .map(|i| {
            if latency[i] <= 0.0 || energy[i] <= 0.0 {
                return Err(Error::Invalid {
                    what: "OM".into(),
                    reason: format!(
                        "row {i}: latency {} and energy {} must be above 0",
                        latency[i], energy[i]
                    ),
                });
            }
            let q = quality[i] / qr;
            let l = lr / latency[i];
            let e = er / energy[i];
            Ok((w.quality * q * q + w.latency * l * l + w.energy * e * e).sqrt())
        })
        .collect()
}

/// The weighting scenarios of the ranking chart, after seed 004's Figure 3: the quality
/// weight rises from 0 to 100% and latency and energy share the rest equally; the 96% step
/// is the paper's "latency and energy at least 2% each" boundary.
pub fn weight_grid() -> Vec<OmWeights> {
    [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.96, 1.0]
        .iter()
        .map(|&q| OmWeights {
            quality: q,
            latency: (1.0 - q) / 2.0,
            energy: (1.0 - q) / 2.0,
        })
        .collect()
}

/// Ranks (1 = best) of `scores`, higher is better; ties share the better rank.
pub fn ranks(scores: &[f64]) -> Vec<usize> {
    scores
        .iter()
        .map(|s| 1 + scores.iter().filter(|o| **o > *s).count())
        .collect()
}

/// Seed 000's medals of one row: how many metrics it placed first, second and third on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Medals {
    pub gold: usize,
    pub silver: usize,
    pub bronze: usize,
}

impl Medals {
    pub fn total(&self) -> usize {
        self.gold + self.silver + self.bronze
    }

    /// Adds another tally (one task's medals to a model's study-wide count).
    pub fn add(&mut self, o: Medals) {
        self.gold += o.gold;
        self.silver += o.silver;
        self.bronze += o.bronze;
    }

    /// `gold/silver/bronze`, as the tables show it.
    pub fn label(&self) -> String {
        format!("{}/{}/{}", self.gold, self.silver, self.bronze)
    }

    /// Olympic order: more golds first, then silvers, then bronzes.
    pub fn olympic_cmp(&self, o: &Medals) -> std::cmp::Ordering {
        (o.gold, o.silver, o.bronze).cmp(&(self.gold, self.silver, self.bronze))
    }
}

/// Seed 000's medals: for each metric, rows are placed by competition ranking (one plus
/// the number of rows strictly better, so ties share a place and the next place is
/// skipped); first place is gold, second silver, third bronze. Returns one tally per row.
pub fn medals(metrics: &[(&[f64], Direction)]) -> Result<Vec<Medals>> {
    let n = metrics.first().map_or(0, |(xs, _)| xs.len());
    let mut counts = vec![Medals::default(); n];
    for (xs, dir) in metrics {
        if xs.len() != n {
            return Err(Error::Invalid {
                what: "medals".into(),
                reason: format!("metrics of {} and {n} rows", xs.len()),
            });
        }
        check_finite("medals", xs)?;
        for (c, x) in counts.iter_mut().zip(xs.iter()) {
            let place = 1 + xs.iter().filter(|o| dir.better(**o, *x)).count();
            match place {
                1 => c.gold += 1,
                2 => c.silver += 1,
                3 => c.bronze += 1,
                _ => {}
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_flips_lower_is_better() {
        let v = min_max(&[1.0, 3.0, 2.0], Direction::LowerIsBetter).unwrap();
        assert_eq!(v, vec![1.0, 0.0, 0.5]);
    }

    #[test]
    fn om_of_reference_is_one() {
        let w = OmWeights::new(0.5, 0.25, 0.25).unwrap();
        let s = om(&[0.9, 0.8], &[2.0, 1.0], &[10.0, 5.0], 0, w).unwrap();
        assert!((s[0] - 1.0).abs() < 1e-12);
        let expect = (0.5 * (0.8f64 / 0.9).powi(2) + 0.25 * 4.0 + 0.25 * 4.0).sqrt();
        assert!((s[1] - expect).abs() < 1e-12);
    }

    #[test]
    fn weights_must_sum_to_one() {
        assert!(OmWeights::new(0.5, 0.5, 0.5).is_err());
    }

    #[test]
    fn medals_share_ties_and_skip_the_next_place() {
        let acc = [0.5, 0.7, 0.7, 0.1];
        let lat = [1.0, 2.0, 3.0, 4.0];
        let m = medals(&[
            (&acc[..], Direction::HigherIsBetter),
            (&lat[..], Direction::LowerIsBetter),
        ])
        .unwrap();
        let t = |gold, silver, bronze| Medals {
            gold,
            silver,
            bronze,
        };
        // Accuracy: two golds share first, 0.5 is third (bronze), 0.1 fourth.
        // Latency: 1.0 gold, 2.0 silver, 3.0 bronze.
        assert_eq!(m, vec![t(1, 0, 1), t(1, 1, 0), t(1, 0, 1), t(0, 0, 0)]);
        assert_eq!(m[0].label(), "1/0/1");
        let mut sorted = m.clone();
        sorted.sort_by(|a, b| a.olympic_cmp(b));
        assert_eq!(sorted[0], t(1, 1, 0));
    }
}
