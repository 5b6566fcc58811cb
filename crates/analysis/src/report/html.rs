//! The self-contained HTML report: inline CSS and SVG, no scripts, no external resources.

use std::fmt::Write as _;

use super::{Group, Report, Row};
use crate::serving::ServingPoint;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

struct Point {
    label: String,
    x: f64,
    y: f64,
    frontier: bool,
}

const W: f64 = 620.0;
const H: f64 = 400.0;
const L: f64 = 80.0;
const R: f64 = 170.0;
const T: f64 = 40.0;
const B: f64 = 60.0;

fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = vals.collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        lo.abs().max(1.0) * 0.1
    };
    let low = if lo >= 0.0 {
        (lo - pad).max(0.0)
    } else {
        lo - pad
    };
    (low, hi + pad)
}

fn fmt_tick(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A scatter chart with axes, units, a "better" arrow per axis, labelled points and the
/// frontier joined by a line.
fn scatter(
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[Point],
    x_lower_better: bool,
) -> String {
    let (x0, x1) = range(points.iter().map(|p| p.x));
    let (y0, y1) = range(points.iter().map(|p| p.y));
    let px = |x: f64| L + (x - x0) / (x1 - x0) * (W - L - R);
    let py = |y: f64| H - B - (y - y0) / (y1 - y0) * (H - T - B);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{t}">
<text x="{cx}" y="22" text-anchor="middle" class="title">{t}</text>
<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999"/>
"##,
        t = esc(title),
        cx = W / 2.0,
        pw = W - L - R,
        ph = H - T - B,
    );
    for i in 0..=4 {
        let fx = x0 + (x1 - x0) * i as f64 / 4.0;
        let fy = y0 + (y1 - y0) * i as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{a}" y1="{T}" x2="{a}" y2="{b}" stroke="#e3e3e3"/><text x="{a}" y="{ty}" text-anchor="middle" class="tick">{xl}</text>
<line x1="{L}" y1="{c}" x2="{r}" y2="{c}" stroke="#e3e3e3"/><text x="{tx}" y="{cy}" text-anchor="end" class="tick">{yl}</text>
"##,
            a = px(fx),
            b = H - B,
            ty = H - B + 16.0,
            xl = fmt_tick(fx),
            c = py(fy),
            r = W - R,
            tx = L - 6.0,
            cy = py(fy) + 4.0,
            yl = fmt_tick(fy),
        );
    }
    let arrow = if x_lower_better {
        "← better"
    } else {
        "better →"
    };
    let _ = write!(
        s,
        r#"<text x="{cx}" y="{xy}" text-anchor="middle" class="axis">{xlab} ({arrow})</text>
<text transform="translate(18,{cy}) rotate(-90)" text-anchor="middle" class="axis">{ylab} (better ↑)</text>
"#,
        cx = L + (W - L - R) / 2.0,
        xy = H - 18.0,
        xlab = esc(x_label),
        cy = T + (H - T - B) / 2.0,
        ylab = esc(y_label),
    );
    let mut front: Vec<&Point> = points.iter().filter(|p| p.frontier).collect();
    front.sort_by(|a, b| a.x.total_cmp(&b.x));
    if front.len() > 1 {
        let pts: Vec<String> = front
            .iter()
            .map(|p| format!("{:.1},{:.1}", px(p.x), py(p.y)))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="5,3"/>"##,
            pts.join(" ")
        );
    }
    for (i, p) in points.iter().enumerate() {
        let (cx, cy) = (px(p.x), py(p.y));
        let color = PALETTE[i % PALETTE.len()];
        if p.frontier {
            let _ = writeln!(
                s,
                r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="7" fill="{color}" stroke="#000" stroke-width="2"/>"##
            );
        } else {
            let _ = writeln!(
                s,
                r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="5" fill="#fff" stroke="{color}" stroke-width="2"/>"##
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" class="pt" fill="{color}">{}{}</text>"#,
            cx + 9.0,
            cy - 6.0 + (i % 3) as f64 * 6.0,
            esc(&p.label),
            if p.frontier { " ★" } else { "" }
        );
    }
    let _ = write!(
        s,
        r##"<g transform="translate({lx},{T})"><circle cx="6" cy="6" r="6" fill="#555" stroke="#000" stroke-width="2"/><text x="16" y="10" class="tick">on the frontier ★</text><circle cx="6" cy="26" r="5" fill="#fff" stroke="#555" stroke-width="2"/><text x="16" y="30" class="tick">dominated</text></g>
</svg>"##,
        lx = W - R + 12.0,
        T = H - B - 36.0
    );
    s
}

