//! Reports over run directories: load, compare within (task, hardware) groups, render.
//!
//! Runs of different tasks or hardware are never min-max normalised together: each group
//! gets its own PER, frontiers, medals and recommendations.

mod build;
mod charts;
mod csv;
mod fit;
mod group;
mod html;
mod identity;
mod json;
mod markdown;
mod read;
mod svg;
mod types;

pub use build::{build, build_with_serving};
pub use csv::to_csv;

/// One line of a [`line_chart_svg`]: its name and its (label, x, y) points in order.
pub type LineSeries = (String, Vec<(String, f64, f64)>);

/// A standalone chart of labelled lines in the report's style (axis titles given whole,
/// e.g. with their better direction): the cascade frontier uses it. Empty without points.
pub fn line_chart_svg(title: &str, x_title: &str, y_title: &str, series: &[LineSeries]) -> String {
    svg::curve_titled(title, x_title, y_title, series)
}
pub use html::to_html;
pub use json::to_json;
pub use markdown::to_markdown;
pub use read::{load_runs, RunEntry};
pub(crate) use svg::esc as svg_esc;
pub use types::{EnergyProvenance, Frontiers, Group, Provenance, Ranking, Report, Row};

/// A figure with `digits` decimals, or `-` when absent (Markdown and CSV cells).
fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}
