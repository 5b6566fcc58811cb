//! Calibration: replay recorded runs through the policy, pick the cheapest plan whose
//! quality meets the target with 95% confidence on one half of the items, and report it on
//! the other half beside the monolith, a fixed-threshold (FrugalGPT-style) cascade and the
//! whole two-tier frontier (oracle, random routing, AUC, APGR, CPT).

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::CascadeConfig;
use crate::frontier::frontier;
pub use crate::frontier::{Frontier, FrontierPoint};
use crate::replay::{Item, Joined, TierRun};
use crate::route::{evaluate, monolith, route, with_thresholds, Plan, Point, Step};
use crate::signal::Judge;
use crate::{Error, Result};

/// The calibration file's format version.
pub const CALIBRATION_SCHEMA: u32 = 1;

/// The quality a calibration must reach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    /// An absolute quality (the primary metric).
    Absolute(f64),
    /// A share of the best single tier's quality on the fit half (`0.95x`).
    OfBest(f64),
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (num, rel) = match s.strip_suffix('x') {
            Some(n) => (n, true),
            None => (s, false),
        };
        let v: f64 = num.trim().parse().map_err(|_| {
            format!("--target {s:?}: give a quality such as 0.6, or 0.95x of the best tier")
        })?;
        let ok = if rel {
            v > 0.0 && v <= 1.0
        } else {
            (0.0..=1.0).contains(&v)
        };
        if !ok {
            return Err(format!("--target {s:?}: must lie in 0..=1 (or 0..=1x)"));
        }
        Ok(if rel {
            Self::OfBest(v)
        } else {
            Self::Absolute(v)
        })
    }
}

/// Settings of a calibration.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    pub target: Target,
    /// Seeds the fit/report split.
    pub seed: u64,
}

/// A calibration: the plan, what it achieved, and what it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub schema_version: u32,
    pub signal: String,
    pub tiers: Vec<String>,
    pub plan: Plan,
    pub target: Target,
    /// The target as a quality on the fit half.
    pub target_quality: f64,
    /// True when the plan's lower 95% bound on the fit half meets the target.
    pub met: bool,
    pub seed: u64,
    pub fit_items: usize,
    pub report_items: usize,
    /// The plan on the fit half (where it was chosen).
    pub fit: Point,
    /// The plan on the report half: what it achieves.
    pub achieved: Point,
    /// The last tier alone on the report half.
    pub monolith: Point,
    /// Each tier alone on the report half.
    pub tier_alone: Vec<Point>,
    /// The cascade file's own thresholds (uncalibrated, FrugalGPT-style), when it has them.
    pub fixed: Option<Point>,
    pub frontier: Frontier,
    /// Plain sentences: skipped tiers, the verdict against the monolith.
    pub findings: Vec<String>,
    pub runs: Vec<TierRun>,
    /// Items a run held that another did not, per tier (ids).
    pub unmatched: Vec<(String, Vec<String>)>,
    /// Rules that need the live request (pattern, header, metadata): not replayed.
    pub live_only_rules: usize,
    /// Which tier answers each item under the plan (all items, both halves).
    pub routes: BTreeMap<String, String>,
}

