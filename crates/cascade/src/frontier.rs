//! The two-tier frontier: tier 0 against the last tier over tier 0's threshold, with the
//! oracle, random routing, AUC, APGR and CPT.

use serde::{Deserialize, Serialize};

use crate::calibrate::candidates;
use crate::config::CascadeConfig;
use crate::replay::Item;
use crate::route::{evaluate, Step};
use crate::signal::Judge;

/// One point of the two-tier frontier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierPoint {
    /// Tier 0's threshold (`None`: an end point, all kept or all escalated).
    pub threshold: Option<f64>,
    pub escalated_share: f64,
    pub quality: f64,
    pub joules_per_request: Option<f64>,
}

/// Tier 0 against the last tier, swept over tier 0's threshold on the report half.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frontier {
    pub weak: String,
    pub strong: String,
    pub weak_quality: f64,
    pub strong_quality: f64,
    pub points: Vec<FrontierPoint>,
    /// The best possible routing at each share escalated.
    pub oracle: Vec<(f64, f64)>,
    /// Area under quality vs share escalated, for the signal, the oracle and random routing.
    pub auc: f64,
    pub oracle_auc: f64,
    pub random_auc: f64,
    /// Average performance-gap recovered over share escalated (RouteLLM's APGR); `None` when
    /// the strong tier is not better than the weak one on these items.
    pub apgr: Option<f64>,
    /// Share escalated needed to recover 50% and 80% of the quality gap.
    pub cpt50: Option<f64>,
    pub cpt80: Option<f64>,
}

/// Tier 0 against the last tier over tier 0's thresholds.
pub(crate) fn frontier(cfg: &CascadeConfig, judge: &Judge, items: &[&Item]) -> Frontier {
    let tiers = cfg.tiers.len();
    let last = tiers - 1;
    let n = items.len() as f64;
    let pair = |t0: Step| {
        let mut p = vec![Step::Skip; tiers];
        p[0] = t0;
        p[last] = Step::Answer;
        p
    };
    let weak_q = items.iter().map(|i| i.tiers[0].quality).sum::<f64>() / n;
    let strong_q = items.iter().map(|i| i.tiers[last].quality).sum::<f64>() / n;
    let mut points = vec![
        FrontierPoint {
            threshold: None,
            escalated_share: 0.0,
            quality: weak_q,
            joules_per_request: total(items, |i| i.tiers[0].joules),
        },
        FrontierPoint {
            threshold: None,
            escalated_share: 1.0,
            quality: strong_q,
            joules_per_request: total(items, |i| Some(i.tiers[0].joules? + i.tiers[last].joules?)),
        },
    ];
    if tiers > 1 {
        for step in candidates(judge, items, 0, 51).into_iter().skip(1) {
            let pt = evaluate(items, judge, &pair(step), &[]);
            let Step::Threshold { threshold } = step else {
                continue;
            };
            points.push(FrontierPoint {
                threshold: Some(threshold),
                escalated_share: 1.0 - pt.answered_share[0],
                quality: pt.quality.value,
                joules_per_request: pt.joules_per_request,
            });
        }
    }
    points.sort_by(|a, b| a.escalated_share.total_cmp(&b.escalated_share));

    // The oracle escalates the items the strong tier improves most, first.
    let mut gains: Vec<f64> = items
        .iter()
        .map(|i| i.tiers[last].quality - i.tiers[0].quality)
        .collect();
    gains.sort_by(|a, b| b.total_cmp(a));
    let mut oracle = vec![(0.0, weak_q)];
    let mut q = weak_q;
    for (k, g) in gains.iter().enumerate() {
        q += g / n;
        oracle.push(((k + 1) as f64 / n, q));
    }
    let curve: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.escalated_share, p.quality))
        .collect();
    let gap = strong_q - weak_q;
    let pgr = |q: f64| (q - weak_q) / gap;
    let (apgr, cpt50, cpt80) = if gap > 1e-12 {
        let pgr_curve: Vec<(f64, f64)> = curve.iter().map(|&(s, q)| (s, pgr(q))).collect();
        let cpt = |x: f64| pgr_curve.iter().find(|(_, p)| *p >= x).map(|(s, _)| *s);
        (Some(area(&pgr_curve)), cpt(0.5), cpt(0.8))
    } else {
        (None, None, None)
    };
    Frontier {
        weak: cfg.tiers[0].name.clone(),
        strong: cfg.tiers[last].name.clone(),
        weak_quality: weak_q,
        strong_quality: strong_q,
        auc: area(&curve),
        oracle_auc: area(&oracle),
        random_auc: (weak_q + strong_q) / 2.0,
        points,
        oracle,
        apgr,
        cpt50,
        cpt80,
    }
}

fn total(items: &[&Item], f: impl Fn(&Item) -> Option<f64>) -> Option<f64> {
    let mut sum = 0.0;
    for i in items {
        sum += f(i)?;
    }
    Some(sum / items.len() as f64)
}

/// Trapezoid area of a curve sorted by x over x in [0, 1]; equal x are averaged first.
fn area(curve: &[(f64, f64)]) -> f64 {
    let mut pts: Vec<(f64, f64)> = Vec::new();
    for &(x, y) in curve {
        match pts.last_mut() {
            Some((lx, ly)) if (*lx - x).abs() < 1e-12 => *ly = ly.max(y),
            _ => pts.push((x, y)),
        }
    }
    pts.windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum()
}
