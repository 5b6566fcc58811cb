//! Recommendations per deployment objective (seed 003 Table IV, seed 000's framework).

use serde::{Deserialize, Serialize};
use trilemma_core::stats::{paired_bootstrap, BOOTSTRAP_RESAMPLES};
use trilemma_core::DEFAULT_SEED;

use crate::score::{min_max, Direction};
use crate::{Error, Result};

/// One configuration that can be recommended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub name: String,
    pub accuracy: f64,
    pub latency: f64,
    pub energy: Option<f64>,
    /// Per-item accuracy scores, in a shared item order, when known (for the paired test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_scores: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    AccuracyCritical,
    LatencyCritical,
    EnergyConstrained,
    /// Highest geometric mean of min-max normalised accuracy, latency and energy (PER's form
    /// over the trilemma's three axes).
    Balanced,
}

impl Objective {
    pub fn label(self) -> &'static str {
        match self {
            Self::AccuracyCritical => "accuracy-critical",
            Self::LatencyCritical => "latency-critical",
            Self::EnergyConstrained => "energy-constrained",
            Self::Balanced => "balanced",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub objective: Objective,
    pub choice: String,
    pub runner_up: Option<String>,
    /// How far the choice beats the runner-up on the objective's figure (accuracy, latency,
    /// energy or balanced score, in that figure's unit); never negative.
    pub margin: Option<f64>,
    /// `significant (p=...)`, `not significant (p=...)` or `not tested (...)`.
    pub significance: String,
}

fn best_two(values: &[f64], dir: Direction) -> (usize, Option<usize>) {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|a, b| {
        let o = values[*a].total_cmp(&values[*b]);
        match dir {
            Direction::HigherIsBetter => o.reverse(),
            Direction::LowerIsBetter => o,
        }
    });
    (idx[0], idx.get(1).copied())
}

/// The recommendation for each objective; energy-constrained and balanced need energy on
/// every candidate and are left out otherwise.
pub fn recommend(cands: &[Candidate]) -> Result<Vec<Recommendation>> {
    if cands.is_empty() {
        return Err(Error::Invalid {
            what: "recommendations".into(),
            reason: "no candidates".into(),
        });
    }
    let acc: Vec<f64> = cands.iter().map(|c| c.accuracy).collect();
    let lat: Vec<f64> = cands.iter().map(|c| c.latency).collect();
    let energy: Option<Vec<f64>> = cands.iter().map(|c| c.energy).collect();
    let mut objectives = vec![
        (
            Objective::AccuracyCritical,
            acc.clone(),
            Direction::HigherIsBetter,
        ),
        (
            Objective::LatencyCritical,
            lat.clone(),
            Direction::LowerIsBetter,
        ),
    ];
    if let Some(e) = energy {
        let a = min_max(&acc, Direction::HigherIsBetter)?;
        let l = min_max(&lat, Direction::LowerIsBetter)?;
        let en = min_max(&e, Direction::LowerIsBetter)?;
        let balanced = (0..cands.len())
            .map(|i| (a[i] * l[i] * en[i]).cbrt())
            .collect();
        objectives.push((Objective::EnergyConstrained, e, Direction::LowerIsBetter));
        objectives.push((Objective::Balanced, balanced, Direction::HigherIsBetter));
    }
    objectives
        .into_iter()
        .map(|(objective, values, dir)| {
            let (best, second) = best_two(&values, dir);
            let significance = match (objective, second) {
                (_, None) => "not tested (one candidate)".to_string(),
                (Objective::AccuracyCritical, Some(s)) => {
                    match (&cands[best].item_scores, &cands[s].item_scores) {
                        (Some(a), Some(b)) if a.len() == b.len() && !a.is_empty() => {
                            let d = paired_bootstrap(a, b, BOOTSTRAP_RESAMPLES, DEFAULT_SEED)?;
                            format!(
                                "{} (paired bootstrap, p={:.3}, n={})",
                                if d.significant() {
                                    "significant"
                                } else {
                                    "not significant"
                                },
                                d.p_value,
                                d.n
                            )
                        }
                        _ => "not tested (no shared per-item scores)".to_string(),
                    }
                }
                _ => "not tested (no per-item values)".to_string(),
            };
            Ok(Recommendation {
                objective,
                choice: cands[best].name.clone(),
                runner_up: second.map(|s| cands[s].name.clone()),
                margin: second.map(|s| (values[best] - values[s]).abs()),
                significance,
            })
        })
        .collect()
}
