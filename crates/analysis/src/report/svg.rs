//! SVG chart primitives for the HTML report: a scatter with its frontier, lines of
//! labelled points, and the shared frame (size, margins, palette, ticks, escaping).

use std::fmt::Write as _;

use super::fit::{text, width, Anchor, Font};

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

pub(super) struct Point {
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub frontier: bool,
}

pub(super) const W: f64 = 620.0;
pub(super) const H: f64 = 400.0;
pub(super) const L: f64 = 80.0;
pub(super) const R: f64 = 170.0;
pub(super) const T: f64 = 40.0;
pub(super) const B: f64 = 60.0;

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

/// The chart's `<svg>` opening, its title (kept inside the chart) and, with `plot`, the
/// plot area's frame.
pub(super) fn open(title: &str, plot: bool) -> String {
    let mut s = format!(
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{}">
{}
"#,
        esc(title),
        text(
            &format!(r#"x="{}" y="22""#, W / 2.0),
            Anchor::Middle,
            Font::Title,
            None,
            title,
            W - 16.0
        )
    );
    if plot {
        let _ = writeln!(
            s,
            r##"<rect x="{L}" y="{T}" width="{}" height="{}" fill="#fafafa" stroke="#999"/>"##,
            W - L - R,
            H - T - B
        );
    }
    s
}

/// The axis titles: `x` centred under the plot at height `x_at`, `y` turned along the
/// left edge; each kept inside the chart.
pub(super) fn axis_titles(x: &str, x_at: f64, y: &str) -> String {
    let (cx, cy) = (L + (W - L - R) / 2.0, T + (H - T - B) / 2.0);
    format!(
        "{}
{}
",
        text(
            &format!(r#"x="{cx}" y="{x_at}""#),
            Anchor::Middle,
            Font::Axis,
            None,
            x,
            2.0 * cx.min(W - cx) - 8.0
        ),
        text(
            &format!(r#"transform="translate(18,{cy}) rotate(-90)""#),
            Anchor::Middle,
            Font::Axis,
            None,
            y,
            2.0 * cy.min(H - cy) - 8.0
        )
    )
}

/// A point's label at (`x`, `y`): to the right of the point (`gap` pixels away) when it
/// fits there, else on whichever side has more room, kept inside the chart.
pub(super) fn point_label(x: f64, y: f64, gap: f64, fill: &str, label: &str) -> String {
    let right = W - (x + gap) - 4.0;
    let left = x - gap - 4.0;
    if width(label, Font::Point) <= right || right >= left {
        text(
            &format!(r#"x="{:.1}" y="{y:.1}""#, x + gap),
            Anchor::Start,
            Font::Point,
            Some(fill),
            label,
            right,
        )
    } else {
        text(
            &format!(r#"x="{:.1}" y="{y:.1}""#, x - gap),
            Anchor::End,
            Font::Point,
            Some(fill),
            label,
            left,
        )
    }
}

/// A scatter chart with axes, units, a "better" arrow per axis, labelled points and the
/// frontier joined by a line.
pub(super) fn scatter(
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
    let mut s = open(title, true);
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
    s.push_str(&axis_titles(
        &format!("{x_label} ({arrow})"),
        H - 18.0,
        &format!("{y_label} (better ↑)"),
    ));
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
        let label = format!("{}{}", p.label, if p.frontier { " ★" } else { "" });
        let ly = cy - 6.0 + (i % 3) as f64 * 6.0;
        let _ = writeln!(s, "{}", point_label(cx, ly, 9.0, color, &label));
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

/// One line of a [`curve`]: its name and its (label, x, y) points in order.
pub(super) type Series = (String, Vec<(String, f64, f64)>);

/// Lines of labelled points, lower is better on both axes; empty without points.
pub(super) fn curve(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    curve_titled(
        title,
        &format!("{x_label} (← better)"),
        &format!("{y_label} (↓ better)"),
        series,
    )
}

/// Lines of labelled points under axis titles given whole; empty without points.
pub(super) fn curve_titled(title: &str, x_title: &str, y_title: &str, series: &[Series]) -> String {
    let all = || series.iter().flat_map(|(_, pts)| pts.iter());
    if all().next().is_none() {
        return String::new();
    }
    let (x0, x1) = range(all().map(|p| p.1));
    let (y0, y1) = range(all().map(|p| p.2));
    let px = |x: f64| L + (x - x0) / (x1 - x0) * (W - L - R);
    let py = |y: f64| H - B - (y - y0) / (y1 - y0) * (H - T - B);
    let mut s = open(title, true);
    s.push_str(&axis_titles(x_title, H - 18.0, y_title));
    let _ = write!(
        s,
        r#"<text x="{L}" y="{t1}" class="tick">{y1l}</text><text x="{L}" y="{t2}" class="tick">{y0l}</text>
<text x="{L}" y="{t3}" class="tick">{x0l}</text><text x="{xr}" y="{t3}" text-anchor="end" class="tick">{x1l}</text>
"#,
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
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{color}"/>{}"#,
                point_label(x, y - 6.0, 6.0, color, label)
            );
        }
        let _ = writeln!(
            s,
            "{}",
            text(
                &format!(r#"x="{}" y="{}""#, W - R + 12.0, T + 14.0 + i as f64 * 16.0),
                Anchor::Start,
                Font::Point,
                Some(color),
                name.trim(),
                R - 16.0
            )
        );
    }
    s.push_str("</svg>");
    s
}
