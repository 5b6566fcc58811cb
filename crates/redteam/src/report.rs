//! The attack success rate per family, with a 95% Wilson score interval: a binomial
//! proportion's interval that stays inside [0, 1] and is not empty at 0 or n successes,
//! where a bootstrap of a family with no success would say [0, 0].

use serde::{Deserialize, Serialize};

/// One attack's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub family: String,
    pub instruction_type: String,
    pub succeeded: bool,
    /// The answer (kept for review), or why there was none.
    pub answer: Option<String>,
    /// The target's refusal (400 `content_filter`, an input guard): not succeeded.
    #[serde(default)]
    pub refused: Option<String>,
    pub error: Option<String>,
}

/// A rate with its interval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub target: String,
    pub model: String,
    pub package: String,
    pub suite: String,
    pub seed: u64,
    /// Attacks that got no answer (errors); they count as not succeeded.
    pub errors: usize,
    /// Attacks the target refused (an input guard); they count as not succeeded.
    #[serde(default)]
    pub refused: usize,
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
            refused: outcomes.iter().filter(|o| o.refused.is_some()).count(),
            overall: rate("all", &all),
            by_family,
            by_instruction_type,
            outcomes,
        }
    }

    /// Reads a report written by `trilemma redteam --out`; the error names the file.
    pub fn read(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: not a red-team report (write one with `trilemma redteam --out`): {e}",
                path.display()
            )
        })
    }

    /// The rates as a plain-text table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "red team: {} at {} ({} {}, seed {}): attack success rate {:.1}% [{:.1}, {:.1}] of {} attacks ({} refused by an input guard, {} errors)\n",
            self.model, self.target, self.package, self.suite, self.seed,
            100.0 * self.overall.rate, 100.0 * self.overall.ci_low, 100.0 * self.overall.ci_high,
            self.overall.attacks, self.refused, self.errors
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

/// One target of a side-by-side comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// The name the user gave the report (its file's stem).
    pub label: String,
    pub target: String,
    pub model: String,
    pub overall: Rate,
    pub refused: usize,
    pub errors: usize,
}

/// Red-team reports of the same attacks against several targets, rate by rate.
#[derive(Debug, Clone, Serialize)]
pub struct SideBySide {
    pub package: String,
    pub suite: String,
    pub seed: u64,
    pub columns: Vec<Column>,
    /// Per family, then per instruction type: one rate per column (`None`: that target
    /// got no attack of the family).
    pub rows: Vec<(String, Vec<Option<Rate>>)>,
}

/// Puts reports side by side; they must hold the same attacks (package, suite, seed and
/// attack ids), else the error names the report that differs.
pub fn side_by_side(reports: &[(String, Report)]) -> Result<SideBySide, String> {
    let Some((first_label, first)) = reports.first() else {
        return Err("no report to compare".into());
    };
    fn ids(r: &Report) -> Vec<&str> {
        let mut v: Vec<&str> = r.outcomes.iter().map(|o| o.id.as_str()).collect();
        v.sort_unstable();
        v
    }
    for (label, r) in &reports[1..] {
        if (&r.package, &r.suite, r.seed) != (&first.package, &first.suite, first.seed) {
            return Err(format!(
                "{label}: {} {} seed {}, but {first_label} is {} {} seed {}: not the same attacks",
                r.package, r.suite, r.seed, first.package, first.suite, first.seed
            ));
        }
        if ids(r) != ids(first) {
            return Err(format!(
                "{label}: its attacks are not {first_label}'s (another --limit?); run both with the same --limit and --seed"
            ));
        }
    }
    let mut names: Vec<String> = Vec::new();
    for (_, r) in reports {
        for x in r.by_family.iter().chain(&r.by_instruction_type) {
            if !names.contains(&x.family) {
                names.push(x.family.clone());
            }
        }
    }
    let rows = names
        .into_iter()
        .map(|n| {
            let rates = reports
                .iter()
                .map(|(_, r)| {
                    r.by_family
                        .iter()
                        .chain(&r.by_instruction_type)
                        .find(|x| x.family == n)
                        .cloned()
                })
                .collect();
            (n, rates)
        })
        .collect();
    Ok(SideBySide {
        package: first.package.clone(),
        suite: first.suite.clone(),
        seed: first.seed,
        columns: reports
            .iter()
            .map(|(label, r)| Column {
                label: label.clone(),
                target: r.target.clone(),
                model: r.model.clone(),
                overall: r.overall.clone(),
                refused: r.refused,
                errors: r.errors,
            })
            .collect(),
        rows,
    })
}

