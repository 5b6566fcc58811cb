//! The flags `trilemma run` and `trilemma sweep` share, and the configs built from them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use trilemma_assets::{Cache, Catalog};
use trilemma_core::{Constraint, RunSettings, Sampling};
use trilemma_runner::inputs::{load_tasks, TaskSpec};
use trilemma_runner::EvalContext;
use trilemma_telemetry::{IdleBaseline, TelemetryConfig};

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Model: a catalog name (fetched and verified on first use) or a path to a GGUF file.
    /// Repeat to compare several models.
    #[arg(
        long = "model",
        short = 'm',
        value_name = "MODEL",
        default_value = "smollm2-135m"
    )]
    pub models: Vec<String>,
    /// Task name (arc-easy, arc-challenge, hellaswag, mmlu, boolq, piqa, winogrande, sst2,
    /// gsm8k; see README "Built-in tasks"). Repeat to run several.
    /// (Default: arc-easy, when no --task-file is given either.)
    #[arg(long = "task", short = 't')]
    pub tasks: Vec<String>,
    /// A custom task file (TOML with lm-eval's field names over a local JSONL/CSV file;
    /// see examples/tasks/). Repeat to run several.
    #[arg(long = "task-file")]
    pub task_files: Vec<PathBuf>,
    /// Few-shot examples before each item, drawn deterministically (with --seed) from the
    /// task's own train/dev split, never from the evaluated one (default: the task's own).
    #[arg(long)]
    pub num_fewshot: Option<usize>,
    /// Evaluate only the first N items of each task.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Directory for results; one run directory per (model, task) is created inside it.
    /// Re-running with the same --out resumes interrupted runs.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Evaluate through an OpenAI-compatible server instead of the embedded engine
    /// (e.g. http://127.0.0.1:8080/v1; vLLM, llama.cpp's server, `trilemma serve`...).
    /// Multiple-choice tasks need /v1/completions with `echo` and `logprobs`.
    #[arg(long, value_name = "URL")]
    pub engine: Option<String>,
    /// The model name the server knows (default: the --model given).
    #[arg(long, requires = "engine")]
    pub served_model: Option<String>,
    /// Environment variable that holds the server's API key (the key is never written
    /// into results or logs). Not set: no key is sent.
    #[arg(long, requires = "engine", value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Items evaluated together in one engine call.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// CPU threads for inference (default: all cores).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Layers offloaded to a GPU: a number, `all`, or `auto` (the default: all where the
    /// build has a GPU backend and finds a GPU, else none). Recorded in the manifest.
    #[arg(long, default_value = "auto", value_name = "N|all|auto")]
    pub gpu_layers: trilemma_core::GpuLayers,
    /// KV cache size in tokens, shared by the sequences of a batch.
    #[arg(long, default_value_t = 4096)]
    pub n_ctx: u32,
    /// Run the whole task this many times (mean and spread across repeats).
    #[arg(long, default_value_t = 1)]
    pub repeats: u32,
    /// Items evaluated first and not counted.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// Seconds to pause between repeats.
    #[arg(long, default_value_t = 0.0)]
    pub cooldown: f64,
    /// Seed of few-shot draws, of every bootstrap interval, and of sampled generations
    /// (item `i` of repeat `r` draws with a seed derived from this one, its id and `r`).
    #[arg(long, default_value_t = trilemma_core::DEFAULT_SEED)]
    pub seed: u64,
    /// Sample generation tasks' answers at this temperature instead of greedy decoding
    /// (0, the default, is greedy). With --repeats K each item is drawn K times, and the
    /// summary gives the spread across the draws.
    #[arg(long, default_value_t = 0.0, help_heading = "Generation")]
    pub temperature: f32,
    /// Draw each item K times (needs --temperature above 0; each draw is a repeat with its
    /// own seed, so it replaces --repeats). The summary adds pass@k, the self-consistency
    /// score (each item's most frequent answer) and the spread of each item's draws.
    #[arg(
        long,
        value_name = "K",
        conflicts_with = "repeats",
        help_heading = "Generation"
    )]
    pub samples_per_item: Option<u32>,
    /// Nucleus truncation before each draw (with --temperature above 0).
    #[arg(long, help_heading = "Generation")]
    pub top_p: Option<f32>,
    /// Keep the k most likely tokens before each draw (with --temperature above 0).
    #[arg(long, help_heading = "Generation")]
    pub top_k: Option<u32>,
    /// Constrain generation tasks' answers while decoding, by a llama.cpp grammar, so the
    /// answer parses by construction: `json` (any JSON object) or `schema` (the task's
    /// answer schema: halueval-validator's `result` among its labels). The task runs as
    /// `TASK+json` / `TASK+schema`, beside its unconstrained run.
    #[arg(long, value_enum, help_heading = "Generation")]
    pub constrain: Option<ConstrainArg>,
    /// Print the summaries as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Do not fetch missing catalog assets.
    #[arg(long)]
    pub offline: bool,
    /// Seconds of idle power measured before the first run (subtracted from energy; 0 skips).
    #[arg(long, default_value_t = 5.0)]
    pub idle_baseline: f64,
    /// Meter sampling period, milliseconds.
    #[arg(long, default_value_t = 100)]
    pub meter_period_ms: u64,
    /// Grid carbon intensity: a region (world, us, eu, fr, de, uk, in, cn) or g CO2/kWh.
    #[arg(long, default_value = "world")]
    pub grid: String,
    /// Electricity price, USD per kWh.
    #[arg(long, default_value_t = trilemma_telemetry::DEFAULT_PRICE_USD_PER_KWH)]
    pub price: f64,
    /// Root of the powercap (RAPL) tree.
    #[arg(long, default_value = "/sys/class/powercap", hide = true)]
    pub powercap_root: PathBuf,
}

