//! The report's serialisable shapes: groups, rows, frontiers, rankings, provenance.

use serde::Serialize;

use crate::quant;
use crate::recommend::Recommendation;
use crate::serving::ServingPoint;

/// Which runs lie on which frontier.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Frontiers {
    pub latency_accuracy: bool,
    pub energy_accuracy: Option<bool>,
    pub size_accuracy: Option<bool>,
    /// Non-dominated over every axis all runs of the group have.
    pub all_axes: bool,
}

/// One run in a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub label: String,
    /// The run directory the row was read from (for callers joining rows to runs).
    #[serde(skip)]
    pub dir: std::path::PathBuf,
    pub run_id: String,
    /// The model's display name, followed by the start of its file's SHA-256 where
    /// another model of the report, or another file of the same type, has that name.
    pub model: String,
    /// SHA-256 of the weights file, when the run recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub quantization: Option<String>,
    /// The precision a derived variant was quantized from (`trilemma sweep --quant`),
    /// when its manifest says so: a variant derived from a 4-bit file holds no more
    /// information than that file, whatever its own type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived_from: Option<String>,
    pub batch_size: u32,
    pub threads: Option<u32>,
    pub accuracy: f64,
    pub accuracy_ci: (f64, f64),
    /// Mean end-to-end latency per sample, seconds.
    pub latency_s: f64,
    pub latency_p95_s: f64,
    /// PER's latency: ms/token for token-level tasks (time per output token), ms/sample
    /// otherwise.
    pub per_latency_ms: f64,
    /// PER's throughput: tokens/s (token level) or samples/s (sample level).
    pub per_throughput: f64,
    pub memory_mb: Option<f64>,
    pub size_mb: Option<f64>,
    /// Energy per sample, joules, from the preferred source (a meter over an estimate).
    pub energy_j: Option<f64>,
    pub energy_source: Option<String>,
    pub energy_is_estimate: bool,
    /// Grams of CO2 per sample: the preferred source's net energy at the run's grid
    /// intensity (`--grid`).
    pub co2_g: Option<f64>,
    /// USD per sample: the preferred source's net energy at the run's price (`--price`).
    pub cost_usd: Option<f64>,
    /// Estimated FLOPs per sample (2 x parameters x tokens processed).
    pub flops: Option<f64>,
    pub per: Option<f64>,
    /// Gold, silver and bronze within the group (seed 000's count over its metrics).
    pub medals: crate::score::Medals,
    pub frontiers: Frontiers,
}

/// Rank of each run under one weighting scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    pub weights: String,
    pub om: Vec<f64>,
    pub ranks: Vec<usize>,
}

/// All runs of one task on one hardware label.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub task: String,
    pub hardware: String,
    /// The evaluation setting (items evaluated, few-shot) when runs of this task and
    /// hardware differ in it: such runs are separate groups, never normalised together.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub setting: String,
    pub level: String,
    pub primary_metric: String,
    pub rows: Vec<Row>,
    pub per_note: String,
    pub recommendations: Vec<Recommendation>,
    pub quant_deltas: Vec<quant::Delta>,
    /// OM reference (the most accurate run) and rankings under seed 004's weight grid.
    pub om_reference: Option<String>,
    pub rankings: Vec<Ranking>,
    pub batch_sizes_differ: bool,
}

/// Where a run's figures came from.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub run_id: String,
    /// The model as the report's tables name it.
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
    pub dir: String,
    pub task: String,
    pub engine: String,
    pub hardware: String,
    pub repeats: u32,
    pub samples: usize,
    pub errors: usize,
    /// Samples whose prompt the engine truncated to fit its context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<trilemma_core::TruncationSummary>,
    pub partial: bool,
    pub started_at: String,
    pub finished_at: String,
    pub memory_method: Option<String>,
    pub energy: Vec<EnergyProvenance>,
    pub manifest: Option<trilemma_store::run::RunManifest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnergyProvenance {
    pub source: String,
    pub is_estimate: bool,
    pub domains: Vec<String>,
    pub window_s: f64,
    pub idle_w: Option<f64>,
    pub idle_window_s: Option<f64>,
    pub net_j: f64,
    pub attribution: String,
    pub method: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub note: String,
    pub groups: Vec<Group>,
    pub provenance: Vec<Provenance>,
    /// Serving under load (`trilemma load --out` files), with the energy-latency front.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub serving: Vec<ServingPoint>,
}
