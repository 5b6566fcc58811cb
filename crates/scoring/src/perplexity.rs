//! Perplexity helpers as lm-eval computes them from summed natural-log likelihoods.

use crate::{Error, Result};

fn check(loglik: f64, units: f64, what: &'static str) -> Result<()> {
    if !loglik.is_finite() || loglik > 0.0 {
        return Err(Error::Invalid {
            what,
            detail: format!("log-likelihood {loglik} is not a finite value <= 0"),
        });
    }
    if units <= 0.0 || !units.is_finite() {
        return Err(Error::Invalid {
            what,
            detail: format!("unit count {units} is not positive"),
        });
    }
    Ok(())
}

/// `exp(-sum(ll) / sum(units))`: lm-eval's `weighted_perplexity` (word or byte perplexity
/// with words or UTF-8 bytes as units, token perplexity with tokens).
pub fn weighted_perplexity(total_loglik: f64, total_units: u64) -> Result<f64> {
    check(total_loglik, total_units as f64, "perplexity")?;
    Ok((-total_loglik / total_units as f64).exp())
}

/// `-sum(ll) / sum(bytes) / ln 2`: lm-eval's `bits_per_byte`.
pub fn bits_per_byte(total_loglik: f64, total_bytes: u64) -> Result<f64> {
    check(total_loglik, total_bytes as f64, "bits_per_byte")?;
    Ok(-total_loglik / total_bytes as f64 / std::f64::consts::LN_2)
}

/// `exp(-mean(ll))` over items: lm-eval's `perplexity` aggregation for log-likelihood tasks.
pub fn perplexity_of_items(logliks: &[f64]) -> Result<f64> {
    if logliks.is_empty() {
        return Err(Error::Empty { what: "perplexity" });
    }
    for &ll in logliks {
        check(ll, 1.0, "perplexity")?;
    }
    Ok((-logliks.iter().sum::<f64>() / logliks.len() as f64).exp())
}

/// Words as lm-eval counts them for word perplexity (`re.split(r"\s+", doc)`).
pub fn count_words(text: &str) -> u64 {
    // re.split keeps empty leading/trailing pieces, so a leading space adds one "word".
    let mut n = 1u64;
    let mut in_space = false;
    for c in text.chars() {
        if crate::text::py_is_space(c) {
            if !in_space {
                n += 1;
            }
            in_space = true;
        } else {
            in_space = false;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let ppl = weighted_perplexity(-10.0, 5).unwrap();
        assert!((ppl - 2f64.exp()).abs() < 1e-12);
        let bpb = bits_per_byte(-8.0 * std::f64::consts::LN_2, 4).unwrap();
        assert!((bpb - 2.0).abs() < 1e-12);
        assert!((perplexity_of_items(&[-1.0, -3.0]).unwrap() - 2f64.exp()).abs() < 1e-12);
        assert!(weighted_perplexity(f64::NAN, 3).is_err());
        assert!(bits_per_byte(-1.0, 0).is_err());
        assert_eq!(count_words("a b  c"), 3);
        assert_eq!(count_words(" a"), 2);
    }
}
