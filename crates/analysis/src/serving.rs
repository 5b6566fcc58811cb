//! Serving under load: the points of `trilemma load --out FILE` (one per server batch
//! size and load profile) and seed 004's energy-latency Pareto front over them.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::pareto::pareto_2d;
use crate::score::Direction;
use crate::{Error, Result};

/// How the serving section's figures were obtained.
pub const NOTE: &str = "Each row is one load profile against one server (`trilemma load`); latencies are client-side percentiles over the profile's requests. J/token is the energy over the steady-state window (the batch full until the tail starts draining, as ML.ENERGY defines it) divided by the output tokens inside it; the Pareto front is over median end-to-end latency and J/token, both lower is better.";

/// One load profile run against one server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServingPoint {
    /// The load file it came from.
    pub source: PathBuf,
    /// The server's max batch when `trilemma load --serve` started it.
    pub max_batch: Option<u32>,
    /// The load profile, e.g. "concurrency 4" or "poisson 2.5/s".
    pub profile: String,
    pub completed: u64,
    pub failed: u64,
    pub requests_per_s: f64,
    pub output_tokens_per_s: f64,
    pub ttft_p50_s: Option<f64>,
    pub tpot_p50_s: Option<f64>,
    pub e2e_p50_s: f64,
    pub e2e_p90_s: Option<f64>,
    /// J/token over the run's steady-state window, from the first energy source.
    pub j_per_token: Option<f64>,
    pub energy_source: Option<String>,
    pub energy_is_estimate: bool,
    /// Length of the steady-state window, seconds.
    pub window_s: Option<f64>,
    /// On the Pareto front of median latency and J/token (both lower is better), among
    /// the points with an energy figure.
    pub frontier: bool,
}

/// A load profile as people say it: "concurrency 4", "constant 2.500/s".
pub fn profile_label(p: &Value) -> String {
    match p["kind"].as_str() {
        Some("concurrency") => format!("concurrency {}", p["n"]),
        Some("constant") => format!("constant {:.3}/s", p["rate"].as_f64().unwrap_or(f64::NAN)),
        Some("poisson") => format!("poisson {:.3}/s", p["rate"].as_f64().unwrap_or(f64::NAN)),
        _ => p.to_string(),
    }
}

/// Reads a load file; entries that measured nothing (an `error` entry) are skipped.
pub fn load_serving(path: &Path) -> Result<Vec<ServingPoint>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let entries = doc.as_array().ok_or_else(|| Error::Json {
        path: path.to_path_buf(),
        reason: "not a load file of `trilemma load --out` (expected a list of profile entries)"
            .into(),
    })?;
    points_of(entries, path)
}

/// The points of a load file's entries (as `trilemma load` holds them in memory);
/// `path` names them.
pub fn points_of(entries: &[Value], path: &Path) -> Result<Vec<ServingPoint>> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let s = &e["summary"];
        if s.is_null() {
            continue;
        }
        let bad = |field: &str| Error::Json {
            path: path.to_path_buf(),
            reason: format!("entry {i}: missing or non-numeric summary.{field}"),
        };
        let num = |ptr: &str| s.pointer(ptr).and_then(Value::as_f64);
        let source = e.pointer("/energy/sources/0");
        out.push(ServingPoint {
            source: path.to_path_buf(),
            max_batch: e["max_batch"].as_u64().map(|b| b as u32),
            profile: profile_label(&s["profile"]),
            completed: s["completed"].as_u64().ok_or_else(|| bad("completed"))?,
            failed: s["failed"].as_u64().unwrap_or(0),
            requests_per_s: num("/requests_per_s").ok_or_else(|| bad("requests_per_s"))?,
            output_tokens_per_s: num("/output_tokens_per_s")
                .ok_or_else(|| bad("output_tokens_per_s"))?,
            ttft_p50_s: num("/ttft_s/p50"),
            tpot_p50_s: num("/tpot_s/p50"),
            e2e_p50_s: num("/e2e_s/p50").ok_or_else(|| bad("e2e_s.p50"))?,
            e2e_p90_s: num("/e2e_s/p90"),
            j_per_token: source.and_then(|v| v["j_per_token"].as_f64()),
            energy_source: source.and_then(|v| v["source"].as_str().map(String::from)),
            energy_is_estimate: source.is_some_and(|v| v["source"] == "estimate"),
            window_s: e
                .pointer("/energy/window_ns")
                .and_then(Value::as_array)
                .and_then(|w| Some((w.get(1)?.as_f64()? - w.first()?.as_f64()?) / 1e9)),
            frontier: false,
        });
    }
    Ok(out)
}

