//! The load file of `trilemma load --out FILE`: one entry per load profile run against
//! one server, each with its raw per-request stamps, its summary and, when metered, its
//! steady-state energy. The file is rewritten whole (atomically) after every profile.
//!
//! On disk: `{"schema_version": 1, "profiles": [entry, ...]}`. Files written before the
//! schema version existed are a bare list of entries; they read as version 0.
//!
//! The plain data of a load run ([`Profile`], [`RequestRecord`], [`LoadRun`],
//! [`LoadSummary`]) lives here so that readers of the file need not depend on the load
//! generator; `trilemma-load` re-exports them.

use std::path::Path;

use serde::{Deserialize, Serialize};
use trilemma_core::stats::Distribution;
use trilemma_core::{EnergySource, MonoNs};

use crate::{io, write_json_atomic, Error, Result};

/// The load file's schema version this build writes. A bare list of entries (written
/// before the field existed) is version 0 and reads the same way.
pub const LOAD_SCHEMA_VERSION: u32 = 1;

/// How requests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Profile {
    /// N requests always in flight.
    Concurrency { n: usize },
    /// Requests start at fixed intervals, whatever the server does.
    Constant { rate: f64 },
    /// Requests start at exponential gaps (a Poisson process), seeded.
    Poisson { rate: f64, seed: u64 },
}

impl std::fmt::Display for Profile {
    /// As people say it: "concurrency 4", "constant 2.500/s", "poisson 2.500/s".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Concurrency { n } => write!(f, "concurrency {n}"),
            Self::Constant { rate } => write!(f, "constant {rate:.3}/s"),
            Self::Poisson { rate, .. } => write!(f, "poisson {rate:.3}/s"),
        }
    }
}

/// Raw stamps of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub start_ns: MonoNs,
    pub token_ns: Vec<MonoNs>,
    pub end_ns: MonoNs,
    /// From the server's usage when given, else the count of text events.
    pub output_tokens: u32,
    pub error: Option<String>,
    /// The server's own time from the request's arrival to its first text piece, when
    /// the server reports it (`server_timing.since_request_ns`, as `trilemma serve` does).
    #[serde(default)]
    pub server_ttft_ns: Option<u64>,
}

impl RequestRecord {
    /// Time to the first text piece, seconds.
    pub fn ttft_s(&self) -> Option<f64> {
        self.token_ns
            .first()
            .map(|t| t.saturating_sub(self.start_ns) as f64 / 1e9)
    }

    /// Client TTFT minus the server's own TTFT, seconds: what the network, the HTTP
    /// stacks and the client add to the server's figure.
    pub fn ttft_gap_s(&self) -> Option<f64> {
        let client = self.token_ns.first()?.checked_sub(self.start_ns)?;
        Some((client as f64 - self.server_ttft_ns? as f64) / 1e9)
    }

    /// Time per output token after the first (TPOT), seconds.
    pub fn tpot_s(&self) -> Option<f64> {
        let (first, last) = (self.token_ns.first()?, self.token_ns.last()?);
        (self.token_ns.len() > 1)
            .then(|| (last - first) as f64 / 1e9 / (self.token_ns.len() - 1) as f64)
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRun {
    pub profile: Profile,
    pub started_ns: MonoNs,
    pub ended_ns: MonoNs,
    pub requests: Vec<RequestRecord>,
    /// Connections opened (`GET /models`) before the clock started, so that no
    /// request's TTFT includes a TCP or TLS handshake.
    #[serde(default)]
    pub warm_connections: usize,
}

/// Summary of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    pub profile: Profile,
    pub completed: usize,
    pub failed: usize,
    pub duration_s: f64,
    pub requests_per_s: f64,
    pub output_tokens_per_s: f64,
    pub ttft_s: Option<Distribution>,
    pub itl_s: Option<Distribution>,
    pub tpot_s: Option<Distribution>,
    pub e2e_s: Option<Distribution>,
    pub output_tokens: Option<Distribution>,
    /// Completed requests per second that met every SLO.
    pub goodput_per_s: f64,
    /// Steady-state window (batch full until the tail starts draining), when there is one.
    pub steady_window_ns: Option<(MonoNs, MonoNs)>,
    /// Client TTFT minus the server's own TTFT, over the requests whose server reported it.
    #[serde(default)]
    pub ttft_gap_s: Option<Distribution>,
}

/// Energy of one profile over its steady-state window, per energy source (sources are
/// never summed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteadyEnergy {
    /// The figures as one line of text, as `trilemma load` prints them.
    pub text: String,
    /// The steady-state window; `None` when the batch never filled or never drained (no
    /// J/token is attributed then).
    pub window_ns: Option<(MonoNs, MonoNs)>,
    /// Output tokens inside the window (a request straddling a bound counts in part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_in_window: Option<f64>,
    /// One figure per source the meters had, in the meters' order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceEnergy>,
}

