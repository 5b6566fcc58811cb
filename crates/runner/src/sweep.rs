//! A sweep: models x quantizations x tasks x batch sizes x threads, each point its own
//! resumable run directory under one results tree named in `sweep.json`.
//!
//! Quantization variants are derived with llama.cpp's quantizer and cached by source
//! hash and type; a finished run (a summary that is not partial) is skipped when the
//! sweep is resumed; a sweep resumed with other axes or run flags is refused.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use trilemma_assets::ResolvedModel;
use trilemma_engine_gguf::quantize::{self, QuantType};
use trilemma_store::run::is_finished;
use trilemma_store::sweep::{
    SweepAxes, SweepManifest, SweepModel, SweepRunFlags, SWEEP_SCHEMA_VERSION,
};
use trilemma_tasks::Task;

use crate::evaluate::{clean_name, evaluate, EvalContext, EvalModel, Evaluated};
use crate::observe::{RunEvent, RunObserver};
use crate::open::{open_embedded, EngineOpts};
use crate::{Error, Result};

/// What a sweep runs.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub name: String,
    pub models: Vec<ResolvedModel>,
    /// Quantization types derived from each model (empty: each file as it is).
    pub quant: Vec<QuantType>,
    pub tasks: Vec<Task>,
    pub batch_sizes: Vec<usize>,
    /// Thread counts (`None`: all cores).
    pub threads: Vec<Option<u32>>,
    pub n_ctx: u32,
    /// Layers offloaded to a GPU.
    pub gpu_layers: trilemma_core::GpuLayers,
    /// Recorded in `sweep.json` (the rest of the run settings are in the context).
    pub num_fewshot: Option<usize>,
    /// Where derived variants are cached.
    pub derived_dir: PathBuf,
}

/// One model file of the sweep: the source as it is, or a derived variant.
#[derive(Debug, Clone)]
pub struct Variant {
    pub model: EvalModel,
    /// Part of the run's directory name: `q4_0`, or `orig` for the source as it is.
    pub tag: String,
}

/// The manifest a sweep writes (and a resumed sweep must match).
pub fn manifest(plan: &SweepPlan, ctx: &EvalContext) -> SweepManifest {
    let s = &ctx.settings;
    SweepManifest {
        schema_version: SWEEP_SCHEMA_VERSION,
        name: plan.name.clone(),
        axes: SweepAxes {
            models: plan
                .models
                .iter()
                .map(|m| SweepModel {
                    name: m.name.clone(),
                    sha256: m.sha256.clone(),
                })
                .collect(),
            quant: plan.quant.iter().map(|q| q.name.to_string()).collect(),
            tasks: plan.tasks.iter().map(|t| t.info.name.clone()).collect(),
            batch_sizes: plan.batch_sizes.clone(),
            threads: plan.threads.clone(),
        },
        run_flags: SweepRunFlags {
            limit: s.limit,
            n_ctx: plan.n_ctx,
            repeats: s.repeats,
            warmup: s.warmup,
            seed: s.seed,
            num_fewshot: plan.num_fewshot,
        },
        created_at: chrono::Utc::now().to_rfc3339(),
        command: ctx.command.clone(),
    }
}

/// The files a sweep evaluates: each model as it is, or each derived type of it.
pub fn variants(
    plan: &SweepPlan,
    threads: Option<u32>,
    observer: &mut dyn RunObserver,
) -> Result<Vec<Variant>> {
    let mut out = Vec::new();
    for m in &plan.models {
        if plan.quant.is_empty() {
            out.push(Variant {
                model: m.clone().into(),
                tag: "orig".into(),
            });
            continue;
        }
        let src_type = quantize::file_type(&m.path);
        for q in &plan.quant {
            if src_type == Some(q.ftype) {
                // Already of this type: the file itself, not a re-quantized copy.
                out.push(Variant {
                    model: m.clone().into(),
                    tag: q.name.to_string(),
                });
                continue;
            }
            observer.event(RunEvent::Deriving {
                model: m.name.clone(),
                target: q.label(),
            });
            let d = quantize::derive(&m.path, &m.sha256, *q, &plan.derived_dir, threads).map_err(
                |e| Error::Derive {
                    model: m.name.clone(),
                    target: q.label(),
                    message: e.to_string(),
                },
            )?;
            if d.info.source_is_quantized {
                observer.event(RunEvent::FromQuantized {
                    model: m.name.clone(),
                    target: q.label(),
                    source_precision: d.info.source_precision.clone(),
                });
            }
            out.push(Variant {
                model: EvalModel {
                    model: ResolvedModel {
                        name: m.name.clone(),
                        path: d.path.clone(),
                        sha256: d.info.sha256.clone(),
                        origin: format!(
                            "derived {} from {} ({}, {})",
                            d.info.target, m.name, d.info.source_precision, m.origin
                        ),
                    },
                    derived: Some(d.info),
                },
                tag: q.name.to_string(),
            });
        }
    }
    Ok(out)
}

