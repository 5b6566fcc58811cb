//! One evaluation: a model on a task into its run directory, with the meters running.
//!
//! [`evaluate`] writes the typed manifest, runs every item not yet recorded (resuming an
//! interrupted run), attributes the metered energy to the samples this process
//! measured, and writes the summary. It is what `trilemma run` does per (model, task),
//! and what `trilemma sweep` does per point of its grid.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use trilemma_assets::ResolvedModel;
use trilemma_core::{
    Attribution, Constraint, CpuUse, EnergySummary, HostInfo, RunSettings, RunSummary, SampleRecord,
};
use trilemma_engine::Engine;
use trilemma_store::run::{
    Derivation, GgufMetadata, IdleRecord, MeterSettings, ModelRecord, RunManifest, RunStore,
    SourceWatts, RUN_SCHEMA_VERSION,
};
use trilemma_tasks::Task;
use trilemma_telemetry::{IdleBaseline, Readings, Telemetry, TelemetryConfig};

use crate::observe::{RunEvent, RunObserver};
use crate::open::{open, Backend};
use crate::{run_items, summarize, Error, Progress, Result, SummaryInputs};

/// What every evaluation of one invocation shares.
#[derive(Debug, Clone)]
pub struct EvalContext {
    pub settings: RunSettings,
    pub meters: TelemetryConfig,
    /// Idle power measured before anything ran (subtracted from energy).
    pub idle: Option<IdleBaseline>,
    pub host: HostInfo,
    /// The engine is a server reached over HTTP: this process's meters see the client.
    pub remote: bool,
    /// The command line, recorded in each manifest.
    pub command: Vec<String>,
}

/// The model an evaluation runs: resolved, and for a derived quantization variant, what
/// it was derived from.
#[derive(Debug, Clone)]
pub struct EvalModel {
    pub model: ResolvedModel,
    pub derived: Option<Derivation>,
}

impl From<ResolvedModel> for EvalModel {
    fn from(model: ResolvedModel) -> Self {
        Self {
            model,
            derived: None,
        }
    }
}

/// What [`evaluate`] did.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub dir: PathBuf,
    pub summary: RunSummary,
    /// Samples found already recorded (a resumed run).
    pub resumed: usize,
    /// True when a stop was requested before every sample was done.
    pub interrupted: bool,
    /// Meters that could not be read (named, never filled in).
    pub unavailable: Vec<String>,
}

/// The run directory's name for a (model, task): names a server gives its models may hold
/// slashes or start with a dot, so anything but `[A-Za-z0-9._-]` becomes `_`, and a
/// leading dot too (the directory always stays inside the output directory).
pub fn run_dir_name(model: &str, task: &str) -> String {
    format!("{}__{}", clean_name(model), clean_name(task))
}

/// `s` with anything but `[A-Za-z0-9._-]` replaced by `_`, and a leading dot too.
pub fn clean_name(s: &str) -> String {
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
}

/// What the GGUF header of the file at `path` says, when it is a readable GGUF file (a
/// model a server holds has a URL for a path, and no header here).
fn header_of(path: &Path) -> Option<GgufMetadata> {
    if !path.is_file() {
        return None;
    }
    trilemma_engine_gguf::metadata(path)
        .map_err(|e| tracing::warn!(%e, "the run's manifest records no GGUF metadata"))
        .ok()
}

/// The manifest of an evaluation of `model` on `task` with `engine`.
pub fn manifest(
    engine: &dyn Engine,
    model: &EvalModel,
    task: &Task,
    ctx: &EvalContext,
) -> RunManifest {
    let m = &model.model;
    RunManifest {
        schema_version: RUN_SCHEMA_VERSION,
        trilemma_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: format!("{}__{}", m.name, task.info.name),
        created_at: chrono::Utc::now().to_rfc3339(),
        command: ctx.command.clone(),
        model: ModelRecord {
            name: m.name.clone(),
            path: m.path.clone(),
            sha256: m.sha256.clone(),
            origin: m.origin.clone(),
            derived: model.derived.clone(),
            info: engine.model_info().clone(),
            gguf: header_of(&m.path),
        },
        task: task.info.clone(),
        engine: engine.engine_info(),
        settings: ctx.settings.clone(),
        decoding: "greedy (argmax), temperature 0".to_string(),
        hardware: ctx.host.clone(),
        meters: MeterSettings {
            period_ms: ctx.meters.period.as_millis() as u64,
            grid_g_per_kwh: ctx.meters.grid_g_per_kwh,
            price_usd_per_kwh: ctx.meters.price_usd_per_kwh,
            idle_baseline: ctx.idle.as_ref().map(|i| IdleRecord {
                window_s: i.window_s,
                watts: i
                    .watts
                    .iter()
                    .map(|(source, watts)| SourceWatts {
                        source: *source,
                        watts: *watts,
                    })
                    .collect(),
            }),
        },
    }
}

