//! The summary of one run: what `summary.json` in a run directory holds.
//!
//! A summary is always derived from the run's `samples.jsonl` (and the meters'
//! readings); it is never the only copy of a result.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::{EnergySource, Truncation};
use crate::stats::{Distribution, Estimate};

/// What a model is, as far as a report needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Human name (catalog name, file stem or served model name).
    pub name: String,
    /// `general.architecture` (llama, gemma3, ...), when known.
    pub architecture: Option<String>,
    /// Parameter count, when known.
    pub parameters: Option<u64>,
    /// Quantization / file type (Q4_1, Q4_K_M, F16, ...), when known.
    pub quantization: Option<String>,
    /// Size of the weights file in bytes, when known.
    pub file_bytes: Option<u64>,
    /// Context length the engine was configured with.
    pub context_length: u32,
    /// Context length the model was trained with, when known.
    pub trained_context_length: Option<u32>,
    /// SHA-256 of the weights file, when the engine loaded a file.
    pub sha256: Option<String>,
    /// Whether the model carries a chat template.
    pub has_chat_template: bool,
}

/// Throughput over the run's measured window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Wall time of the measured window (warm-up excluded), seconds.
    pub wall_s: f64,
    pub samples_per_s: f64,
    /// All tokens the engine processed (input + output) per second.
    pub tokens_per_s: f64,
    /// Generated tokens per second (0 for log-likelihood tasks).
    pub output_tokens_per_s: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Memory of the engine's process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemorySummary {
    pub peak_rss_bytes: u64,
    pub mean_rss_bytes: u64,
    /// GPU memory used at peak, when a GPU meter ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_gpu_bytes: Option<u64>,
    /// GPU memory used, mean over the samples, when a GPU meter ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_gpu_bytes: Option<u64>,
    /// How memory was read (e.g. `/proc/self/status VmRSS every 100 ms`).
    pub method: String,
}

/// CPU use and host memory over a run, from the sampler thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuUse {
    /// The engine process's CPU seconds per wall second (1.0 = one core busy).
    pub process_busy_cores: Option<f64>,
    /// The machine's busy fraction over all its logical CPUs (0-1).
    pub machine_utilisation: Option<f64>,
    /// Peak memory in use on the machine (MemTotal - MemAvailable), bytes.
    pub peak_host_memory_used_bytes: Option<u64>,
    /// How the figures were read.
    pub method: String,
}

/// How energy was attributed to samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// Each sample's energy is the energy in its own time window (sequential runs).
    SampleWindows,
    /// Energy per token over the steady-state window where the batch is full.
    SteadyStatePerToken,
    /// Total energy divided evenly over the samples of the measured window.
    WholeRun,
}

/// Energy of a run from one source. Figures of different sources are never summed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergySummary {
    pub source: EnergySource,
    /// Domains the figure covers (e.g. `package-0`, `dram`, `gpu0`, `cpu-model`).
    pub domains: Vec<String>,
    /// Length of the metered window, seconds.
    pub window_s: f64,
    /// Energy in the window, joules, as read.
    pub raw_j: f64,
    /// Idle power measured before the run, watts (None when no baseline was taken).
    pub idle_w: Option<f64>,
    /// Length of the idle measurement, seconds.
    pub idle_window_s: Option<f64>,
    /// raw_j - idle_w * window_s (never below 0).
    pub net_j: f64,
    pub per_sample_j: f64,
    pub per_token_j: f64,
    pub per_1k_tokens_j: f64,
    pub kwh: f64,
    /// Grams of CO2 for net energy at `grid_g_per_kwh`.
    pub co2_g: f64,
    pub grid_g_per_kwh: f64,
    pub cost_usd: f64,
    pub price_usd_per_kwh: f64,
    pub attribution: Attribution,
    /// Free-text description of how the figure was obtained (model, sample period...).
    pub method: String,
    /// The window the figures cover when attributed over the steady state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_state: Option<SteadyWindow>,
}

/// Where a batched run's steady state was: the intervals with the batch full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteadyWindow {
    /// Batch size that had to be in flight.
    pub batch: usize,
    /// Number of full-batch intervals (a static-batch runner has one per engine call).
    pub intervals: usize,
    /// Monotonic bounds of the first interval's start and the last one's end, ns.
    pub first_ns: u64,
    pub last_ns: u64,
    /// Total length of the intervals, seconds.
    pub full_batch_s: f64,
    /// Time any sample was in flight, seconds.
    pub busy_s: f64,
    /// Tokens processed inside the intervals (prorated over each request's span).
    pub tokens: f64,
}

/// A figure measured once per repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatSpread {
    pub values: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation across repeats.
    pub std: f64,
}

/// With several draws of each item (a sampled run's repeats, `--samples-per-item`): what
/// the draws of one item say together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrawsSummary {
    /// The fewest scored draws any item has.
    pub draws_per_item: u32,
    pub items: usize,
    /// By per-sample metric.
    pub metrics: BTreeMap<String, ItemDraws>,
}