/// The serving table's columns (lower is better for latencies and J/token).
pub const COLUMNS: [&str; 11] = [
    "load file",
    "max batch",
    "profile",
    "req/s",
    "out tok/s",
    "TTFT p50 ms",
    "TPOT p50 ms",
    "e2e p50 ms",
    "e2e p90 ms",
    "J/token",
    "Pareto",
];

/// One serving point's cells, in [`COLUMNS`] order, as plain text.
pub fn cells(p: &ServingPoint) -> [String; 11] {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{:.1}", v * 1e3));
    [
        p.source.display().to_string(),
        p.max_batch.map_or("-".into(), |b| b.to_string()),
        p.profile.clone(),
        format!("{:.2}", p.requests_per_s),
        format!("{:.1}", p.output_tokens_per_s),
        ms(p.ttft_p50_s),
        ms(p.tpot_p50_s),
        ms(Some(p.e2e_p50_s)),
        ms(p.e2e_p90_s),
        energy_text(p),
        if p.frontier { "yes" } else { "" }.into(),
    ]
}

/// J/token of a serving point with its source, an estimate named as one.
pub fn energy_text(p: &ServingPoint) -> String {
    let window = p
        .window_s
        .map_or(String::new(), |w| format!(", window {w:.1} s"));
    match (p.j_per_token, &p.energy_source) {
        (Some(j), _) if p.energy_is_estimate => {
            format!("{j:.3} (ESTIMATE from CPU use, not a measurement{window})")
        }
        (Some(j), Some(src)) => format!("{j:.3} ({src}{window})"),
        _ => "-".into(),
    }
}

/// Marks the points on the front of median latency and J/token (lower is better on both).
pub fn mark_frontier(points: &mut [ServingPoint]) -> Result<()> {
    let idx: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].j_per_token.is_some())
        .collect();
    let xy: Vec<(f64, f64)> = idx
        .iter()
        .map(|&i| {
            (
                points[i].e2e_p50_s,
                points[i].j_per_token.unwrap_or(f64::NAN),
            )
        })
        .collect();
    let front = pareto_2d(&xy, Direction::LowerIsBetter, Direction::LowerIsBetter)?;
    for (i, on) in idx.into_iter().zip(front) {
        points[i].frontier = on;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(batch: u32, e2e: f64, j: Option<f64>) -> Value {
        serde_json::json!({
            "max_batch": batch,
            "summary": {"profile": {"kind": "concurrency", "n": batch}, "completed": 10, "failed": 0,
                "requests_per_s": 2.0, "output_tokens_per_s": 40.0,
                "e2e_s": {"p50": e2e, "p90": e2e * 1.5}, "ttft_s": {"p50": 0.1}},
            "energy": j.map(|j| serde_json::json!({"window_ns": [0, 2_000_000_000u64],
                "sources": [{"source": "estimate", "j_per_token": j}]})),
        })
    }

    #[test]
    fn reads_points_and_marks_the_energy_latency_front() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load.json");
        let doc = serde_json::json!([
            entry(1, 0.5, Some(2.0)),
            entry(2, 0.6, Some(1.2)),
            entry(4, 0.9, Some(1.3)), // slower and costlier than batch 2: dominated
            entry(8, 1.2, None),
            {"max_batch": 16, "error": "no request succeeded"},
        ]);
        std::fs::write(&path, doc.to_string()).unwrap();
        let mut pts = load_serving(&path).unwrap();
        assert_eq!(pts.len(), 4);
        assert_eq!(pts[0].profile, "concurrency 1");
        assert_eq!(pts[1].window_s, Some(2.0));
        assert!(pts[0].energy_is_estimate);
        mark_frontier(&mut pts).unwrap();
        let front: Vec<bool> = pts.iter().map(|p| p.frontier).collect();
        assert_eq!(front, vec![true, true, false, false]);
    }

    #[test]
    fn a_file_that_is_not_a_load_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, r#"{"runs": 3}"#).unwrap();
        let e = load_serving(&path).unwrap_err().to_string();
        assert!(e.contains("x.json") && e.contains("load file"), "{e}");
        std::fs::write(&path, r#"[{"summary": {"profile": {}, "completed": 1}}]"#).unwrap();
        let e = load_serving(&path).unwrap_err().to_string();
        assert!(e.contains("entry 0") && e.contains("requests_per_s"), "{e}");
    }
}