/// `ctx` with a constraint to the task's answer schema made that schema (so the manifest
/// records what was decoded under), or an error naming a task that has none.
fn for_task(ctx: &EvalContext, task: &Task) -> Result<EvalContext> {
    let mut ctx = ctx.clone();
    if ctx.settings.constraint == Some(Constraint::AnswerSchema) {
        let schema = task.answer_schema().ok_or_else(|| {
            Error::Input(format!(
                "task {}: it has no answer schema to constrain to (JSON-verdict tasks such \
                 as halueval-validator have one); use --constrain json or no constraint",
                task.info.name
            ))
        })?;
        ctx.settings.constraint = Some(Constraint::JsonSchema(schema));
    }
    Ok(ctx)
}

/// Evaluates `model` on `task` into `dir` (resuming what is there) and writes its summary.
pub fn evaluate(
    engine: &mut dyn Engine,
    model: &EvalModel,
    task: &Task,
    dir: &Path,
    ctx: &EvalContext,
    stop: &AtomicBool,
    progress: &mut dyn Progress,
) -> Result<Evaluated> {
    let ctx = &for_task(ctx, task)?;
    let settings = &ctx.settings;
    let manifest = manifest(engine, model, task, ctx);
    let mut store = RunStore::open(dir, &manifest)?;
    let telemetry = Telemetry::start(&ctx.meters);
    let stats = run_items(engine, task, settings, &mut store, stop, progress)?;
    let readings = telemetry.finish();
    let records: Vec<SampleRecord> = store.records().cloned().collect();
    // Energy covers the samples this process measured (earlier sessions' clocks differ).
    let measured: Vec<&SampleRecord> = records
        .iter()
        .filter(|r| r.session == store.session)
        .collect();
    let mut energy = attribute_energy(&readings, &measured, settings.batch_size, ctx);
    let (memory, mut cpu) = (readings.memory_summary(), Some(readings.cpu_summary()));
    if ctx.remote {
        remote_meters(&mut energy, &mut cpu);
    }
    let summary = summarize(
        &records,
        SummaryInputs {
            run_id: manifest.run_id.clone(),
            model: engine.model_info(),
            task: &task.info,
            engine: &manifest.engine,
            settings,
            energy,
            memory: if ctx.remote { None } else { memory },
            cpu,
            hardware: ctx.host.label(),
            started_at: manifest.created_at.clone(),
            finished_at: chrono::Utc::now().to_rfc3339(),
            partial: stats.interrupted,
        },
    )?;
    store.write_summary(&summary)?;
    Ok(Evaluated {
        dir: dir.to_path_buf(),
        summary,
        resumed: stats.resumed,
        interrupted: stats.interrupted,
        unavailable: readings.unavailable().to_vec(),
    })
}

/// What [`run_models`] did.
#[derive(Debug, Clone)]
pub struct RunsOutcome {
    pub runs: Vec<Evaluated>,
    /// True when a stop was requested: the runs after the stopped one did not start.
    pub interrupted: bool,
}

/// Evaluates every (model, task) pair, one run directory each under `out`, opening each
/// model once on `backend`; stops after the run in which a stop was requested.
pub fn run_models(
    models: &[EvalModel],
    tasks: &[Task],
    backend: &Backend,
    out: &Path,
    ctx: &EvalContext,
    stop: &AtomicBool,
    observer: &mut dyn RunObserver,
) -> Result<RunsOutcome> {
    let mut runs = Vec::new();
    let names = distinct_names(models);
    for (model, name) in models.iter().zip(&names) {
        let mut engine = open(&model.model, backend)?;
        for task in tasks {
            let dir = out.join(run_dir_name(name, &task.info.name));
            let mut progress = observer.run_progress(&format!("{name} · {}", task.info.name));
            let run = evaluate(
                engine.as_mut(),
                model,
                task,
                &dir,
                ctx,
                stop,
                progress.as_mut(),
            )?;
            report(&run, observer);
            let stopped = run.interrupted;
            runs.push(run);
            if stopped {
                return Ok(RunsOutcome {
                    runs,
                    interrupted: true,
                });
            }
        }
    }
    Ok(RunsOutcome {
        runs,
        interrupted: false,
    })
}

