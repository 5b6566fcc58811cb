//! Pareto frontiers: 2-D for a named pair of axes, and the N-dimensional non-dominated set.

use crate::score::Direction;
use crate::{Error, Result};

/// `a` dominates `b`: at least as good on every axis and strictly better on one.
fn dominates(a: &[f64], b: &[f64], dirs: &[Direction]) -> bool {
    let mut strictly = false;
    for ((x, y), d) in a.iter().zip(b).zip(dirs) {
        if d.better(*y, *x) {
            return false;
        }
        if d.better(*x, *y) {
            strictly = true;
        }
    }
    strictly
}

/// For each point (one value per axis), whether no other point dominates it.
pub fn non_dominated(points: &[Vec<f64>], dirs: &[Direction]) -> Result<Vec<bool>> {
    for (i, p) in points.iter().enumerate() {
        if p.len() != dirs.len() {
            return Err(Error::Invalid {
                what: "Pareto".into(),
                reason: format!("point {i} has {} values for {} axes", p.len(), dirs.len()),
            });
        }
        if p.iter().any(|x| !x.is_finite()) {
            return Err(Error::Invalid {
                what: "Pareto".into(),
                reason: format!("point {i} has a value that is not a finite number"),
            });
        }
    }
    Ok(points
        .iter()
        .map(|p| !points.iter().any(|q| dominates(q, p, dirs)))
        .collect())
}

/// The 2-D frontier of (x, y) points with a direction per axis.
pub fn pareto_2d(points: &[(f64, f64)], x: Direction, y: Direction) -> Result<Vec<bool>> {
    let pts: Vec<Vec<f64>> = points.iter().map(|(a, b)| vec![*a, *b]).collect();
    non_dominated(&pts, &[x, y])
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::*;

    #[test]
    fn latency_accuracy_frontier() {
        // (latency, accuracy): the third point is slower and less accurate than the first.
        let f = pareto_2d(
            &[(1.0, 0.8), (0.5, 0.6), (2.0, 0.7), (0.5, 0.6)],
            LowerIsBetter,
            HigherIsBetter,
        )
        .unwrap();
        assert_eq!(f, vec![true, true, false, true]);
    }

    #[test]
    fn rejects_ragged_points() {
        assert!(non_dominated(&[vec![1.0]], &[LowerIsBetter, LowerIsBetter]).is_err());
    }
}