/// One energy source's figures over a steady-state window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceEnergy {
    pub source: EnergySource,
    pub joules: f64,
    pub j_per_token: f64,
    /// J/token x the mean output tokens of a completed request.
    pub j_per_request: f64,
}

/// One load profile run against one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadEntry {
    /// The server's max batch when `trilemma load --serve` started it.
    pub max_batch: Option<usize>,
    /// The in-flight count that opened the steady-state window (measured entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_batch: Option<usize>,
    /// `None` when no request succeeded (then `error` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<LoadSummary>,
    /// With `--energy`, on measured entries.
    #[serde(default)]
    pub energy: Option<SteadyEnergy>,
    /// Why the profile measured nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The raw per-request stamps.
    pub run: LoadRun,
}

/// A load file: the profiles in the order they ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadFile {
    #[serde(default)]
    pub schema_version: u32,
    pub profiles: Vec<LoadEntry>,
}

impl LoadFile {
    /// An empty load file of this build's schema version.
    pub fn new() -> Self {
        Self {
            schema_version: LOAD_SCHEMA_VERSION,
            profiles: Vec::new(),
        }
    }
}

impl Default for LoadFile {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes a load file atomically (a reader sees the previous version or this one).
pub fn write_load(path: &Path, file: &LoadFile) -> Result<()> {
    write_json_atomic(path, file)
}

/// Reads a load file of any schema version up to this build's: a bare list of entries
/// (version 0) or `{"schema_version", "profiles"}`. Errors name the file and, for an
/// entry that does not read, its index.
pub fn read_load(path: &Path) -> Result<LoadFile> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let not_load = |what: String| Error::Io {
        path: path.to_path_buf(),
        message: format!("not a load file of `trilemma load --out`: {what}"),
    };
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Line {
        path: path.to_path_buf(),
        line: e.line(),
        message: e.to_string(),
    })?;
    let (schema_version, entries) = match doc {
        serde_json::Value::Array(entries) => (0, entries),
        serde_json::Value::Object(mut doc) => {
            let version = match doc.remove("schema_version") {
                None => 0,
                Some(v) => serde_json::from_value(v)
                    .map_err(|e| not_load(format!("schema_version: {e}")))?,
            };
            crate::check_schema(path, version, LOAD_SCHEMA_VERSION)?;
            match doc.remove("profiles") {
                Some(serde_json::Value::Array(entries)) => (version, entries),
                _ => return Err(not_load("no list of \"profiles\"".into())),
            }
        }
        _ => return Err(not_load("expected a list of profile entries".into())),
    };
    let profiles = entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            serde_json::from_value(e).map_err(|e| Error::Io {
                path: path.to_path_buf(),
                message: format!("entry {i}: {e}"),
            })
        })
        .collect::<Result<_>>()?;
    Ok(LoadFile {
        schema_version,
        profiles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_read_as_people_say_them() {
        assert_eq!(Profile::Concurrency { n: 4 }.to_string(), "concurrency 4");
        assert_eq!(
            Profile::Constant { rate: 2.5 }.to_string(),
            "constant 2.500/s"
        );
        let p = Profile::Poisson { rate: 1.0, seed: 3 };
        assert_eq!(p.to_string(), "poisson 1.000/s");
    }

    #[test]
    fn a_newer_schema_and_a_bad_entry_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("load.json");
        std::fs::write(&p, r#"{"schema_version": 9, "profiles": []}"#).unwrap();
        let e = read_load(&p).unwrap_err().to_string();
        assert!(
            e.contains("load.json") && e.contains("schema version 9"),
            "{e}"
        );
        std::fs::write(&p, r#"[{"max_batch": 1}]"#).unwrap();
        let e = read_load(&p).unwrap_err().to_string();
        assert!(
            e.contains("load.json") && e.contains("entry 0") && e.contains("run"),
            "{e}"
        );
        std::fs::write(&p, r#"{"runs": 3}"#).unwrap();
        let e = read_load(&p).unwrap_err().to_string();
        assert!(
            e.contains("load.json") && e.contains("not a load file"),
            "{e}"
        );
    }
}
