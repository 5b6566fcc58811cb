//! `trilemma cascade`: calibrate an SLM-first cascade from recorded runs, and compare two
//! calibrations. The work is `trilemma_cascade`'s; this file parses flags and prints.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use trilemma_cascade::{
    calibrate, diff, join_runs, CalibrateOptions, Calibration, CascadeConfig, Point, Step, Target,
};
use trilemma_core::DEFAULT_SEED;

use crate::output;

#[derive(Debug, Clone, Subcommand)]
pub enum CascadeCommand {
    /// Pick the cheapest thresholds that meet a quality target, from one recorded run per
    /// tier (same task, same items), without calling any model.
    Calibrate(CalibrateArgs),
    /// On how many items two calibrations route differently.
    Diff(DiffArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CalibrateArgs {
    /// The cascade file (`cascade.toml`).
    #[arg(long)]
    pub config: PathBuf,
    /// One run directory per tier, in tier order.
    #[arg(long, num_args = 1.., required = true)]
    pub runs: Vec<PathBuf>,
    /// Quality to meet with 95% confidence: absolute (`0.6`) or a share of the best tier
    /// (`0.95x`).
    #[arg(long, default_value = "0.95x")]
    pub target: Target,
    /// Seeds the split of the items into fit and report halves.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Write the calibration here (read by `serve --cascade --calibration`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the calibration as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Draw the frontier (quality against share escalated: the signal's curve, the oracle,
    /// random routing and the calibrated point) as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    pub a: PathBuf,
    pub b: PathBuf,
    /// Print as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: &CascadeCommand) -> anyhow::Result<()> {
    match cmd {
        CascadeCommand::Calibrate(args) => run_calibrate(args),
        CascadeCommand::Diff(args) => {
            let a = Calibration::read(&args.a)?;
            let b = Calibration::read(&args.b)?;
            let d = diff(&a, &b);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&d)?);
                return Ok(());
            }
            println!(
                "{} of {} shared items are routed differently ({:.1}%); {} only in A, {} only in B",
                d.differ,
                d.shared,
                100.0 * d.differ as f64 / d.shared.max(1) as f64,
                d.only_a,
                d.only_b
            );
            for (id, ta, tb) in &d.examples {
                println!("  {id}: {ta} -> {tb}");
            }
            Ok(())
        }
    }
}

fn run_calibrate(args: &CalibrateArgs) -> anyhow::Result<()> {
    let cfg = CascadeConfig::read(&args.config)?;
    if let Some(parent) = args.out.as_ref().and_then(|o| o.parent()) {
        if !parent.as_os_str().is_empty() && !parent.is_dir() {
            anyhow::bail!("--out: the folder {} does not exist", parent.display());
        }
    }
    let joined = join_runs(&cfg, &args.runs)?;
    let cal = calibrate(
        &cfg,
        &joined,
        &CalibrateOptions {
            target: args.target,
            seed: args.seed,
        },
    )?;
    if let Some(out) = &args.out {
        cal.write(out)?;
    }
    if let Some(path) = &args.chart {
        trilemma_store::atomic::write_atomic(path, frontier_svg(&cal).as_bytes())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&cal)?);
    } else {
        print_calibration(&cal);
        if let Some(out) = &args.out {
            println!("calibration written to {}", out.display());
        }
    }
    Ok(())
}

