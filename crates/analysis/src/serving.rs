//! Serving under load: the points of `trilemma load --out FILE` (one per server batch
//! size and load profile) and seed 004's energy-latency Pareto front over them.

use std::path::{Path, PathBuf};

use serde::Serialize;
use trilemma_store::load::LoadEntry;

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

/// Reads a load file (any schema version); entries that measured nothing (an `error`
/// entry) are skipped.
pub fn load_serving(path: &Path) -> Result<Vec<ServingPoint>> {
    let file = trilemma_store::load::read_load(path)?;
    points_of(&file.profiles, path)
}

/// The points of a load file's entries (as `trilemma load` holds them in memory);
/// `path` names them.
pub fn points_of(entries: &[LoadEntry], path: &Path) -> Result<Vec<ServingPoint>> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(s) = &e.summary else {
            continue;
        };
        let e2e = s.e2e_s.as_ref().ok_or_else(|| Error::Json {
            path: path.to_path_buf(),
            reason: format!("entry {i}: the summary has no e2e_s distribution"),
        })?;
        let energy = e.energy.as_ref();
        // The first source the meters had; sources are never summed.
        let source = energy.and_then(|en| en.sources.first());
        out.push(ServingPoint {
            source: path.to_path_buf(),
            max_batch: e.max_batch.map(|b| b as u32),
            profile: s.profile.to_string(),
            completed: s.completed as u64,
            failed: s.failed as u64,
            requests_per_s: s.requests_per_s,
            output_tokens_per_s: s.output_tokens_per_s,
            ttft_p50_s: s.ttft_s.as_ref().map(|d| d.p50),
            tpot_p50_s: s.tpot_s.as_ref().map(|d| d.p50),
            e2e_p50_s: e2e.p50,
            e2e_p90_s: Some(e2e.p90),
            j_per_token: source.map(|v| v.j_per_token),
            energy_source: source.map(|v| v.source.label().to_string()),
            energy_is_estimate: source.is_some_and(|v| !v.source.is_measurement()),
            window_s: energy
                .and_then(|en| en.window_ns)
                .map(|(t0, t1)| t1.saturating_sub(t0) as f64 / 1e9),
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
    use trilemma_core::stats::Distribution;
    use trilemma_core::EnergySource;
    use trilemma_store::load::{
        write_load, LoadFile, LoadRun, LoadSummary, Profile, SourceEnergy, SteadyEnergy,
    };

    fn dist(p50: f64) -> Distribution {
        Distribution {
            n: 10,
            mean: p50,
            p50,
            p90: p50 * 1.5,
            p95: p50 * 1.5,
            p99: p50 * 1.5,
            p999: None,
            min: p50,
            max: p50 * 1.5,
        }
    }

    fn run(profile: Profile) -> LoadRun {
        LoadRun {
            profile,
            started_ns: 0,
            ended_ns: 5_000_000_000,
            requests: Vec::new(),
            warm_connections: 0,
        }
    }

    fn entry(batch: usize, e2e: f64, j: Option<f64>) -> LoadEntry {
        let profile = Profile::Concurrency { n: batch };
        LoadEntry {
            max_batch: Some(batch),
            steady_batch: Some(batch),
            summary: Some(LoadSummary {
                profile,
                completed: 10,
                failed: 0,
                duration_s: 5.0,
                requests_per_s: 2.0,
                output_tokens_per_s: 40.0,
                ttft_s: Some(dist(0.1)),
                itl_s: None,
                tpot_s: None,
                e2e_s: Some(dist(e2e)),
                output_tokens: None,
                goodput_per_s: 2.0,
                steady_window_ns: Some((0, 2_000_000_000)),
                ttft_gap_s: None,
            }),
            energy: j.map(|j| SteadyEnergy {
                text: String::new(),
                window_ns: Some((0, 2_000_000_000)),
                tokens_in_window: Some(100.0),
                sources: vec![SourceEnergy {
                    source: EnergySource::Estimate,
                    joules: j * 100.0,
                    j_per_token: j,
                    j_per_request: j * 8.0,
                }],
            }),
            error: None,
            run: run(profile),
        }
    }

    #[test]
    fn reads_points_and_marks_the_energy_latency_front() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load.json");
        let mut file = LoadFile::new();
        file.profiles = vec![
            entry(1, 0.5, Some(2.0)),
            entry(2, 0.6, Some(1.2)),
            entry(4, 0.9, Some(1.3)), // slower and costlier than batch 2: dominated
            entry(8, 1.2, None),
            LoadEntry {
                max_batch: Some(16),
                steady_batch: None,
                summary: None,
                energy: None,
                error: Some("no request succeeded".into()),
                run: run(Profile::Concurrency { n: 16 }),
            },
        ];
        write_load(&path, &file).unwrap();
        let mut pts = load_serving(&path).unwrap();
        assert_eq!(pts.len(), 4);
        assert_eq!(pts[0].profile, "concurrency 1");
        assert_eq!(pts[1].window_s, Some(2.0));
        assert_eq!(pts[1].e2e_p90_s, Some(0.6 * 1.5));
        assert!(pts[0].energy_is_estimate);
        assert_eq!(pts[0].energy_source.as_deref(), Some("estimate"));
        assert!(pts[3].j_per_token.is_none() && pts[3].window_s.is_none());
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
        std::fs::write(
            &path,
            r#"[{"max_batch": null, "summary": {"profile": {"kind": "concurrency", "n": 1}, "completed": 1}}]"#,
        )
        .unwrap();
        let e = load_serving(&path).unwrap_err().to_string();
        assert!(e.contains("x.json") && e.contains("entry 0"), "{e}");
    }
}
