//! A sweep: models x quantizations x tasks x batch sizes x threads, each point its own
//! resumable run directory under one results tree named in `sweep.json`.
//!
//! Quantization variants are derived with llama.cpp's quantizer and cached by source
//! hash and type; a finished run (a summary that is not partial) is skipped when the
//! sweep is resumed; a sweep resumed with other axes or run flags is refused.
//!
//! A sweep can be split into shards for a cluster's job array: [`planned_runs`] lists the
//! grid without running it, [`assign_shards`] gives each run to one of N shards
//! (deterministic, balanced by an estimate of each run's cost), and [`run_sweep`] with a
//! [`Shard`] runs only its own, into the same results tree.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

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

/// The files a sweep evaluates: each model as it is, or each derived type of it. Only
/// the variants `wanted(model, tag)` are derived (a shard derives what it runs).
pub fn variants(
    plan: &SweepPlan,
    threads: Option<u32>,
    wanted: &dyn Fn(&str, &str) -> bool,
    observer: &mut dyn RunObserver,
) -> Result<Vec<Variant>> {
    let mut out = Vec::new();
    for m in &plan.models {
        if plan.quant.is_empty() {
            if wanted(&m.name, "orig") {
                out.push(Variant {
                    model: m.clone().into(),
                    tag: "orig".into(),
                });
            }
            continue;
        }
        let src_type = quantize::file_type(&m.path);
        for q in &plan.quant {
            if !wanted(&m.name, q.name) {
                continue;
            }
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

/// Shard `index` of `count` (`--shard K/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{s:?}: give K/N, shard K of N, with 0 <= K < N");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

/// One run of a sweep's grid, listed before anything runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    /// The run's directory under the results tree.
    pub dir: String,
    pub model: String,
    /// The quantization it runs (`orig`: the file as it is).
    pub quant: String,
    pub task: String,
    pub batch_size: usize,
    /// `None`: all cores.
    pub threads: Option<u32>,
    /// Items it evaluates (the task's, up to `--limit`), times the repeats.
    pub items: usize,
    /// The estimate shards are balanced by: items x the model file's bytes (a derived
    /// variant counts its source's bytes scaled by bits per weight), in GB-items.
    pub cost: f64,
    /// The shard that runs it, when the grid is split.
    pub shard: Option<usize>,
}

/// The sweep's grid in the order it runs, each point's cost estimated; nothing is run or
/// derived.
pub fn planned_runs(plan: &SweepPlan, s: &trilemma_core::RunSettings) -> Vec<PlannedRun> {
    let mut out = Vec::new();
    for m in &plan.models {
        let bytes = std::fs::metadata(&m.path).map_or(0, |md| md.len()) as f64;
        let src_bits = quantize::file_type(&m.path).and_then(quantize::bits_per_weight);
        let tags: Vec<(String, f64)> = if plan.quant.is_empty() {
            vec![("orig".into(), bytes)]
        } else {
            plan.quant
                .iter()
                .map(|q| {
                    let scale = match (src_bits, quantize::bits_per_weight(q.ftype)) {
                        (Some(a), Some(b)) if a > 0.0 => b / a,
                        _ => 1.0,
                    };
                    (q.name.to_string(), bytes * scale)
                })
                .collect()
        };
        for (tag, bytes) in &tags {
            for &b in &plan.batch_sizes {
                for &t in &plan.threads {
                    for task in &plan.tasks {
                        let n = s
                            .limit
                            .map_or(task.items.len(), |l| l.min(task.items.len()));
                        let items = n * s.repeats.max(1) as usize;
                        out.push(PlannedRun {
                            dir: slug(&m.name, tag, &task.info.name, b, t),
                            model: m.name.clone(),
                            quant: tag.clone(),
                            task: task.info.name.clone(),
                            batch_size: b,
                            threads: t,
                            items,
                            cost: items as f64 * bytes / 1e9,
                            shard: None,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Gives each run to one of `count` shards: the costliest first, each to the shard with
/// the least cost so far (the lowest index among equals), ties between runs broken by
/// directory name. The same runs and count always give the same assignment, whatever
/// their order; no shard gets more than the lightest one plus the costliest run.
pub fn assign_shards(runs: &mut [PlannedRun], count: usize) {
    let count = count.max(1);
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| {
        runs[b]
            .cost
            .total_cmp(&runs[a].cost)
            .then_with(|| runs[a].dir.cmp(&runs[b].dir))
    });
    let mut load = vec![0.0f64; count];
    for i in order {
        let k = (0..count)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .unwrap_or(0);
        load[k] += runs[i].cost;
        runs[i].shard = Some(k);
    }
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
    shard: Option<Shard>,
    stop: &AtomicBool,
    observer: &mut dyn RunObserver,
) -> Result<SweepOutcome> {
    manifest(plan, ctx)
        .write_or_check(out)
        .map_err(|e| match shard {
            Some(s) => Error::Input(format!(
                "shard {}/{}: {e} (every shard of one results tree must run the same plan)",
                s.index, s.count
            )),
            None => e.into(),
        })?;
    // The runs this invocation owns: all, or its shard's.
    let mut grid = planned_runs(plan, &ctx.settings);
    if let Some(s) = shard {
        assign_shards(&mut grid, s.count);
    }
    grid.retain(|r| shard.is_none_or(|s| r.shard == Some(s.index)));
    let mine: std::collections::BTreeSet<&str> = grid.iter().map(|r| r.dir.as_str()).collect();
    let wanted = |model: &str, tag: &str| grid.iter().any(|r| r.model == model && r.quant == tag);
    let vars = variants(
        plan,
        plan.threads.first().copied().flatten(),
        &wanted,
        observer,
    )?;
    let total = mine.len();
    let mut done = 0usize;
    let mut runs = Vec::new();
    for v in &vars {
        for &b in &plan.batch_sizes {
            for &t in &plan.threads {
                let name = &v.model.model.name;
                // This engine's tasks that are ours, each with its run directory.
                let points: Vec<(&Task, PathBuf)> = plan
                    .tasks
                    .iter()
                    .filter_map(|task| {
                        let d = slug(name, &v.tag, &task.info.name, b, t);
                        mine.contains(d.as_str()).then(|| (task, out.join(d)))
                    })
                    .collect();
                if points.is_empty() {
                    continue;
                }
                if points.iter().all(|(_, d)| is_finished(d)) {
                    done += points.len();
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
                for (task, dir) in &points {
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
    use super::{assign_shards, slug, PlannedRun, Shard};

    fn run(dir: &str, cost: f64) -> PlannedRun {
        PlannedRun {
            dir: dir.into(),
            model: "m".into(),
            quant: "orig".into(),
            task: "t".into(),
            batch_size: 1,
            threads: None,
            items: 1,
            cost,
            shard: None,
        }
    }

    #[test]
    fn shards_split_the_grid_once_the_same_way_whatever_the_order_and_balanced() {
        let costs = [9.0, 1.0, 4.0, 4.0, 7.0, 2.0, 3.0, 3.0, 8.0, 0.5, 6.0];
        let grid: Vec<PlannedRun> = costs
            .iter()
            .enumerate()
            .map(|(i, &c)| run(&format!("r{i:02}"), c))
            .collect();
        for n in 1..=5 {
            let mut a = grid.clone();
            assign_shards(&mut a, n);
            // Every run in exactly one shard, in range.
            assert!(a.iter().all(|r| r.shard.is_some_and(|k| k < n)));
            // The same assignment from the grid in another order.
            let mut b: Vec<PlannedRun> = grid.iter().rev().cloned().collect();
            assign_shards(&mut b, n);
            for r in &a {
                let other = b.iter().find(|x| x.dir == r.dir).unwrap();
                assert_eq!(r.shard, other.shard, "{} with {n} shards", r.dir);
            }
            // Balanced: no shard carries more than the lightest plus the costliest run.
            let load: Vec<f64> = (0..n)
                .map(|k| {
                    a.iter()
                        .filter(|r| r.shard == Some(k))
                        .map(|r| r.cost)
                        .sum()
                })
                .collect();
            let (lo, hi) = load
                .iter()
                .fold((f64::MAX, 0.0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            assert!(hi - lo <= 9.0, "{n} shards: {load:?}");
        }
        // Two shards of this grid: 47.5 in all, split 24 / 23.5.
        let mut two = grid.clone();
        assign_shards(&mut two, 2);
        let zero: f64 = two
            .iter()
            .filter(|r| r.shard == Some(0))
            .map(|r| r.cost)
            .sum();
        assert_eq!(zero, 24.0);
    }

    #[test]
    fn a_shard_is_k_of_n_with_k_below_n() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["3/3", "0/0", "-1/2", "1", "a/b"] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("K/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn slugs_name_every_axis_and_stay_plain() {
        assert_eq!(
            slug("smollm2-135m", "q4_0", "arc-easy", 8, None),
            "smollm2-135m-q4_0__arc-easy__b8__tall"
        );
        assert_eq!(slug("a/b", "orig", "t", 1, Some(2)), "a_b-orig__t__b1__t2");
    }
}