/// `--constrain`: what generation tasks' answers must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConstrainArg {
    /// Any JSON object.
    Json,
    /// The task's answer schema: for a JSON-verdict task (halueval-validator), an object
    /// whose `result` is one of its labels.
    Schema,
}

impl ConstrainArg {
    /// The suffix a constrained task's name gets (`halueval-validator+json`).
    fn label(self) -> &'static str {
        match self {
            ConstrainArg::Json => "json",
            ConstrainArg::Schema => "schema",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ConstrainArg::Json => {
                "a JSON-object grammar (--constrain json: llama.cpp's converter of the schema {\"type\": \"object\"})"
            }
            ConstrainArg::Schema => {
                "the grammar of the task's answer schema (--constrain schema: an object whose result is one of the task's labels, with optional sources and reason; llama.cpp's converter)"
            }
        }
    }

    fn constraint(self) -> Constraint {
        match self {
            ConstrainArg::Json => Constraint::json_object(),
            ConstrainArg::Schema => Constraint::AnswerSchema,
        }
    }
}

pub(crate) fn telemetry_config(args: &RunArgs) -> anyhow::Result<TelemetryConfig> {
    let grid_g_per_kwh = match trilemma_telemetry::grid_intensity(&args.grid) {
        Some(g) => g,
        None => args.grid.parse::<f64>().map_err(|_| {
            anyhow::anyhow!(
                "--grid {:?} is neither a known region ({}) nor a number of g CO2/kWh",
                args.grid,
                trilemma_telemetry::GRID_INTENSITY
                    .iter()
                    .map(|(r, _)| *r)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
    };
    Ok(TelemetryConfig {
        period: std::time::Duration::from_millis(args.meter_period_ms.max(1)),
        powercap_root: args.powercap_root.clone(),
        grid_g_per_kwh,
        price_usd_per_kwh: args.price,
        estimate_machine_wide: false,
    })
}

/// Checks every input of a run or sweep in milliseconds, before anything slow (fetching
/// data or models, hashing, idle metering, loading): task names and files, the engine
/// URL and its key variable, or the models' files, and the output directory `out`.
pub(crate) fn preflight(args: &RunArgs, out: &std::path::Path) -> anyhow::Result<()> {
    crate::preflight::tasks(&args.tasks, &args.task_files)?;
    if !(0.0..=2.0).contains(&args.temperature) {
        anyhow::bail!(
            "--temperature {}: give a value from 0 (greedy) to 2",
            args.temperature
        );
    }
    if let Some(k) = args.samples_per_item {
        if !(1..=1000).contains(&k) {
            anyhow::bail!("--samples-per-item {k}: give a number of draws from 1 to 1000");
        }
        if args.temperature == 0.0 {
            anyhow::bail!(
                "--samples-per-item {k}: with greedy decoding (--temperature 0) every draw is \
                 the same answer; give --temperature above 0 (or --repeats {k} to time the \
                 same answers {k} times)"
            );
        }
    }
    if let Some(p) = args.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
        anyhow::bail!("--top-p {p}: give a value above 0 and at most 1");
    }
    if args.engine.is_some() && args.gpu_layers != trilemma_core::GpuLayers::Auto {
        anyhow::bail!(
            "--gpu-layers {}: with --engine the server decides where its model runs",
            args.gpu_layers
        );
    }
    if args.engine.is_none() {
        trilemma_engine_gguf::check_gpu_layers(args.gpu_layers).map_err(anyhow::Error::msg)?;
    }
    if args.engine.is_some() && (args.temperature > 0.0 || args.constrain.is_some()) {
        anyhow::bail!(
            "--temperature and --constrain draw through the embedded engine; with --engine, \
             set sampling on the server"
        );
    }
    match &args.engine {
        Some(url) => {
            crate::preflight::engine_url(url, "--engine")?;
            if let Some(var) = &args.api_key_env {
                if std::env::var_os(var).is_none() {
                    anyhow::bail!("--api-key-env {var}: the environment variable {var} is not set");
                }
            }
        }
        None => crate::preflight::models(&args.models)?,
    }
    crate::preflight::out_dir(out, "--out")
}

/// Loads the tasks `--task`/`--task-file` name (arc-easy when neither is given); bad names
/// fail before anything is fetched. Rows that could not be parsed are reported.
pub(crate) fn tasks(args: &RunArgs) -> anyhow::Result<Vec<trilemma_tasks::Task>> {
    let spec = TaskSpec {
        names: args.tasks.clone(),
        files: args.task_files.clone(),
        num_fewshot: args.num_fewshot,
        seed: args.seed,
        offline: args.offline,
    };
    let mut loaded = load_tasks(&spec, &Cache::from_env(), &Catalog::builtin())?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(c) = args.constrain {
        // A constrained task is another evaluation setting: its own name, so that its run
        // sits beside the unconstrained one in a directory and a report.
        for t in &mut loaded.tasks {
            if c == ConstrainArg::Schema && t.answer_schema().is_none() {
                anyhow::bail!(
                    "--constrain schema: task {} has no answer schema (JSON-verdict tasks such \
                     as halueval-validator have one); use --constrain json or no constraint",
                    t.info.name
                );
            }
            t.info.name = format!("{}+{}", t.info.name, c.label());
            t.info.source = format!("{}; decoded under {}", t.info.source, c.describe());
        }
    }
    Ok(loaded.tasks)
}

/// The run settings the flags give, at `batch_size` (nothing is measured).
pub(crate) fn run_settings(args: &RunArgs, batch_size: usize) -> RunSettings {
    RunSettings {
        limit: args.limit,
        batch_size: batch_size.max(1),
        repeats: args.samples_per_item.unwrap_or(args.repeats).max(1),
        warmup: args.warmup,
        cooldown_s: args.cooldown,
        seed: args.seed,
        sampling: Sampling {
            temperature: args.temperature,
            top_p: args.top_p,
            top_k: args.top_k,
            ..Sampling::default()
        },
        constraint: args.constrain.map(ConstrainArg::constraint),
    }
}

/// What every run of this invocation shares: the settings at `batch_size`, the meters,
/// the idle baseline (measured now, for `--idle-baseline` seconds), the host.
pub(crate) fn eval_context(
    args: &RunArgs,
    batch_size: usize,
    meters: TelemetryConfig,
    remote: bool,
) -> EvalContext {
    let idle = idle_baseline(args, &meters);
    EvalContext {
        settings: run_settings(args, batch_size),
        meters,
        idle,
        host: trilemma_telemetry::detect_host(),
        remote,
        command: std::env::args().collect(),
    }
}

/// First Ctrl-C: finish the batch in flight, write the summary, exit 130. Second: exit
/// at once (finished batches are already on disk). Returns the flag the runner polls.
pub(crate) fn stop_on_ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after the batch in flight (Ctrl-C again to quit now)");
    })
    .context("installing the Ctrl-C handler")?;
    Ok(stop)
}

/// Idle power measured for `--idle-baseline` seconds before anything runs (none at 0).
fn idle_baseline(args: &RunArgs, meters: &TelemetryConfig) -> Option<IdleBaseline> {
    (args.idle_baseline > 0.0).then(|| {
        eprintln!("measuring idle power for {:.0} s", args.idle_baseline);
        trilemma_telemetry::measure_idle(
            meters,
            std::time::Duration::from_secs_f64(args.idle_baseline),
        )
    })
}