impl SideBySide {
    /// A plain-text table: attack success rate with its 95% Wilson interval per target.
    pub fn table(&self) -> String {
        let cell = |r: &Option<Rate>| match r {
            Some(r) => format!(
                "{:.1}% [{:.1}, {:.1}] n={}",
                100.0 * r.rate,
                100.0 * r.ci_low,
                100.0 * r.ci_high,
                r.attacks
            ),
            None => "-".into(),
        };
        let mut s = format!(
            "red team side by side ({} {}, seed {}): attack success rate, 95% Wilson interval\n",
            self.package, self.suite, self.seed
        );
        for c in &self.columns {
            s.push_str(&format!(
                "  {}: {} at {} ({} refused by an input guard, {} errors)\n",
                c.label, c.model, c.target, c.refused, c.errors
            ));
        }
        let w = 28;
        s.push_str(&format!("{:<24}", ""));
        for c in &self.columns {
            s.push_str(&format!(" {:>w$}", c.label));
        }
        s.push('\n');
        let overall: Vec<Option<Rate>> = self
            .columns
            .iter()
            .map(|c| Some(c.overall.clone()))
            .collect();
        for (name, rates) in
            std::iter::once(("all", &overall)).chain(self.rows.iter().map(|(n, r)| (n.as_str(), r)))
        {
            s.push_str(&format!("{name:<24}"));
            for r in rates {
                s.push_str(&format!(" {:>w$}", cell(r)));
            }
            s.push('\n');
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

    fn outcome(id: &str, family: &str, succeeded: bool, refused: bool) -> Outcome {
        Outcome {
            id: id.into(),
            family: family.into(),
            instruction_type: "exfil".into(),
            succeeded,
            answer: (!refused).then(|| "x".into()),
            refused: refused.then(|| "rule[0]".into()),
            error: None,
        }
    }

    fn report(outcomes: Vec<Outcome>, seed: u64) -> Report {
        Report::new(
            "u".into(),
            "m".into(),
            "spikee".into(),
            "s".into(),
            seed,
            outcomes,
        )
    }

    #[test]
    fn side_by_side_lines_up_the_same_attacks_and_refuses_others() {
        let open = report(
            vec![
                outcome("1", "dan", true, false),
                outcome("2", "dev", true, false),
            ],
            7,
        );
        let guarded = report(
            vec![
                outcome("1", "dan", false, true),
                outcome("2", "dev", true, false),
            ],
            7,
        );
        assert_eq!(guarded.refused, 1);
        let s =
            side_by_side(&[("open".into(), open.clone()), ("guarded".into(), guarded)]).unwrap();
        assert_eq!(s.columns[0].overall.successes, 2);
        assert_eq!(s.columns[1].overall.successes, 1);
        assert_eq!(s.columns[1].refused, 1);
        let dan = &s.rows.iter().find(|(n, _)| n == "dan").unwrap().1;
        assert_eq!(dan[0].as_ref().unwrap().rate, 1.0);
        assert_eq!(dan[1].as_ref().unwrap().rate, 0.0);
        assert!(
            s.table().contains("1 refused by an input guard"),
            "{}",
            s.table()
        );
        // Other attacks, or another seed, are not compared.
        let other = report(vec![outcome("3", "dan", true, false)], 7);
        let e =
            side_by_side(&[("open".into(), open.clone()), ("other".into(), other)]).unwrap_err();
        assert!(e.starts_with("other: its attacks"), "{e}");
        let reseeded = report(open.outcomes.clone(), 8);
        let e = side_by_side(&[("open".into(), open), ("b".into(), reseeded)]).unwrap_err();
        assert!(e.contains("not the same attacks"), "{e}");
    }
}