fn charts(g: &Group) -> String {
    let acc_label = format!("{} (0-1)", g.primary_metric);
    let mut s = String::from("<div class=\"charts\">");
    let pts =
        |x: &dyn Fn(&Row) -> Option<f64>, f: &dyn Fn(&Row) -> Option<bool>| -> Option<Vec<Point>> {
            g.rows
                .iter()
                .map(|r| {
                    Some(Point {
                        label: r.label.clone(),
                        x: x(r)?,
                        y: r.accuracy,
                        frontier: f(r)?,
                    })
                })
                .collect()
        };
    if let Some(p) = pts(&|r| Some(r.latency_s * 1000.0), &|r| {
        Some(r.frontiers.latency_accuracy)
    }) {
        s.push_str(&scatter(
            "Latency vs accuracy",
            "mean latency, ms/sample",
            &acc_label,
            &p,
            true,
        ));
    }
    let estimate = g.rows.iter().any(|r| r.energy_is_estimate);
    if let Some(p) = pts(&|r| r.energy_j, &|r| r.frontiers.energy_accuracy) {
        let title = if estimate {
            "Energy vs accuracy (energy is an ESTIMATE)"
        } else {
            "Energy vs accuracy"
        };
        s.push_str(&scatter(title, "energy, J/sample", &acc_label, &p, true));
    }
    if let Some(p) = pts(&|r| r.size_mb, &|r| r.frontiers.size_accuracy) {
        s.push_str(&scatter(
            "Size vs accuracy",
            "weights file, MiB",
            &acc_label,
            &p,
            true,
        ));
    }
    if g.batch_sizes_differ {
        s.push_str(&batch_curve(g));
    }
    if !g.rankings.is_empty() {
        s.push_str(&ranking_chart(g));
    }
    s.push_str("</div>");
    s
}

/// One line of a [`curve`]: its name and its (label, x, y) points in order.
type Series = (String, Vec<(String, f64, f64)>);

/// Energy (y) against latency (x), one line per model variant through its batch sizes.
fn batch_curve(g: &Group) -> String {
    let rows: Vec<&Row> = g.rows.iter().filter(|r| r.energy_j.is_some()).collect();
    let mut series: Vec<Series> = Vec::new();
    for r in &rows {
        let k = format!("{} {}", r.model, r.quantization.as_deref().unwrap_or(""));
        if !series.iter().any(|(name, _)| name == &k) {
            let mut line: Vec<&&Row> = rows
                .iter()
                .filter(|o| format!("{} {}", o.model, o.quantization.as_deref().unwrap_or("")) == k)
                .collect();
            line.sort_by_key(|o| o.batch_size);
            let pts = line
                .iter()
                .map(|o| {
                    (
                        format!("b{}", o.batch_size),
                        o.latency_s * 1000.0,
                        o.energy_j.unwrap_or(0.0),
                    )
                })
                .collect();
            series.push((k, pts));
        }
    }
    curve(
        "Energy vs latency over batch sizes",
        "mean latency, ms/sample",
        "energy, J/sample",
        &series,
    )
}

/// Serving points, one line per load file through its server batch sizes.
fn serving_curve(points: &[ServingPoint]) -> String {
    let mut series: Vec<Series> = Vec::new();
    for p in points.iter().filter(|p| p.j_per_token.is_some()) {
        let name = p.source.display().to_string();
        let label = match p.max_batch {
            Some(b) => format!("b{b}{}", if p.frontier { " ★" } else { "" }),
            None => p.profile.clone(),
        };
        let pt = (label, p.e2e_p50_s * 1000.0, p.j_per_token.unwrap_or(0.0));
        match series.iter_mut().find(|(n, _)| n == &name) {
            Some((_, pts)) => pts.push(pt),
            None => series.push((name, vec![pt])),
        }
    }
    curve(
        "Energy vs latency under load (seed 004)",
        "median end-to-end latency, ms",
        "energy, J/token (steady state)",
        &series,
    )
}

