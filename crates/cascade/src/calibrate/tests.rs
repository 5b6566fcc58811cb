use std::path::Path;

use super::*;
use crate::calibration_file::diff;
use crate::replay::TierOutcome;
use crate::signal::Answer;

/// Tier 0 (1 J) is right on 3 items in 4 and sure of exactly those (margin 2.0 vs 0.1);
/// tier 1 (10 J) is right except on every tenth item.
fn joined(n: usize) -> (CascadeConfig, Joined) {
    let cfg = CascadeConfig::parse(
        "[[tier]]\nname='small'\nmodel='a'\n[[tier]]\nname='large'\nmodel='b'\n[policy]\nthresholds=[5.0]\n",
        Path::new("c.toml"),
    )
    .unwrap();
    let outcome = |quality: f64, margin: f64, joules: f64, error: bool| TierOutcome {
        quality,
        answer: Answer {
            text: "A".into(),
            error: error.then(|| "connection refused".to_string()),
            choice_logprobs: Some(vec![-1.0, -1.0 - margin]),
            ..Answer::default()
        },
        prompt_tokens: 10,
        tokens: 10,
        joules: Some(joules),
        usd: 0.0,
        latency_s: joules / 10.0,
    };
    let items = (0..n)
        .map(|i| {
            let sure = i % 4 != 0;
            Item {
                id: format!("q{i:04}"),
                tiers: vec![
                    outcome(
                        f64::from(u8::from(sure)),
                        if sure { 2.0 } else { 0.1 },
                        1.0,
                        i == 1,
                    ),
                    outcome(f64::from(u8::from(i % 10 != 0)), 1.0, 10.0, false),
                ],
            }
        })
        .collect();
    let runs = ["small", "large"]
        .iter()
        .map(|t| TierRun {
            tier: t.to_string(),
            dir: format!("runs/{t}").into(),
            model: t.to_string(),
            task: "arc-easy".into(),
            primary_metric: "acc".into(),
            samples_sha256: "0".repeat(64),
            energy_from: Some("rapl".into()),
            items: n,
        })
        .collect();
    (
        cfg,
        Joined {
            runs,
            items,
            unmatched: vec![],
        },
    )
}

fn opts(target: &str) -> CalibrateOptions {
    CalibrateOptions {
        target: target.parse().unwrap(),
        seed: 7,
    }
}

#[test]
fn picks_the_cheapest_plan_that_meets_the_target_and_reports_it_on_the_other_half() {
    let (cfg, j) = joined(400);
    let c = calibrate(&cfg, &j, &opts("0.85")).unwrap();
    assert!(c.met, "{:?}", c.findings);
    let Step::Threshold { threshold } = c.plan[0] else {
        panic!("tier 0 should answer: {:?}", c.plan)
    };
    assert!(threshold > 0.1 && threshold <= 2.0, "{threshold}");
    assert_eq!((c.fit_items, c.report_items), (200, 200));
    // About a quarter escalated, at ~1 + 0.25 x 10 J instead of 10 J.
    let esc = c.achieved.answered_share[1];
    assert!((0.15..0.35).contains(&esc), "{esc}");
    assert!((esc - c.achieved.escalated_share).abs() < 1e-12);
    let j_cas = c.achieved.joules_per_request.unwrap();
    assert!((j_cas - (1.0 + 10.0 * esc)).abs() < 1e-9, "{j_cas}");
    assert_eq!(c.monolith.joules_per_request, Some(10.0));
    assert!(c.achieved.quality.value > c.monolith.quality.value);
    assert!(
        c.findings.iter().any(|f| f.contains("the cascade costs")),
        "{:?}",
        c.findings
    );
    // The item whose tier-0 call failed fell back, counted apart.
    assert_eq!(c.routes["q0001"], "large");
    assert_eq!(c.routes.len(), 400);
    // The fixed (uncalibrated) threshold 5.0 escalates everything.
    let fixed = c.fixed.as_ref().unwrap();
    assert_eq!(fixed.answered_share[1], 1.0);
}

#[test]
fn frontier_beats_random_and_stays_under_the_oracle() {
    let (cfg, j) = joined(400);
    let f = calibrate(&cfg, &j, &opts("0.95x")).unwrap().frontier;
    assert!(f.strong_quality > f.weak_quality);
    assert!(f.auc > f.random_auc, "{} vs {}", f.auc, f.random_auc);
    assert!(
        f.oracle_auc >= f.auc - 1e-12,
        "{} vs {}",
        f.oracle_auc,
        f.auc
    );
    assert!(f.apgr.unwrap() > 0.9, "{:?}", f.apgr);
    assert!(f.cpt50.unwrap() <= 0.3, "{:?}", f.cpt50);
    assert!((f.random_auc - (f.weak_quality + f.strong_quality) / 2.0).abs() < 1e-12);
}

#[test]
fn an_unreachable_target_says_so_and_a_useless_tier_is_skipped() {
    let (cfg, mut j) = joined(200);
    let c = calibrate(&cfg, &j, &opts("0.99")).unwrap();
    assert!(!c.met);
    assert!(
        c.findings.iter().any(|f| f.contains("no plan reaches")),
        "{:?}",
        c.findings
    );
    // Tier 0 is always wrong: it is skipped and the monolith is said to be the better choice.
    for item in &mut j.items {
        item.tiers[0].quality = 0.0;
    }
    let c = calibrate(&cfg, &j, &opts("0.8")).unwrap();
    assert_eq!(c.plan, monolith(2));
    assert!(
        c.findings.iter().any(|f| f.contains("skipped")),
        "{:?}",
        c.findings
    );
    assert!(
        c.findings.iter().any(|f| f.contains("monolith")),
        "{:?}",
        c.findings
    );
}

#[test]
fn targets_parse_and_bad_ones_are_refused() {
    assert_eq!("0.6".parse::<Target>(), Ok(Target::Absolute(0.6)));
    assert_eq!("0.95x".parse::<Target>(), Ok(Target::OfBest(0.95)));
    assert!("1.5".parse::<Target>().is_err());
    assert!("high".parse::<Target>().is_err());
}

#[test]
fn diff_counts_items_routed_differently_and_files_round_trip() {
    let (cfg, j) = joined(200);
    let a = calibrate(&cfg, &j, &opts("0.85")).unwrap();
    let mut b = a.clone();
    for (_, t) in b.routes.iter_mut().take(7) {
        *t = if t == "small" {
            "large".into()
        } else {
            "small".into()
        };
    }
    b.routes.insert("extra".into(), "large".into());
    let d = diff(&a, &b);
    assert_eq!((d.shared, d.differ, d.only_a, d.only_b), (200, 7, 0, 1));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calibration.json");
    a.write(&path).unwrap();
    let back = Calibration::read(&path).unwrap();
    assert_eq!(back.routes, a.routes);
    back.verify(&cfg, &path).unwrap();
    let other = CascadeConfig::parse(
        "[[tier]]\nname='small'\nmodel='a'\n[[tier]]\nname='xl'\nmodel='b'\n",
        Path::new("d.toml"),
    )
    .unwrap();
    let e = back.verify(&other, &path).unwrap_err().to_string();
    assert!(e.contains("tiers"), "{e}");
}