/// One metric over the draws of each item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemDraws {
    /// Items with at least two scored draws.
    pub items: usize,
    /// The mean over items of the sample standard deviation of the item's draws.
    pub mean_item_std: f64,
    /// Items whose draws do not all score the same.
    pub items_disagreeing: usize,
    /// For a 0/1 metric: pass@k by k, the unbiased estimator of Chen et al. (2021) per
    /// item, averaged over items (bootstrap CI over items).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pass_at_k: BTreeMap<u64, Estimate>,
    /// Self-consistency: the score of each item's most frequent answer (a tie goes to the
    /// answer drawn first), averaged over items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub majority: Option<Estimate>,
}

/// The samples of a run whose prompt the engine truncated to fit its context.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TruncationSummary {
    /// Samples truncated (each repeat counts).
    pub samples: usize,
    /// Prompt tokens dropped over them, in all.
    pub tokens_dropped: u64,
    /// Most tokens dropped from one sample.
    pub max_tokens_dropped: u32,
    /// The share of a truncated prompt that was dropped, on average (0-1).
    pub mean_share_dropped: f64,
}

impl TruncationSummary {
    /// What `cuts` (one per truncated sample) add up to; `None` when there are none.
    pub fn of(cuts: &[Truncation]) -> Option<Self> {
        if cuts.is_empty() {
            return None;
        }
        let share =
            |t: &Truncation| f64::from(t.tokens_dropped) / f64::from(t.prompt_tokens.max(1));
        Some(Self {
            samples: cuts.len(),
            tokens_dropped: cuts.iter().map(|t| u64::from(t.tokens_dropped)).sum(),
            max_tokens_dropped: cuts.iter().map(|t| t.tokens_dropped).max().unwrap_or(0),
            mean_share_dropped: cuts.iter().map(share).sum::<f64>() / cuts.len() as f64,
        })
    }
}

impl std::fmt::Display for TruncationSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sample{} truncated to fit the context, the oldest prompt tokens dropped: {} in all, at most {} from one sample, {:.0}% of a truncated prompt on average",
            self.samples,
            if self.samples == 1 { "" } else { "s" },
            self.tokens_dropped,
            self.max_tokens_dropped,
            100.0 * self.mean_share_dropped
        )
    }
}

/// The summary of one (model, task, settings) run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub model: ModelInfo,
    pub task: String,
    /// The metric shown first (e.g. `acc`, `exact_match`).
    pub primary_metric: String,
    /// `sample` for classification-style tasks, `token` for generation (seed 001's PER levels).
    pub level: String,
    /// Engine kind and version (e.g. `llama.cpp b6000 via llama-cpp-2 0.1.160`).
    pub engine: String,
    pub threads: Option<u32>,
    pub batch_size: u32,
    pub repeats: u32,
    /// With several repeats: each metric's value in each repeat, and their mean and spread.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub across_repeats: BTreeMap<String, RepeatSpread>,
    /// With several sampled draws of each item: pass@k, self-consistency and the spread
    /// of each item's draws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draws: Option<DrawsSummary>,
    pub samples: usize,
    pub errors: usize,
    /// Samples whose prompt the engine truncated to fit its context (`None`: none were,
    /// or the run predates the count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<TruncationSummary>,
    /// Aggregate scores with their uncertainty, by metric name.
    pub metrics: BTreeMap<String, Estimate>,
    /// Per sub-task (e.g. MMLU subject) scores, by group then metric; the macro average over
    /// groups is in `metrics` as `<metric>_macro`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_group: BTreeMap<String, BTreeMap<String, Estimate>>,
    /// For classification tasks scored with macro-F1: the confusion matrix (rows: true
    /// label, columns: predicted; invalid answers as class "Error") and per-class
    /// precision, recall and F1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<serde_json::Value>,
    /// End-to-end latency per sample, seconds.
    pub latency_s: Distribution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_s: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_s: Option<Distribution>,
    /// Every gap between consecutive output tokens, seconds (vLLM's ITL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_s: Option<Distribution>,
    /// Decode latency per sample: first output token to the end, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_s: Option<Distribution>,
    pub throughput: Throughput,
    pub memory: Option<MemorySummary>,
    /// CPU use of the process and the machine, and host memory, over the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuUse>,
    /// One entry per energy source that ran (never summed across sources).
    pub energy: Vec<EnergySummary>,
    /// Estimated FLOPs: 2 x parameters x tokens processed.
    pub flops_estimate: Option<f64>,
    /// Hardware label (CPU model or GPU name) for per-accelerator figures.
    pub hardware: String,
    pub started_at: String,
    pub finished_at: String,
    /// True when the run stopped before every sample was done.
    pub partial: bool,
}

impl RunSummary {
    /// The energy entry a cost per token is read from: a measured source before the
    /// estimate, and only one with a positive figure per token.
    pub fn per_token_energy(&self) -> Option<&EnergySummary> {
        self.energy
            .iter()
            .filter(|e| e.per_token_j > 0.0)
            .min_by_key(|e| !e.source.is_measurement())
    }
}
