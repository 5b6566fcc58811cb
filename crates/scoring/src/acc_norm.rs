//! Multiple-choice selection as lm-eval does it: `acc` takes the argmax of the summed
//! log-likelihood, `acc_norm` the argmax of log-likelihood per UTF-8 byte of the
//! continuation. Ties go to the first choice (numpy's argmax).

use crate::{Error, Result};

fn argmax(xs: impl Iterator<Item = f64>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, x) in xs.enumerate() {
        if !matches!(best, Some((_, b)) if x <= b) {
            best = Some((i, x));
        }
    }
    best.map(|(i, _)| i)
}

/// Index of the choice with the highest log-likelihood.
pub fn select_acc(logliks: &[f64]) -> Result<usize> {
    argmax(logliks.iter().copied()).ok_or(Error::Empty { what: "acc" })
}

/// Index of the choice with the highest log-likelihood per continuation byte.
pub fn select_acc_norm(logliks: &[f64], continuations: &[&str]) -> Result<usize> {
    if logliks.len() != continuations.len() {
        return Err(Error::LengthMismatch {
            predictions: logliks.len(),
            references: continuations.len(),
        });
    }
    argmax(
        logliks
            .iter()
            .zip(continuations)
            .map(|(l, c)| l / c.len() as f64),
    )
    .ok_or(Error::Empty { what: "acc_norm" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_changes_choice() {
        let ll = [-4.0, -6.0];
        let conts = [" ab", " abcdefghi"];
        assert_eq!(select_acc(&ll).unwrap(), 0);
        assert_eq!(select_acc_norm(&ll, &conts).unwrap(), 1);
        assert_eq!(select_acc(&[-1.0, -1.0]).unwrap(), 0);
        assert!(select_acc_norm(&ll, &conts[..1]).is_err());
    }
}
