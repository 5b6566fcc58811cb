//! `trilemma run`: evaluate models on tasks, measuring all three axes in one run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use trilemma_assets::{Cache, Catalog, ResolvedModel};
use trilemma_core::Attribution;
use trilemma_core::RunSummary;
use trilemma_engine::http::{OpenAiConfig, OpenAiEngine};
use trilemma_engine::Engine;
use trilemma_engine_gguf::{GgufConfig, GgufEngine};
use trilemma_runner::{run_items, summarize, RunSettings, RunStore, SummaryInputs};
use trilemma_telemetry::{HostInfo, IdleBaseline, Telemetry, TelemetryConfig};

use crate::output;

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Model: a catalog name (fetched and verified on first use) or a path to a GGUF file.
    /// Repeat to compare several models.
    #[arg(long = "model", short = 'm', default_value = "smollm2-135m")]
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
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
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

/// Loads the tasks `--task`/`--task-file` name (arc-easy when neither is given); bad names
/// fail before anything is fetched.
pub(crate) fn load_tasks(
    args: &RunArgs,
    cache: &Cache,
    catalog: &Catalog,
) -> anyhow::Result<Vec<trilemma_tasks::Task>> {
    let task_names: Vec<String> = if args.tasks.is_empty() && args.task_files.is_empty() {
        vec!["arc-easy".to_string()]
    } else {
        args.tasks.clone()
    };
    // Resolve everything before running anything: bad names fail fast.
    for t in &task_names {
        trilemma_tasks::data_set_for(t)?;
    }
    let mut tasks = Vec::new();
    for f in &args.task_files {
        if args.num_fewshot.is_some_and(|k| k > 0) {
            anyhow::bail!(
                "--num-fewshot is not supported for task files yet ({})",
                f.display()
            );
        }
        let task = trilemma_tasks::load_task_file(f)?;
        if task.skipped_rows > 0 {
            eprintln!(
                "warning: {}: skipped {} rows that could not be parsed (see the log for their lines)",
                task.info.name, task.skipped_rows
            );
        }
        tasks.push(task);
    }
    for t in &task_names {
        let data_set = trilemma_tasks::data_set_for(t)?;
        let package = if args.offline {
            cache.dataset(catalog, data_set)?
        } else {
            cache.fetch_dataset(catalog.dataset(data_set)?)?
        };
        let task = trilemma_tasks::load_with(
            t,
            &package,
            &trilemma_tasks::LoadOptions {
                num_fewshot: args.num_fewshot,
                seed: args.seed,
            },
        )?;
        if task.skipped_rows > 0 {
            eprintln!(
                "warning: {t}: skipped {} rows that could not be parsed",
                task.skipped_rows
            );
        }
        tasks.push(task);
    }

    Ok(tasks)
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::builtin();
    let cache = Cache::from_env();
    let meters = telemetry_config(args)?;
    let tasks = load_tasks(args, &cache, &catalog)?;
    let models: Vec<ResolvedModel> = match &args.engine {
        // Over HTTP the server holds the model: it is named, not resolved or hashed.
        Some(url) => {
            let served = args
                .served_model
                .clone()
                .or_else(|| args.models.first().cloned())
                .unwrap_or_default();
            vec![ResolvedModel {
                name: served.clone(),
                path: PathBuf::from(url),
                sha256: format!("served over HTTP: {served} at {url}"),
                origin: format!("OpenAI-compatible server at {url}"),
            }]
        }
        None => args
            .models
            .iter()
            .map(|m| cache.resolve_model(&catalog, m, !args.offline))
            .collect::<Result<_, _>>()?,
    };

    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string())
    });
    let settings = run_settings(args, args.batch_size);
    let stop = stop_on_ctrl_c()?;
    let idle = idle_baseline(args, &meters);
    let host = HostInfo::detect();
    let ctx = RunContext {
        settings: &settings,
        meters: &meters,
        idle: idle.as_ref(),
        host: &host,
        stop: &stop,
        remote: args.engine.is_some(),
    };
    let mut summaries: Vec<(RunSummary, PathBuf)> = Vec::new();
    let mut interrupted = false;
    'models: for model in &models {
        let mut engine: Box<dyn Engine> = match &args.engine {
            Some(url) => {
                let mut cfg = OpenAiConfig::new(url.clone(), model.name.clone());
                cfg.api_key_env = args.api_key_env.clone();
                cfg.max_concurrency = settings.batch_size;
                cfg.context_length = args.n_ctx;
                Box::new(OpenAiEngine::connect(cfg)?)
            }
            None => Box::new(open_embedded(
                model,
                args.threads,
                args.n_ctx,
                settings.batch_size,
            )?),
        };
        for task in &tasks {
            let dir = out.join(run_dir_name(&model.name, &task.info.name));
            let (summary, stopped) = run_one(engine.as_mut(), model, task, &dir, &ctx, None)?;
            summaries.push((summary, dir));
            if stopped {
                interrupted = true;
                break 'models;
            }
        }
    }

    if args.json {
        let list: Vec<&RunSummary> = summaries.iter().map(|(s, _)| s).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        output::print_run_table(&summaries);
        eprintln!("results: {}", out.display());
        eprintln!(
            "compare and chart them: trilemma report {} -o {}",
            out.display(),
            out.join("report.html").display()
        );
    }
    Ok(if interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// The run settings of `args` at one batch size (a sweep varies it).
pub(crate) fn run_settings(args: &RunArgs, batch_size: usize) -> RunSettings {
    RunSettings {
        limit: args.limit,
        batch_size: batch_size.max(1),
        repeats: args.repeats.max(1),
        warmup: args.warmup,
        cooldown_s: args.cooldown,
        seed: args.seed,
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
pub(crate) fn idle_baseline(args: &RunArgs, meters: &TelemetryConfig) -> Option<IdleBaseline> {
    (args.idle_baseline > 0.0).then(|| {
        eprintln!("measuring idle power for {:.0} s", args.idle_baseline);
        trilemma_telemetry::measure_idle(
            meters,
            std::time::Duration::from_secs_f64(args.idle_baseline),
        )
    })
}

/// Opens a resolved model with the embedded engine, with sequence slots for `batch_size`.
pub(crate) fn open_embedded(
    model: &ResolvedModel,
    threads: Option<u32>,
    n_ctx: u32,
    batch_size: usize,
) -> anyhow::Result<GgufEngine> {
    let mut cfg = GgufConfig::new(&model.path);
    cfg.name = model.name.clone();
    cfg.sha256 = Some(model.sha256.clone());
    cfg.threads = threads;
    cfg.n_ctx = n_ctx;
    cfg.max_sequences = (batch_size * 5).clamp(1, 64) as u32;
    Ok(GgufEngine::open(&cfg)?)
}

/// What every (model, task) run of one invocation shares.
pub(crate) struct RunContext<'a> {
    pub(crate) settings: &'a RunSettings,
    pub(crate) meters: &'a TelemetryConfig,
    pub(crate) idle: Option<&'a IdleBaseline>,
    pub(crate) host: &'a HostInfo,
    pub(crate) stop: &'a AtomicBool,
    /// The engine is a server reached over HTTP: this process's meters see the client.
    pub(crate) remote: bool,
}

/// Runs one (model, task) into its directory and returns its summary and whether it was stopped.
/// `derived` (a quantization variant's record, from `trilemma sweep`) goes into the manifest.
pub(crate) fn run_one(
    engine: &mut dyn Engine,
    model: &ResolvedModel,
    task: &trilemma_tasks::Task,
    dir: &std::path::Path,
    ctx: &RunContext<'_>,
    derived: Option<&serde_json::Value>,
) -> anyhow::Result<(RunSummary, bool)> {
    let settings = ctx.settings;
    let started_at = chrono::Utc::now().to_rfc3339();
    let engine_info = engine.engine_info();
    let run_id = format!("{}__{}", model.name, task.info.name);
    let manifest = json!({
        "trilemma_version": env!("CARGO_PKG_VERSION"),
        "run_id": run_id,
        "created_at": started_at,
        "command": std::env::args().collect::<Vec<_>>(),
        "model": {
            "name": model.name,
            "path": model.path,
            "sha256": model.sha256,
            "origin": model.origin,
            "derived": derived,
            "info": engine.model_info(),
        },
        "task": task.info,
        "engine": engine_info,
        "settings": settings,
        "decoding": "greedy (argmax), temperature 0",
        "hardware": ctx.host,
        "meters": {
            "period_ms": ctx.meters.period.as_millis() as u64,
            "grid_g_per_kwh": ctx.meters.grid_g_per_kwh,
            "price_usd_per_kwh": ctx.meters.price_usd_per_kwh,
            "idle_baseline": ctx.idle.map(|i| json!({
                "window_s": i.window_s,
                "watts": i.watts.iter().map(|(s, w)| json!({"source": s, "watts": w})).collect::<Vec<_>>(),
            })),
        },
    });
    let identity = [
        "model.sha256",
        "task.name",
        "task.source",
        "task.num_fewshot",
        "engine.kind",
        "engine.threads",
        "settings.batch_size",
        "settings.seed",
    ];
    let mut store = RunStore::open(dir, &manifest, &identity)?;
    let mut progress = output::ProgressBar::new(&format!("{} · {}", model.name, task.info.name));
    let telemetry = Telemetry::start(ctx.meters);
    let stats = run_items(engine, task, settings, &mut store, ctx.stop, &mut progress)?;
    let readings = telemetry.finish();
    for u in readings.unavailable() {
        tracing::info!("meter unavailable: {u}");
    }
    if stats.resumed > 0 {
        eprintln!(
            "{run_id}: resumed {} finished samples from {}",
            stats.resumed,
            dir.display()
        );
    }
    let records: Vec<_> = store.records().cloned().collect();
    // Energy covers the samples this process measured (earlier sessions' clocks differ).
    let measured: Vec<_> = records
        .iter()
        .filter(|r| r.session == store.session)
        .collect();
    let spans: Vec<_> = measured
        .iter()
        .map(|r| (r.timing.start_ns, r.timing.end_ns))
        .collect();
    let tokens: u64 = measured
        .iter()
        .map(|r| r.tokens.input + r.tokens.output)
        .sum();
    // Sequential runs: each sample's own window. Batched runs: per token over the
    // steady state (the batch full); when it never fills, the busy time as a whole.
    let mut energy = if settings.batch_size == 1 {
        readings.energy_summaries(
            &spans,
            measured.len(),
            tokens,
            ctx.idle,
            Attribution::SampleWindows,
        )
    } else {
        let requests: Vec<_> = measured
            .iter()
            .map(|r| {
                (
                    r.timing.start_ns,
                    r.timing.end_ns,
                    r.tokens.input + r.tokens.output,
                )
            })
            .collect();
        readings
            .steady_state_energy(&requests, settings.batch_size, ctx.idle)
            .unwrap_or_else(|| {
                let most = trilemma_telemetry::inflight_from_spans(&spans)
                    .iter()
                    .map(|e| e.1)
                    .max()
                    .unwrap_or(0);
                let mut e = readings.energy_summaries(
                    &spans,
                    measured.len(),
                    tokens,
                    ctx.idle,
                    Attribution::WholeRun,
                );
                let why = if measured.len() < settings.batch_size {
                    "fewer samples than the batch size"
                } else {
                    "the context window (--n-ctx) limits how many prompts and their generations fit at once"
                };
                for s in &mut e {
                    s.method.push_str(&format!(
                        "; no steady state: the batch of {} was never full (at most {most} samples in flight: {why}), so energy is divided over the busy time",
                        settings.batch_size
                    ));
                }
                e
            })
    };
    let (memory, mut cpu) = (readings.memory_summary(), Some(readings.cpu_summary()));
    if ctx.remote {
        remote_meters(&mut energy, &mut cpu);
    }
    let summary = summarize(
        &records,
        SummaryInputs {
            run_id,
            model: engine.model_info(),
            task: &task.info,
            engine: &engine_info,
            settings,
            energy,
            memory: if ctx.remote { None } else { memory },
            cpu,
            hardware: format!(
                "{} ({} logical CPUs)",
                ctx.host.cpu_model, ctx.host.logical_cpus
            ),
            started_at,
            finished_at: chrono::Utc::now().to_rfc3339(),
            partial: stats.interrupted,
        },
    )?;
    store.write_summary(&summary)?;
    Ok((summary, stats.interrupted))
}

/// With the engine behind HTTP, this process is only the client: its memory and the
/// CPU-model estimate (driven by this process's CPU time) say nothing of the server and
/// are left out; machine-wide counters (RAPL, NVML) stay, labelled as covering the server
/// only when it runs on this machine.
fn remote_meters(
    energy: &mut Vec<trilemma_core::EnergySummary>,
    cpu: &mut Option<trilemma_core::CpuUse>,
) {
    energy.retain(|e| e.source.is_measurement());
    for e in energy.iter_mut() {
        e.method.push_str(
            "; the engine is an HTTP server: machine-wide counters include it only when it runs on this machine",
        );
    }
    if let Some(c) = cpu {
        c.process_busy_cores = None;
        c.method = format!(
            "machine-wide only (the process is the HTTP client, not the engine); {}",
            c.method
        );
    }
}

/// The run directory's name for a (model, task): names a server gives its models may hold
/// slashes or start with a dot, so anything but `[A-Za-z0-9._-]` becomes `_`, and a
/// leading dot too (the directory always stays inside `--out`).
pub(crate) fn run_dir_name(model: &str, task: &str) -> String {
    let clean = |s: &str| -> String {
        let mut out: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if out.starts_with('.') {
            out.replace_range(..1, "_");
        }
        out
    };
    format!("{}__{}", clean(model), clean(task))
}

#[cfg(test)]
mod tests {
    use super::run_dir_name;

    #[test]
    fn run_directories_stay_inside_out() {
        assert_eq!(
            run_dir_name("smollm2-135m", "arc-easy"),
            "smollm2-135m__arc-easy"
        );
        assert_eq!(
            run_dir_name("/models/smollm2.gguf", "squad"),
            "_models_smollm2.gguf__squad"
        );
        assert_eq!(run_dir_name("../x", "t"), "_._x__t");
    }
}
