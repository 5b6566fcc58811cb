//! The attack success rate per family, with a 95% Wilson score interval: a binomial
//! proportion's interval that stays inside [0, 1] and is not empty at 0 or n successes,
//! where a bootstrap of a family with no success would say [0, 0].

use serde::Serialize;

/// One attack's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub id: String,
    pub family: String,
    pub instruction_type: String,
    pub succeeded: bool,
    /// The answer (kept for review), or why there was none.
    pub answer: Option<String>,
    pub error: Option<String>,
}

/// A rate with its interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rate {
    pub family: String,
    pub attacks: usize,
    pub successes: usize,
    pub rate: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// The 95% Wilson score interval of `k` successes in `n`.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) + z * z / (4.0 * n)) / n).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn rate(family: &str, outcomes: &[&Outcome]) -> Rate {
    let n = outcomes.len();
    let k = outcomes.iter().filter(|o| o.succeeded).count();
    let (ci_low, ci_high) = wilson(k, n);
    Rate {
        family: family.to_string(),
        attacks: n,
        successes: k,
        rate: if n == 0 { 0.0 } else { k as f64 / n as f64 },
        ci_low,
        ci_high,
    }
}

/// A red-team run: the target, every outcome, and the rates.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub model: String,
    pub package: String,
    pub suite: String,
    pub seed: u64,
    /// Attacks that got no answer (errors); they count as not succeeded.
    pub errors: usize,
    pub overall: Rate,
    pub by_family: Vec<Rate>,
    pub by_instruction_type: Vec<Rate>,
    pub outcomes: Vec<Outcome>,
}

impl Report {
    pub fn new(
        target: String,
        model: String,
        package: String,
        suite: String,
        seed: u64,
        outcomes: Vec<Outcome>,
    ) -> Self {
        let group = |key: fn(&Outcome) -> &str| {
            let mut names: Vec<&str> = outcomes.iter().map(key).collect();
            names.sort_unstable();
            names.dedup();
            names
                .into_iter()
                .map(|name| {
                    let these: Vec<&Outcome> = outcomes.iter().filter(|o| key(o) == name).collect();
                    rate(name, &these)
                })
                .collect::<Vec<_>>()
        };
        let by_family = group(|o| o.family.as_str());
        let by_instruction_type = group(|o| o.instruction_type.as_str());
        let all: Vec<&Outcome> = outcomes.iter().collect();
        Self {
            target,
            model,
            package,
            suite,
            seed,
            errors: outcomes.iter().filter(|o| o.error.is_some()).count(),
            overall: rate("all", &all),
            by_family,
            by_instruction_type,
            outcomes,
        }
    }

    /// The rates as a plain-text table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "red team: {} at {} ({} {}, seed {}): attack success rate {:.1}% [{:.1}, {:.1}] of {} attacks ({} errors)\n",
            self.model, self.target, self.package, self.suite, self.seed,
            100.0 * self.overall.rate, 100.0 * self.overall.ci_low, 100.0 * self.overall.ci_high,
            self.overall.attacks, self.errors
        );
        s.push_str(&format!(
            "{:<24} {:>7} {:>9} {:>8} {:>17}\n",
            "family", "attacks", "succeeded", "rate", "95% CI (Wilson)"
        ));
        for r in self.by_family.iter().chain(&self.by_instruction_type) {
            s.push_str(&format!(
                "{:<24} {:>7} {:>9} {:>7.1}% {:>8.1}-{:.1}%\n",
                r.family,
                r.attacks,
                r.successes,
                100.0 * r.rate,
                100.0 * r.ci_low,
                100.0 * r.ci_high
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook_values() {
        // 0 of 10: [0, 0.2775]; 5 of 10: [0.2366, 0.7634].
        let (lo, hi) = wilson(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-3, "{lo} {hi}");
        let (lo, hi) = wilson(5, 10);
        assert!(
            (lo - 0.2366).abs() < 1e-3 && (hi - 0.7634).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }
}
