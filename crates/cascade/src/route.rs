//! Routing an item through the tiers under a plan, and the figures of a plan over a set of
//! items: quality with its CI, escalation, router errors, cost and latency.

use serde::{Deserialize, Serialize};
use trilemma_core::stats::{mean_estimate, percentile, Estimate};

use crate::replay::Item;
use crate::signal::{Judge, Reason};

/// What a tier does under a plan. The last tier always answers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    /// The tier is not called.
    Skip,
    /// The tier answers when its score is at least `threshold` and no check escalates.
    Threshold { threshold: f64 },
    /// The tier answers whatever it says (the last tier).
    Answer,
}

/// One step per tier.
pub type Plan = Vec<Step>;

/// The monolith: every tier but the last skipped.
pub fn monolith(tiers: usize) -> Plan {
    let mut p = vec![Step::Skip; tiers];
    p[tiers - 1] = Step::Answer;
    p
}

/// A plan from per-tier thresholds (the last tier answers).
pub fn with_thresholds(thresholds: &[f64]) -> Plan {
    let mut p: Plan = thresholds
        .iter()
        .map(|&threshold| Step::Threshold { threshold })
        .collect();
    p.push(Step::Answer);
    p
}

/// How one item went.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub answered_by: usize,
    /// Tiers called, in order, each with the reason it escalated (`None`: it answered).
    pub called: Vec<(usize, Option<Reason>)>,
    /// The tier a rule sent the item to, if one did.
    pub rule: Option<usize>,
}

/// Routes one item: `rule_tier` is where a rule sends it straight away.
pub fn route(item: &Item, judge: &Judge, plan: &[Step], rule_tier: Option<usize>) -> Routed {
    let mut called = Vec::new();
    if let Some(t) = rule_tier {
        return Routed {
            answered_by: t,
            called: vec![(t, None)],
            rule: Some(t),
        };
    }
    let last = plan.len() - 1;
    for (i, step) in plan.iter().enumerate() {
        let threshold = match *step {
            Step::Skip if i < last => continue,
            Step::Threshold { threshold } if i < last => Some(threshold),
            _ => None,
        };
        match judge.decide(&item.tiers[i].answer, threshold, None) {
            Ok(_) => {
                called.push((i, None));
                return Routed {
                    answered_by: i,
                    called,
                    rule: None,
                };
            }
            Err(reason) => called.push((i, Some(reason))),
        }
    }
    unreachable!("the last tier always answers")
}

/// The figures of a plan over a set of items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub items: usize,
    /// Mean of the answering tier's primary metric, 95% bootstrap CI.
    pub quality: Estimate,
    /// Share of items answered by each tier.
    pub answered_share: Vec<f64>,
    /// Share of items escalated at least once (the deferral rate).
    pub escalated_share: f64,
    /// Share of items where a tier's answer was accepted, it was wrong, and a later tier
    /// was right.
    pub router_error_rate: f64,
    /// Escalations away from a tier that was right, per request (the calls above it were
    /// wasted).
    pub wasted_escalation_rate: f64,
    /// Escalations caused by a failed call (error or timeout), counted apart.
    pub error_fallbacks: usize,
    /// Escalations by reason, over all tiers.
    pub reasons: std::collections::BTreeMap<String, usize>,
    /// Mean energy per request, J (all tiers called), when every tier has energy.
    pub joules_per_request: Option<f64>,
    pub usd_per_request: f64,
    /// Latency of a request: the sum of the latencies of the tiers called, as recorded.
    pub latency_p50_s: f64,
    pub latency_p95_s: f64,
    /// Output and input tokens processed per request, all tiers called.
    pub tokens_per_request: f64,
}

/// Figures of `plan` over `items` (a subset given by index).
pub fn evaluate(items: &[&Item], judge: &Judge, plan: &[Step], rules: &[Option<usize>]) -> Point {
    let n = items.len().max(1) as f64;
    let tiers = plan.len();
    let mut quality = Vec::with_capacity(items.len());
    let mut answered = vec![0usize; tiers];
    let (mut escalated, mut router_err, mut wasted, mut errors) = (0, 0, 0, 0);
    let mut reasons = std::collections::BTreeMap::new();
    let mut joules = Some(0.0);
    let (mut usd, mut tokens) = (0.0, 0.0);
    let mut latency = Vec::with_capacity(items.len());
    for (k, item) in items.iter().enumerate() {
        let r = route(item, judge, plan, rules.get(k).copied().flatten());
        let a = r.answered_by;
        answered[a] += 1;
        let q = item.tiers[a].quality;
        quality.push(q);
        if r.called.len() > 1 {
            escalated += 1;
        }
        if q <= 0.0 && item.tiers[a + 1..].iter().any(|t| t.quality > 0.0) && a + 1 < tiers {
            router_err += 1;
        }
        let mut lat = 0.0;
        for &(t, reason) in &r.called {
            let o = &item.tiers[t];
            lat += o.latency_s;
            usd += o.usd;
            tokens += o.tokens as f64;
            joules = match (joules, o.joules) {
                (Some(j), Some(x)) => Some(j + x),
                _ => None,
            };
            if let Some(reason) = reason {
                *reasons.entry(reason.name().to_string()).or_insert(0) += 1;
                if reason == Reason::Error {
                    errors += 1;
                } else if o.quality > 0.0 {
                    wasted += 1;
                }
            }
        }
        latency.push(lat);
    }
    let quality_est = mean_estimate(&quality).unwrap_or(Estimate {
        value: 0.0,
        stderr: 0.0,
        ci_low: 0.0,
        ci_high: 0.0,
        n: 0,
    });
    Point {
        items: items.len(),
        quality: quality_est,
        answered_share: answered.iter().map(|&a| a as f64 / n).collect(),
        escalated_share: escalated as f64 / n,
        router_error_rate: router_err as f64 / n,
        wasted_escalation_rate: wasted as f64 / n,
        error_fallbacks: errors,
        reasons,
        joules_per_request: joules.map(|j| j / n),
        usd_per_request: usd / n,
        latency_p50_s: percentile(&latency, 50.0).unwrap_or(0.0),
        latency_p95_s: percentile(&latency, 95.0).unwrap_or(0.0),
        tokens_per_request: tokens / n,
    }
}