fn plan_text(cal: &Calibration) -> String {
    cal.tiers
        .iter()
        .zip(&cal.plan)
        .map(|(t, s)| match s {
            Step::Skip => format!("{t}: skipped"),
            Step::Threshold { threshold } => {
                format!("{t}: answers at {} >= {threshold:.4}", cal.signal)
            }
            Step::Answer => format!("{t}: answers the rest"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn print_calibration(cal: &Calibration) {
    let energy = cal
        .runs
        .iter()
        .map(|r| format!("{}: {}", r.tier, r.energy_from.as_deref().unwrap_or("none")))
        .collect::<Vec<_>>()
        .join("; ");
    println!(
        "cascade calibration on {} ({}), signal {}, seed {}: fit half {} items, report half {} items",
        cal.runs[0].task,
        cal.runs[0].primary_metric,
        cal.signal,
        cal.seed,
        cal.fit_items,
        cal.report_items
    );
    println!(
        "target {:.3} ({}), chosen on the fit half's lower 95% bound: {}",
        cal.target_quality,
        if cal.met { "met" } else { "NOT met" },
        plan_text(cal)
    );
    let mut t = output::table(&[
        "report half",
        "quality [95% CI]",
        "escalated",
        "answered by tier",
        "router err",
        "J/request",
        "p50 / p95 latency",
    ]);
    let row = |name: &str, p: &Point| {
        vec![
            name.to_string(),
            format!(
                "{:.3} [{:.3}, {:.3}]",
                p.quality.value, p.quality.ci_low, p.quality.ci_high
            ),
            format!("{:.1}%", 100.0 * p.escalated_share),
            p.answered_share
                .iter()
                .map(|s| format!("{:.0}%", 100.0 * s))
                .collect::<Vec<_>>()
                .join(" / "),
            format!("{:.1}%", 100.0 * p.router_error_rate),
            p.joules_per_request
                .map(output::joules_h)
                .unwrap_or_else(|| "n/a".into()),
            format!("{:.3} / {:.3} s", p.latency_p50_s, p.latency_p95_s),
        ]
    };
    t.add_row(row("cascade (calibrated)", &cal.achieved));
    t.add_row(row(
        &format!("monolith ({})", cal.tiers.last().unwrap()),
        &cal.monolith,
    ));
    if let Some(f) = &cal.fixed {
        t.add_row(row("fixed thresholds (uncalibrated)", f));
    }
    for (name, p) in cal.tiers.iter().zip(&cal.tier_alone) {
        t.add_row(row(&format!("{name} alone"), p));
    }
    println!("{t}");
    let f = &cal.frontier;
    let opt = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.3}"));
    println!(
        "frontier {} -> {} (report half): AUC {:.3} (oracle {:.3}, random {:.3}), APGR {}, CPT(50%) {}, CPT(80%) {}",
        f.weak,
        f.strong,
        f.auc,
        f.oracle_auc,
        f.random_auc,
        opt(f.apgr),
        opt(f.cpt50),
        opt(f.cpt80)
    );
    let estimate = cal
        .runs
        .iter()
        .any(|r| r.energy_from.as_deref() == Some("estimate"));
    println!(
        "energy per request: each tier's run J/token x the item's tokens ({energy}){}; latency: the sum of the called tiers' recorded per-item latencies",
        if estimate { ", an ESTIMATE, not a measurement" } else { "" }
    );
    if !cal.unmatched.is_empty() {
        for (tier, ids) in &cal.unmatched {
            println!(
                "unmatched: {} items of {tier} are not in every run (e.g. {})",
                ids.len(),
                ids.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    if cal.live_only_rules > 0 {
        println!(
            "{} rule(s) match the live request (pattern, header, metadata) and were not replayed",
            cal.live_only_rules
        );
    }
    for line in &cal.findings {
        println!("- {line}");
    }
}

/// The frontier chart: quality against the share of requests escalated past tier 0, on the
/// report half.
fn frontier_svg(cal: &Calibration) -> String {
    let f = &cal.frontier;
    let unlabelled = |pts: &mut dyn Iterator<Item = (f64, f64)>| -> Vec<(String, f64, f64)> {
        pts.map(|(x, y)| (String::new(), x, y)).collect()
    };
    let signal = unlabelled(&mut f.points.iter().map(|p| (p.escalated_share, p.quality)));
    let oracle = unlabelled(&mut f.oracle.iter().copied());
    let random = unlabelled(&mut [(0.0, f.weak_quality), (1.0, f.strong_quality)].into_iter());
    let chosen = vec![(
        "calibrated".to_string(),
        cal.achieved.escalated_share,
        cal.achieved.quality.value,
    )];
    trilemma_analysis::report::line_chart_svg(
        &format!(
            "Cascade frontier: {} -> {} ({} items)",
            f.weak, f.strong, cal.report_items
        ),
        "share of requests escalated past tier 0",
        &format!("{} (↑ better)", cal.runs[0].primary_metric),
        &[
            (format!("{} ({})", f.weak, cal.signal), signal),
            ("oracle".to_string(), oracle),
            ("random routing".to_string(), random),
            ("calibrated plan".to_string(), chosen),
        ],
    )
}