/// Lines of labelled points, lower is better on both axes; empty without points.
fn curve(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let all = || series.iter().flat_map(|(_, pts)| pts.iter());
    if all().next().is_none() {
        return String::new();
    }
    let (x0, x1) = range(all().map(|p| p.1));
    let (y0, y1) = range(all().map(|p| p.2));
    let px = |x: f64| L + (x - x0) / (x1 - x0) * (W - L - R);
    let py = |y: f64| H - B - (y - y0) / (y1 - y0) * (H - T - B);
    let mut s = format!(
        r##"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{t}">
<text x="{cx}" y="22" text-anchor="middle" class="title">{t}</text>
<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999"/>
<text x="{cx2}" y="{xy}" text-anchor="middle" class="axis">{xl} (← better)</text>
<text transform="translate(18,{cy}) rotate(-90)" text-anchor="middle" class="axis">{yl} (↓ better)</text>
<text x="{L}" y="{t1}" class="tick">{y1l}</text><text x="{L}" y="{t2}" class="tick">{y0l}</text>
<text x="{L}" y="{t3}" class="tick">{x0l}</text><text x="{xr}" y="{t3}" text-anchor="end" class="tick">{x1l}</text>
"##,
        t = esc(title),
        xl = esc(x_label),
        yl = esc(y_label),
        cx = W / 2.0,
        pw = W - L - R,
        ph = H - T - B,
        cx2 = L + (W - L - R) / 2.0,
        xy = H - 18.0,
        cy = T + (H - T - B) / 2.0,
        t1 = T + 12.0,
        t2 = H - B - 4.0,
        t3 = H - B + 16.0,
        xr = W - R,
        y0l = fmt_tick(y0),
        y1l = fmt_tick(y1),
        x0l = fmt_tick(x0),
        x1l = fmt_tick(x1),
    );
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line: Vec<String> = pts
            .iter()
            .map(|p| format!("{:.1},{:.1}", px(p.1), py(p.2)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            line.join(" ")
        );
        for (label, x, y) in pts {
            let (x, y) = (px(*x), py(*y));
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{color}"/><text x="{:.1}" y="{:.1}" class="pt" fill="{color}">{}</text>"#,
                x + 6.0,
                y - 6.0,
                esc(label)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" class="pt" fill="{color}">{}</text>"#,
            W - R + 12.0,
            T + 14.0 + i as f64 * 16.0,
            esc(name.trim())
        );
    }
    s.push_str("</svg>");
    s
}

/// Rank (y, 1 at the top) of each run across the OM weighting scenarios (x).
fn ranking_chart(g: &Group) -> String {
    let n = g.rows.len();
    let k = g.rankings.len();
    let px = |i: usize| L + i as f64 * (W - L - R) / (k.max(2) - 1) as f64;
    let py = |r: usize| T + 10.0 + (r - 1) as f64 * (H - T - B - 20.0) / (n.max(2) - 1) as f64;
    let mut s = format!(
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="Ranking under weights">
<text x="{cx}" y="22" text-anchor="middle" class="title">OM rank under weights (reference: {refn})</text>
<text x="{cx2}" y="{xy}" text-anchor="middle" class="axis">weights quality/latency/energy, % (OM, seed 004)</text>
<text transform="translate(18,{cy}) rotate(-90)" text-anchor="middle" class="axis">rank (1 = best, at top)</text>
"#,
        cx = W / 2.0,
        refn = esc(g.om_reference.as_deref().unwrap_or("")),
        cx2 = L + (W - L - R) / 2.0,
        xy = H - 12.0,
        cy = T + (H - T - B) / 2.0,
    );
    for (j, rk) in g.rankings.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"#,
            px(j),
            H - B + 18.0,
            esc(&rk.weights)
        );
    }
    for r in 1..=n {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end" class="tick">{r}</text>"#,
            L - 14.0,
            py(r) + 4.0
        );
    }
    for (i, row) in g.rows.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<String> = g
            .rankings
            .iter()
            .enumerate()
            .map(|(j, rk)| format!("{:.1},{:.1}", px(j), py(rk.ranks[i])))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            pts.join(" ")
        );
        for (j, rk) in g.rankings.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{color}"><title>{}: OM {:.3}</title></circle>"#,
                px(j),
                py(rk.ranks[i]),
                esc(&row.label),
                rk.om[i]
            );
        }
        if let Some(last) = g.rankings.last() {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" class="pt" fill="{color}">{}</text>"#,
                px(k - 1) + 10.0,
                py(last.ranks[i]) + 4.0 + (i % 2) as f64 * 10.0,
                esc(&row.label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

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
            "<table><tr><th>name</th><th>{} ↑</th><th>95% CI</th><th>latency ms/sample ↓</th><th>p95 ms ↓</th><th>throughput ↑<br>({})</th><th>memory MiB ↓</th><th>energy J/sample ↓</th><th>PER ↑</th><th>medals</th><th>Pareto (all axes)</th></tr>",
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
                "<tr{}><td>{}</td><td>{:.4}</td><td>[{:.4}, {:.4}]</td><td>{:.1}</td><td>{:.1}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
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
                opt(row.per, 3),
                row.medals,
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
            "<h3>{}</h3><p class=\"note\">{} · {} · engine {} · {} repeat(s) · {} samples · {} errors{} · {} → {}<br>memory: {}</p>",
            esc(&p.run_id),
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
