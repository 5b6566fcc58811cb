//! The self-contained HTML report: inline CSS and SVG, no scripts, no external resources.

use std::fmt::Write as _;

use super::charts::{charts, serving_curve};
use super::svg::esc;
use super::Report;

fn opt(x: Option<f64>, d: usize) -> String {
    x.map_or_else(|| "–".to_string(), |v| format!("{v:.d$}"))
}

/// The whole report as one HTML document.
pub fn to_html(r: &Report) -> String {
    let mut s = String::from(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Trilemma report</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1320px}
h1{margin-bottom:4px} h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;margin:10px 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right} th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}
tr.front td:first-child{font-weight:bold}
.note{color:#555;font-size:14px}
.est{color:#b35900;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:16px}
svg.chart{border:1px solid #ddd;background:#fff}
svg .title{font-size:16px;font-weight:bold} svg .axis{font-size:13px} svg .tick{font-size:11px;fill:#444} svg .pt{font-size:11px}
pre{background:#f6f6f6;padding:8px;font-size:12px;overflow-x:auto;max-height:300px}
</style></head><body>
<h1>Trilemma report</h1>
"#,
    );
    let _ = writeln!(s, "<p class=\"note\">{}</p>", esc(&r.note));
    for g in &r.groups {
        let _ = writeln!(
            s,
            "<section class=\"group\"><h2>{} on {}{}</h2><p class=\"note\">{}</p>",
            esc(&g.task),
            esc(&g.hardware),
            if g.setting.is_empty() {
                String::new()
            } else {
                format!(" ({})", esc(&g.setting))
            },
            esc(&g.per_note)
        );
        let _ = writeln!(
            s,
            "<table><tr><th>name</th><th>{} ↑</th><th>95% CI</th><th>latency ms/sample ↓</th><th>p95 ms ↓</th><th>throughput ↑<br>({})</th><th>memory MiB ↓</th><th>energy J/sample ↓</th><th>CO2 mg/sample ↓</th><th>cost µUSD/sample ↓</th><th>PER ↑</th><th>medals<br>(gold/silver/bronze)</th><th>Pareto (all axes)</th></tr>",
            esc(&g.primary_metric),
            if g.level == "token" { "output tok/s" } else { "samples/s" }
        );
        for row in &g.rows {
            let energy = match row.energy_j {
                Some(e) if row.energy_is_estimate => {
                    format!("{e:.3} <span class=\"est\">(estimate)</span>")
                }
                Some(e) => format!(
                    "{e:.3} ({})",
                    esc(row.energy_source.as_deref().unwrap_or(""))
                ),
                None => "–".into(),
            };
            let _ = writeln!(
                s,
                "<tr{}><td>{}</td><td>{:.4}</td><td>[{:.4}, {:.4}]</td><td>{:.1}</td><td>{:.1}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if row.frontiers.all_axes { " class=\"front\"" } else { "" },
                esc(&row.label),
                row.accuracy,
                row.accuracy_ci.0,
                row.accuracy_ci.1,
                row.latency_s * 1000.0,
                row.latency_p95_s * 1000.0,
                row.per_throughput,
                opt(row.memory_mb, 1),
                energy,
                opt(row.co2_g.map(|g| g * 1e3), 4),
                opt(row.cost_usd.map(|c| c * 1e6), 4),
                opt(row.per, 3),
                row.medals.label(),
                if row.frontiers.all_axes { "yes" } else { "no" }
            );
        }
        s.push_str("</table>\n");
        s.push_str(&charts(g));
        s.push_str("<h3>Recommendations</h3><table><tr><th>objective</th><th>choice</th><th>runner-up</th><th>margin</th><th>significance</th></tr>");
        for rec in &g.recommendations {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                rec.objective.label(),
                esc(&rec.choice),
                esc(rec.runner_up.as_deref().unwrap_or("–")),
                opt(rec.margin, 4),
                esc(&rec.significance)
            );
        }
        s.push_str("</table>\n");
        if !g.quant_deltas.is_empty() {
            s.push_str("<h3>Quantization deltas against the highest-precision variant (seed 003 Table III)</h3><table><tr><th>model</th><th>precision</th><th>baseline</th><th>speed-up</th><th>memory change %<br>(negative = more)</th><th>energy reduction %</th><th>accuracy change %</th></tr>");
            for d in &g.quant_deltas {
                let _ = writeln!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}×</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>",
                    esc(&d.model),
                    esc(&d.precision),
                    esc(&d.baseline),
                    d.speedup,
                    d.memory_change_pct,
                    opt(d.energy_reduction_pct, 1),
                    opt(d.accuracy_drop_pct.values().next().copied(), 2)
                );
            }
            s.push_str("</table>\n");
        }
        s.push_str("</section>\n");
    }
    if !r.serving.is_empty() {
        let _ = writeln!(
            s,
            "<section><h2>Serving under load (energy-latency, seed 004)</h2><p class=\"note\">{}</p><div class=\"charts\">{}</div>",
            esc(crate::serving::NOTE),
            serving_curve(&r.serving)
        );
        s.push_str("<table><tr>");
        for c in crate::serving::COLUMNS {
            let _ = write!(s, "<th>{}</th>", esc(c));
        }
        s.push_str("</tr>");
        for p in &r.serving {
            s.push_str(if p.frontier {
                "<tr class=\"front\">"
            } else {
                "<tr>"
            });
            for (i, c) in crate::serving::cells(p).iter().enumerate() {
                // The J/token cell of an estimate stands out as one.
                if i == 9 && p.energy_is_estimate {
                    let _ = write!(s, "<td><span class=\"est\">{}</span></td>", esc(c));
                } else {
                    let _ = write!(s, "<td>{}</td>", esc(c));
                }
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</table></section>\n");
    }
    s.push_str(if r.provenance.is_empty() {
        "<section>\n"
    } else {
        "<section><h2>Provenance</h2>\n"
    });
    for p in &r.provenance {
        let _ = writeln!(
            s,
            "<h3>{}</h3><p class=\"note\">model {}{} · {} · {} · engine {} · {} repeat(s) · {} samples · {} errors{} · {} → {}<br>memory: {}</p>",
            esc(&p.run_id),
            esc(&p.model),
            p.model_sha256
                .as_deref()
                .map_or(String::new(), |h| format!(" (sha256 {})", esc(h))),
            esc(&p.task),
            esc(&p.hardware),
            esc(&p.engine),
            p.repeats,
            p.samples,
            p.errors,
            if p.partial { " · <b>PARTIAL</b>" } else { "" },
            esc(&p.started_at),
            esc(&p.finished_at),
            esc(p.memory_method.as_deref().unwrap_or("not measured"))
        );
        if let Some(t) = &p.truncated {
            let _ = writeln!(
                s,
                "<p class=\"note\">truncated: {}</p>",
                esc(&t.to_string())
            );
        }
        if !p.energy.is_empty() {
            s.push_str("<table><tr><th>energy source</th><th>domains</th><th>window s</th><th>idle W</th><th>idle window s</th><th>net J</th><th>attribution</th><th>method</th></tr>");
            for e in &p.energy {
                let _ = writeln!(
                    s,
                    "<tr><td>{}{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
                    esc(&e.source),
                    if e.is_estimate { " <span class=\"est\">(estimate)</span>" } else { "" },
                    esc(&e.domains.join(", ")),
                    e.window_s,
                    opt(e.idle_w, 2),
                    opt(e.idle_window_s, 1),
                    e.net_j,
                    esc(&e.attribution),
                    esc(&e.method)
                );
            }
            s.push_str("</table>");
        }
        let manifest = serde_json::to_string_pretty(&p.manifest).unwrap_or_default();
        let _ = writeln!(
            s,
            "<details><summary>manifest</summary><pre>{}</pre></details>",
            esc(&manifest)
        );
    }
    s.push_str("</section></body></html>\n");
    s
}
