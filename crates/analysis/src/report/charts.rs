//! Which charts a group gets: the frontiers per axis, the batch-size curve, the OM
//! ranking, and the serving curve of load files.

use std::fmt::Write as _;

use super::svg::{
    axis_titles, curve, esc, open, point_label, scatter, Point, Series, B, H, L, PALETTE, R, T, W,
};
use super::{Group, Row};
use crate::serving::ServingPoint;

pub(super) fn charts(g: &Group) -> String {
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
pub(super) fn serving_curve(points: &[ServingPoint]) -> String {
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

/// Rank (y, 1 at the top) of each run across the OM weighting scenarios (x).
fn ranking_chart(g: &Group) -> String {
    let n = g.rows.len();
    let k = g.rankings.len();
    let px = |i: usize| L + i as f64 * (W - L - R) / (k.max(2) - 1) as f64;
    let py = |r: usize| T + 10.0 + (r - 1) as f64 * (H - T - B - 20.0) / (n.max(2) - 1) as f64;
    let mut s = open(
        &format!(
            "OM rank under weights (reference: {})",
            g.om_reference.as_deref().unwrap_or("")
        ),
        false,
    );
    s.push_str(&axis_titles(
        "weights quality/latency/energy, % (OM, seed 004)",
        H - 12.0,
        "rank (1 = best, at top)",
    ));
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
            let (x, y) = (px(k - 1), py(last.ranks[i]) + 4.0 + (i % 2) as f64 * 10.0);
            let _ = writeln!(s, "{}", point_label(x, y, 10.0, color, &row.label));
        }
    }
    s.push_str("</svg>");
    s
}
