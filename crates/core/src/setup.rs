//! What a run was set up with: the task, the engine, the machine and the run settings.
//! These go into every run's manifest; the crates that act on them (tasks, engine,
//! telemetry, runner) re-export them.

use serde::{Deserialize, Serialize};

use crate::sampling::{Constraint, Sampling};

/// The seed every command uses unless told otherwise (`--seed`): few-shot draws, item
/// order in repeats, and every bootstrap resampling.
pub const DEFAULT_SEED: u64 = 1234;

/// How a task asks the model (lm-evaluation-harness's output types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    MultipleChoice,
    GenerateUntil,
    /// Generate a JSON object whose `result` field is one of a set of labels.
    JsonLabel,
    /// Log-likelihood of whole texts: perplexity.
    LoglikelihoodRolling,
}

/// What a task is, for the manifest and the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub name: String,
    pub output_type: OutputType,
    pub primary_metric: String,
    /// `sample` (classification-style) or `token` (generation), seed 001's PER levels.
    pub level: String,
    /// Where the items come from (package, file, split, few-shot).
    pub source: String,
    pub data_set: String,
    /// Few-shot examples in each prompt and where they were drawn from.
    #[serde(default)]
    pub num_fewshot: usize,
    /// Corpus-level metrics (`bleu`, `chrf`, `macro_f1`) the summary computes over all the
    /// samples' predictions and references, with a bootstrap CI over items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corpus_metrics: Vec<String>,
}

/// How many of a model's layers the engine offloads to a GPU (`--gpu-layers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuLayers {
    /// Every layer when the build has a GPU backend and it finds a GPU; none otherwise.
    #[default]
    Auto,
    /// Every layer; an error where no GPU can take them.
    All,
    /// This many (0: run on the CPU); more than the model has means all.
    Count(u32),
}

impl std::str::FromStr for GpuLayers {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "all" => Ok(Self::All),
            n => n
                .parse()
                .map(Self::Count)
                .map_err(|_| format!("{s:?}: give a number of layers, `all` or `auto`")),
        }
    }
}

impl std::fmt::Display for GpuLayers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::All => f.write_str("all"),
            Self::Count(n) => write!(f, "{n}"),
        }
    }
}

/// Where an engine runs and how, for the run manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// `llama.cpp`, `openai-http`, ...
    pub kind: String,
    /// The engine's own version string (crate and library versions).
    pub version: String,
    /// CPU threads used for inference, when the engine controls them.
    pub threads: Option<u32>,
    /// `cpu`, `cuda`, or the endpoint URL.
    pub device: String,
    /// Largest number of sequences evaluated together.
    pub max_batch: u32,
    /// Layers offloaded to a GPU (`None`: the engine does not say, e.g. a server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_layers: Option<u32>,
}

/// What the machine is, for the run manifest (read by `trilemma_telemetry::detect_host`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub cpu_model: String,
    pub logical_cpus: usize,
    pub memory_bytes: Option<u64>,
    pub os: String,
    /// GPU name and driver, when a GPU meter is available in this build.
    pub gpu: Option<String>,
}

impl HostInfo {
    /// One line: `CPU model (N logical CPUs)`, as tables name the hardware.
    pub fn label(&self) -> String {
        format!("{} ({} logical CPUs)", self.cpu_model, self.logical_cpus)
    }
}

/// How a run is executed (all of it goes into the manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// Evaluate only the first N items (in the data set's order; of each group for a
    /// task made of groups, such as MMLU's subjects).
    pub limit: Option<usize>,
    /// Items per engine call (their sequences are evaluated together).
    pub batch_size: usize,
    pub repeats: u32,
    /// Items evaluated before measuring, not recorded.
    pub warmup: usize,
    /// Pause between repeats, seconds.
    pub cooldown_s: f64,
    pub seed: u64,
    /// How generation tasks choose tokens (default: greedy). A sampled run draws item
    /// `i` of repeat `r` with a seed derived from `seed`, the item's id and `r`.
    #[serde(default, skip_serializing_if = "Sampling::is_default_greedy")]
    pub sampling: Sampling,
    /// What generation tasks' answers must be, enforced while decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<Constraint>,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            limit: None,
            batch_size: 8,
            repeats: 1,
            warmup: 0,
            cooldown_s: 0.0,
            seed: DEFAULT_SEED,
            sampling: Sampling::default(),
            constraint: None,
        }
    }
}
