//! The report as Markdown.

use std::fmt::Write as _;

use super::{opt, Report, Row};

fn energy_cell(row: &Row) -> String {
    match row.energy_j {
        Some(e) if row.energy_is_estimate => format!("{e:.3} (estimate)"),
        Some(e) => format!("{e:.3} ({})", row.energy_source.as_deref().unwrap_or("")),
        None => "-".into(),
    }
}

/// Markdown: the trilemma table, recommendations and quantization deltas per group, then
/// provenance.
pub fn to_markdown(r: &Report) -> String {
    let mut s = String::from("# Trilemma report\n\n");
    let _ = writeln!(s, "{}\n", r.note);
    for g in &r.groups {
        let _ = writeln!(
            s,
            "## {} on {}{}\n",
            g.task,
            g.hardware,
            if g.setting.is_empty() {
                String::new()
            } else {
                format!(" ({})", g.setting)
            }
        );
        let _ = writeln!(s, "{}\n", g.per_note);
        let _ = writeln!(
            s,
            "| name | {} (higher better) | latency s/sample (lower better) | throughput | memory MB | energy J/sample | CO2 mg/sample | cost µUSD/sample | PER | medals g/s/b | Pareto |",
            g.primary_metric
        );
        s.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
        for row in &g.rows {
            let _ = writeln!(
                s,
                "| {} | {:.4} [{:.4}, {:.4}] | {:.4} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
                row.label,
                row.accuracy,
                row.accuracy_ci.0,
                row.accuracy_ci.1,
                row.latency_s,
                row.per_throughput,
                opt(row.memory_mb, 1),
                energy_cell(row),
                opt(row.co2_g.map(|g| g * 1e3), 4),
                opt(row.cost_usd.map(|c| c * 1e6), 4),
                opt(row.per, 3),
                row.medals.label(),
                if row.frontiers.all_axes { "yes" } else { "no" },
            );
        }
        s.push_str("\n### Recommendations\n\n| objective | choice | runner-up | margin | significance |\n|---|---|---|---|---|\n");
        for rec in &g.recommendations {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                rec.objective.label(),
                rec.choice,
                rec.runner_up.as_deref().unwrap_or("-"),
                opt(rec.margin, 4),
                rec.significance
            );
        }
        if !g.quant_deltas.is_empty() {
            s.push_str("\n### Quantization deltas (against the highest-precision variant)\n\n| model | precision | baseline | speed-up | memory change % | energy reduction % | accuracy change % |\n|---|---|---|---|---|---|---|\n");
            for d in &g.quant_deltas {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.2}x | {:.2} | {} | {} |",
                    d.model,
                    d.precision,
                    d.baseline,
                    d.speedup,
                    d.memory_change_pct,
                    opt(d.energy_reduction_pct, 1),
                    opt(d.accuracy_drop_pct.values().next().copied(), 2)
                );
            }
        }
        s.push('\n');
    }
    if !r.serving.is_empty() {
        s.push_str("## Serving under load (energy-latency, seed 004)\n\n");
        s.push_str(crate::serving::NOTE);
        let _ = writeln!(
            s,
            "\n\n| {} |\n|{}",
            crate::serving::COLUMNS.join(" | "),
            "---|".repeat(crate::serving::COLUMNS.len())
        );
        for p in &r.serving {
            let _ = writeln!(s, "| {} |", crate::serving::cells(p).join(" | "));
        }
        s.push('\n');
    }
    if !r.provenance.is_empty() {
        s.push_str("## Provenance\n\n");
    }
    for p in &r.provenance {
        let _ = writeln!(
            s,
            "- `{}` ({}): {}{}, {}, {}, {} repeats, {} samples, {} errors{}",
            p.run_id,
            p.task,
            p.model,
            p.model_sha256
                .as_deref()
                .map_or(String::new(), |h| format!(" (sha256 {h})")),
            p.engine,
            p.hardware,
            p.repeats,
            p.samples,
            p.errors,
            if p.partial { ", PARTIAL" } else { "" }
        );
        if let Some(t) = &p.truncated {
            let _ = writeln!(s, "  - truncated: {t}");
        }
        for e in &p.energy {
            let _ =
                writeln!(
                s,
                "  - energy {}{}: domains {}, window {:.1} s, idle {} W over {} s, attribution {}",
                e.source,
                if e.is_estimate { " (an estimate, not a measurement)" } else { "" },
                e.domains.join("+"),
                e.window_s,
                opt(e.idle_w, 2),
                opt(e.idle_window_s, 1),
                e.attribution
            );
        }
    }
    s
}