/// The run directory name of one point of the grid.
pub fn slug(model: &str, tag: &str, task: &str, batch: usize, threads: Option<u32>) -> String {
    let t = threads.map_or_else(|| "all".to_string(), |t| t.to_string());
    clean_name(&format!("{model}-{tag}__{task}__b{batch}__t{t}"))
}

/// What a sweep did.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    /// The runs this invocation evaluated (finished earlier ones are not repeated).
    pub runs: Vec<Evaluated>,
    pub interrupted: bool,
}

/// Runs every point of `plan` not finished yet under `out`. `ctx.settings.batch_size`
/// is replaced per point.
pub fn run_sweep(
    plan: &SweepPlan,
    out: &Path,
    ctx: &EvalContext,
    stop: &AtomicBool,
    observer: &mut dyn RunObserver,
) -> Result<SweepOutcome> {
    manifest(plan, ctx).write_or_check(out)?;
    let vars = variants(plan, plan.threads.first().copied().flatten(), observer)?;
    let total = vars.len() * plan.tasks.len() * plan.batch_sizes.len() * plan.threads.len();
    let mut done = 0usize;
    let mut runs = Vec::new();
    for v in &vars {
        for &b in &plan.batch_sizes {
            for &t in &plan.threads {
                let name = &v.model.model.name;
                let dirs: Vec<PathBuf> = plan
                    .tasks
                    .iter()
                    .map(|task| out.join(slug(name, &v.tag, &task.info.name, b, t)))
                    .collect();
                if dirs.iter().all(|d| is_finished(d)) {
                    done += dirs.len();
                    observer.event(RunEvent::Skipped {
                        done,
                        total,
                        model: name.clone(),
                        tag: v.tag.clone(),
                        batch_size: b,
                    });
                    continue;
                }
                let mut point = ctx.clone();
                point.settings.batch_size = b.max(1);
                let mut engine = open_embedded(&v.model.model, &{
                    let mut o = EngineOpts::for_batch(t, plan.n_ctx, b);
                    o.gpu_layers = plan.gpu_layers;
                    o
                })?;
                for (task, dir) in plan.tasks.iter().zip(&dirs) {
                    done += 1;
                    if is_finished(dir) {
                        continue;
                    }
                    observer.event(RunEvent::Starting {
                        done,
                        total,
                        dir: dir.clone(),
                    });
                    let mut progress =
                        observer.run_progress(&format!("{name} · {}", task.info.name));
                    let run = evaluate(
                        &mut engine,
                        &v.model,
                        task,
                        dir,
                        &point,
                        stop,
                        progress.as_mut(),
                    )?;
                    crate::evaluate::report(&run, observer);
                    let stopped = run.interrupted;
                    runs.push(run);
                    if stopped {
                        return Ok(SweepOutcome {
                            runs,
                            interrupted: true,
                        });
                    }
                }
            }
        }
    }
    Ok(SweepOutcome {
        runs,
        interrupted: false,
    })
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs_name_every_axis_and_stay_plain() {
        assert_eq!(
            slug("smollm2-135m", "q4_0", "arc-easy", 8, None),
            "smollm2-135m-q4_0__arc-easy__b8__tall"
        );
        assert_eq!(slug("a/b", "orig", "t", 1, Some(2)), "a_b-orig__t__b1__t2");
    }
}