/// The cost a plan is ranked by: J/request where every tier has energy, else USD/request
/// where any tier has a price, else latency.
fn cost(p: &Point, by: CostBy) -> f64 {
    match by {
        CostBy::Energy => p.joules_per_request.unwrap_or(f64::INFINITY),
        CostBy::Usd => p.usd_per_request,
        CostBy::Latency => p.latency_p50_s,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CostBy {
    Energy,
    Usd,
    Latency,
}

impl CostBy {
    fn name(self) -> &'static str {
        match self {
            Self::Energy => "energy per request",
            Self::Usd => "USD per request",
            Self::Latency => "median latency",
        }
    }
}

/// Offline rules: the tier a `min_prompt_tokens` rule sends each item to (tier 0's prompt
/// length); rules on the live request, and refusals, are not replayed and are counted.
fn offline_rules(cfg: &CascadeConfig, items: &[&Item]) -> (Vec<Option<usize>>, usize) {
    let live = cfg
        .rules
        .iter()
        .filter(|r| r.refuse || r.pattern.is_some() || r.header.is_some() || !r.metadata.is_empty())
        .count();
    let routes = items
        .iter()
        .map(|item| {
            cfg.rules.iter().find_map(|r| {
                let only_length =
                    r.pattern.is_none() && r.header.is_none() && r.metadata.is_empty();
                let min = r.min_prompt_tokens?;
                (only_length && item.tiers[0].prompt_tokens >= min)
                    .then(|| r.tier.as_deref().and_then(|t| cfg.tier_index(t)))
                    .flatten()
            })
        })
        .collect();
    (routes, live)
}

/// Candidate steps for a non-last tier: skip it, or accept at one of its scores' quantiles.
pub(crate) fn candidates(
    judge: &Judge,
    items: &[&Item],
    tier: usize,
    per_tier: usize,
) -> Vec<Step> {
    let mut scores: Vec<f64> = items
        .iter()
        .filter_map(|i| judge.score(&i.tiers[tier].answer))
        .collect();
    scores.sort_by(f64::total_cmp);
    let mut out = vec![Step::Skip];
    if scores.is_empty() {
        return out;
    }
    let mut last = None;
    for k in 0..per_tier {
        let idx = (k * (scores.len() - 1)) / (per_tier - 1).max(1);
        let t = scores[idx];
        if last != Some(t) {
            out.push(Step::Threshold { threshold: t });
            last = Some(t);
        }
    }
    out
}

/// Every combination of candidate steps (the last tier answers).
fn plans(cands: &[Vec<Step>]) -> Vec<Plan> {
    let mut out: Vec<Plan> = vec![Vec::new()];
    for c in cands {
        out = out
            .into_iter()
            .flat_map(|p| {
                c.iter().map(move |s| {
                    let mut q = p.clone();
                    q.push(*s);
                    q
                })
            })
            .collect();
    }
    for p in &mut out {
        p.push(Step::Answer);
    }
    out
}

/// Calibrates the cascade on the joined runs.
pub fn calibrate(
    cfg: &CascadeConfig,
    joined: &Joined,
    opts: &CalibrateOptions,
) -> Result<Calibration> {
    let judge = Judge::new(&cfg.policy)?;
    let tiers = cfg.tiers.len();
    if joined.items.len() < 4 {
        return Err(Error::Input(format!(
            "{} shared items: calibration needs at least 4 (two per half)",
            joined.items.len()
        )));
    }
    let mut order: Vec<usize> = (0..joined.items.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(opts.seed));
    let half = order.len() / 2;
    let fit: Vec<&Item> = order[..half].iter().map(|&i| &joined.items[i]).collect();
    let report: Vec<&Item> = order[half..].iter().map(|&i| &joined.items[i]).collect();
    let (fit_rules, live_only_rules) = offline_rules(cfg, &fit);
    let (report_rules, _) = offline_rules(cfg, &report);

    let alone = |items: &[&Item], t: usize| {
        // A tier alone answers everything: the tiers after it are never reached.
        let p = monolith(t + 1);
        let items_t: Vec<Item> = items
            .iter()
            .map(|i| Item {
                id: i.id.clone(),
                tiers: i.tiers[..=t].to_vec(),
            })
            .collect();
        let refs: Vec<&Item> = items_t.iter().collect();
        evaluate(&refs, &judge, &p, &[])
    };
    let best_fit = (0..tiers)
        .map(|t| alone(&fit, t).quality.value)
        .fold(f64::NEG_INFINITY, f64::max);
    let target_quality = match opts.target {
        Target::Absolute(q) => q,
        Target::OfBest(x) => x * best_fit,
    };
    let cost_by = if joined.runs.iter().all(|r| r.energy_from.is_some()) {
        CostBy::Energy
    } else if cfg
        .tiers
        .iter()
        .any(|t| t.cost.usd_per_mtok.is_some_and(|u| u > 0.0))
    {
        CostBy::Usd
    } else {
        CostBy::Latency
    };

    // Every plan's quality and cost on the fit half; then the cheapest whose lower bound
    // meets the target.
    let per_tier = match tiers {
        0..=2 => 41,
        3 => 17,
        _ => 7,
    };
    let cands: Vec<Vec<Step>> = (0..tiers - 1)
        .map(|t| candidates(&judge, &fit, t, per_tier))
        .collect();
    let mut scored: Vec<(Plan, Point)> = plans(&cands)
        .into_iter()
        .map(|p| {
            let pt = evaluate(&fit, &judge, &p, &fit_rules);
            (p, pt)
        })
        .collect();
    scored.sort_by(|a, b| {
        cost(&a.1, cost_by)
            .total_cmp(&cost(&b.1, cost_by))
            .then(b.1.quality.value.total_cmp(&a.1.quality.value))
    });
    let chosen = scored
        .iter()
        .find(|(_, pt)| pt.quality.ci_low >= target_quality)
        .map(|(p, pt)| (p.clone(), pt.clone(), true))
        .unwrap_or_else(|| {
            // The highest lower bound; among equals the cheapest (plans are in cost order).
            let (p, pt) = scored
                .iter()
                .reduce(|best, x| {
                    if x.1.quality.ci_low > best.1.quality.ci_low {
                        x
                    } else {
                        best
                    }
                })
                .expect("at least the monolith");
            (p.clone(), pt.clone(), false)
        });
    let (plan, fit_point, met) = chosen;

    let achieved = evaluate(&report, &judge, &plan, &report_rules);
    let mono = evaluate(&report, &judge, &monolith(tiers), &report_rules);
    let tier_alone: Vec<Point> = (0..tiers).map(|t| alone(&report, t)).collect();
    let fixed = (!cfg.policy.thresholds.is_empty()).then(|| {
        evaluate(
            &report,
            &judge,
            &with_thresholds(&cfg.policy.thresholds),
            &report_rules,
        )
    });
    let frontier = frontier(cfg, &judge, &report);

    let mut findings = Vec::new();
    for (t, step) in plan.iter().enumerate().take(tiers - 1) {
        if *step == Step::Skip {
            findings.push(format!(
                "tier {} ({}) is skipped: at the target, calling it did not lower {} (alone it scores {:.3} on the fit half)",
                t,
                cfg.tiers[t].name,
                cost_by.name(),
                alone(&fit, t).quality.value
            ));
        }
    }
    if !met {
        findings.push(format!(
            "no plan reaches the target {target_quality:.3} with 95% confidence on the fit half; the plan with the highest lower bound is kept"
        ));
    }
    let (c_cas, c_mono) = (cost(&achieved, cost_by), cost(&mono, cost_by));
    let versus = format!(
        "quality {:.3} [{:.3}, {:.3}] vs the monolith's {:.3} [{:.3}, {:.3}] (report half, {} items)",
        achieved.quality.value,
        achieved.quality.ci_low,
        achieved.quality.ci_high,
        mono.quality.value,
        mono.quality.ci_low,
        mono.quality.ci_high,
        report.len()
    );
    if plan == monolith(tiers) || c_cas >= c_mono {
        findings.push(format!(
            "the monolith ({}) is the better choice here: no cascade met the target at a lower {}",
            cfg.tiers[tiers - 1].name,
            cost_by.name()
        ));
    } else if !met {
        findings.push(format!(
            "the monolith ({}) is the safe choice: this cascade costs {:.0}% of its {} but is not certified to meet the target; {versus}",
            cfg.tiers[tiers - 1].name,
            100.0 * c_cas / c_mono.max(1e-300),
            cost_by.name()
        ));
    } else {
        findings.push(format!(
            "the cascade costs {:.0}% of the monolith's {} at {versus}",
            100.0 * c_cas / c_mono.max(1e-300),
            cost_by.name()
        ));
    }
    if frontier.apgr.is_none() {
        findings.push(format!(
            "{} is not better than {} on these items: there is no quality gap to recover",
            frontier.strong, frontier.weak
        ));
    }

    let all_rules = offline_rules(cfg, &joined.items.iter().collect::<Vec<_>>()).0;
    let routes = joined
        .items
        .iter()
        .zip(&all_rules)
        .map(|(item, rule)| {
            let r = route(item, &judge, &plan, *rule);
            (item.id.clone(), cfg.tiers[r.answered_by].name.clone())
        })
        .collect();

    Ok(Calibration {
        schema_version: CALIBRATION_SCHEMA,
        signal: judge.signal.name().to_string(),
        tiers: cfg.tiers.iter().map(|t| t.name.clone()).collect(),
        plan,
        target: opts.target,
        target_quality,
        met,
        seed: opts.seed,
        fit_items: fit.len(),
        report_items: report.len(),
        fit: fit_point,
        achieved,
        monolith: mono,
        tier_alone,
        fixed,
        frontier,
        findings,
        runs: joined.runs.clone(),
        unmatched: joined.unmatched.clone(),
        live_only_rules,
        routes,
    })
}

#[cfg(test)]
mod tests;