/// The name each model's run directories and progress go by: its display name, followed
/// by the start of its SHA-256 when another file of the invocation has the same name (two
/// quantizations of one model named by their headers, or two files both `model.gguf`).
fn distinct_names(models: &[EvalModel]) -> Vec<String> {
    models
        .iter()
        .map(|m| {
            let (name, sha) = (&m.model.name, &m.model.sha256);
            let shared = models
                .iter()
                .any(|o| &o.model.name == name && &o.model.sha256 != sha);
            if shared {
                format!("{name}-{}", sha.chars().take(8).collect::<String>())
            } else {
                name.clone()
            }
        })
        .collect()
}

/// Tells the observer what a finished evaluation resumed and which meters it lacked.
pub(crate) fn report(run: &Evaluated, observer: &mut dyn RunObserver) {
    for what in &run.unavailable {
        observer.event(RunEvent::MeterUnavailable { what: what.clone() });
    }
    if run.resumed > 0 {
        observer.event(RunEvent::Resumed {
            run_id: run.summary.run_id.clone(),
            samples: run.resumed,
            dir: run.dir.clone(),
        });
    }
}

/// Energy per source for the samples this process measured. Sequential runs: each
/// sample's own window. Batched runs: per token over the steady state (the batch full);
/// when it never fills, the busy time as a whole, and the method says why.
fn attribute_energy(
    readings: &Readings,
    measured: &[&SampleRecord],
    batch_size: usize,
    ctx: &EvalContext,
) -> Vec<EnergySummary> {
    let idle = ctx.idle.as_ref();
    let spans: Vec<(u64, u64)> = measured
        .iter()
        .map(|r| (r.timing.start_ns, r.timing.end_ns))
        .collect();
    let tokens: u64 = measured
        .iter()
        .map(|r| r.tokens.input + r.tokens.output)
        .sum();
    if batch_size == 1 {
        return readings.energy_summaries(
            &spans,
            measured.len(),
            tokens,
            idle,
            Attribution::SampleWindows,
        );
    }
    let requests: Vec<(u64, u64, u64)> = measured
        .iter()
        .map(|r| {
            (
                r.timing.start_ns,
                r.timing.end_ns,
                r.tokens.input + r.tokens.output,
            )
        })
        .collect();
    if let Some(e) = readings.steady_state_energy(&requests, batch_size, idle) {
        return e;
    }
    let most = trilemma_telemetry::inflight_from_spans(&spans)
        .iter()
        .map(|e| e.1)
        .max()
        .unwrap_or(0);
    let mut e =
        readings.energy_summaries(&spans, measured.len(), tokens, idle, Attribution::WholeRun);
    let why = if measured.len() < batch_size {
        "fewer samples than the batch size"
    } else {
        "the context window (--n-ctx) limits how many prompts and their generations fit at once"
    };
    for s in &mut e {
        s.method.push_str(&format!(
            "; no steady state: the batch of {batch_size} was never full (at most {most} samples in flight: {why}), so energy is divided over the busy time"
        ));
    }
    e
}

/// With the engine behind HTTP, this process is only the client: its memory and the
/// CPU-model estimate (driven by this process's CPU time) say nothing of the server and
/// are left out; machine-wide counters (RAPL, NVML) stay, labelled as covering the server
/// only when it runs on this machine.
fn remote_meters(energy: &mut Vec<EnergySummary>, cpu: &mut Option<CpuUse>) {
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

#[cfg(test)]
mod tests {
    use super::{distinct_names, run_dir_name, EvalModel};
    use trilemma_assets::ResolvedModel;

    #[test]
    fn files_sharing_a_name_get_directories_of_their_own() {
        let m = |name: &str, sha: &str| -> EvalModel {
            ResolvedModel {
                name: name.into(),
                path: format!("/m/{sha}.gguf").into(),
                sha256: sha.into(),
                origin: "local file".into(),
            }
            .into()
        };
        let models = [
            m("Qwen2.5 1.5B", "aaaaaaaa11"),
            m("Qwen2.5 1.5B", "bbbbbbbb22"),
            m("smollm2-135m", "cccccccc33"),
            m("smollm2-135m", "cccccccc33"),
        ];
        assert_eq!(
            distinct_names(&models),
            [
                "Qwen2.5 1.5B-aaaaaaaa",
                "Qwen2.5 1.5B-bbbbbbbb",
                "smollm2-135m",
                "smollm2-135m"
            ]
        );
    }

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
