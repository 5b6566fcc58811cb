//! `trilemma sweep --name NAME -m M --quant f16,q8_0 -t T --batch-size 1,4 --threads 1,2
//! [run flags]`: the product of the axes as runs, each its own resumable run directory
//! under `runs/NAME/` (or `--out`), named in a `sweep.json` manifest.
//!
//! Every `trilemma run` flag is accepted; `--model`, `--task`, `--batch-size` and
//! `--threads` take comma-separated lists here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use serde_json::json;
use trilemma_assets::{Cache, Catalog, ResolvedModel};
use trilemma_core::RunSummary;
use trilemma_engine_gguf::quantize::{self, QuantType};
use trilemma_telemetry::HostInfo;

use crate::cmd_run::{self, RunArgs, RunContext};
use crate::output;

#[derive(Debug, Clone)]
pub struct SweepArgs {
    pub name: String,
    /// Quantization types to derive from each model (empty: the model file as it is).
    pub quant: Vec<String>,
    pub batch_sizes: Vec<usize>,
    /// Thread counts (empty: all cores).
    pub threads: Vec<u32>,
    /// The `trilemma run` flags (its `batch_size` and `threads` are set per run).
    pub run: RunArgs,
}

impl FromArgMatches for SweepArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let run = RunArgs::from_arg_matches(m)?;
        Ok(Self {
            name: m
                .get_one::<String>("sweep_name")
                .cloned()
                .unwrap_or_default(),
            quant: m
                .get_many::<String>("sweep_quant")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
            batch_sizes: m
                .get_many::<usize>("batch_size")
                .map(|v| v.copied().collect())
                .unwrap_or_else(|| vec![run.batch_size]),
            threads: m
                .get_many::<u32>("threads")
                .map(|v| v.copied().collect())
                .unwrap_or_default(),
            run,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for SweepArgs {
    fn augment_args(cmd: Command) -> Command {
        RunArgs::augment_args(cmd)
            .arg(
                Arg::new("sweep_name")
                    .long("name")
                    .required(true)
                    .help("Name of the sweep: its runs go under runs/NAME/ (or --out)"),
            )
            .arg(
                Arg::new("sweep_quant")
                    .long("quant")
                    .value_delimiter(',')
                    .help("Quantization types derived from each model with llama.cpp's quantizer (f16,q8_0,q4_k_m,q4_0,...); default: the file as it is"),
            )
            .mut_arg("batch_size", |a| {
                a.value_delimiter(',')
                    .action(ArgAction::Append)
                    .help("Batch sizes, comma-separated")
            })
            .mut_arg("threads", |a| {
                a.value_delimiter(',')
                    .action(ArgAction::Append)
                    .help("CPU thread counts, comma-separated (default: all cores)")
            })
            .mut_arg("models", |a| a.value_delimiter(','))
            .mut_arg("tasks", |a| a.value_delimiter(','))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// One model file of the sweep: the source as it is, or a derived variant.
struct Variant {
    model: ResolvedModel,
    /// Slug part: `q4_0`, or `orig` for the source as it is.
    tag: String,
    derived: Option<serde_json::Value>,
}

fn variants(
    models: &[ResolvedModel],
    quant: &[QuantType],
    cache: &Cache,
    threads: Option<u32>,
) -> anyhow::Result<Vec<Variant>> {
    let mut out = Vec::new();
    for m in models {
        if quant.is_empty() {
            out.push(Variant {
                model: m.clone(),
                tag: "orig".into(),
                derived: None,
            });
            continue;
        }
        let src_type = quantize::file_type(&m.path);
        for q in quant {
            if src_type == Some(q.ftype) {
                // Already of this type: the file itself, not a re-quantized copy.
                out.push(Variant {
                    model: m.clone(),
                    tag: q.name.to_string(),
                    derived: None,
                });
                continue;
            }
            eprintln!(
                "{}: deriving {} (cached after the first time)",
                m.name,
                q.label()
            );
            let d = quantize::derive(
                &m.path,
                &m.sha256,
                *q,
                &cache.root().join("models").join("derived"),
                threads,
            )
            .with_context(|| format!("deriving {} from {}", q.label(), m.name))?;
            if d.info.source_is_quantized {
                eprintln!(
                    "note: {} {} is derived from a {} file: it cannot be more precise than {}",
                    m.name,
                    q.label(),
                    d.info.source_precision,
                    d.info.source_precision
                );
            }
            out.push(Variant {
                model: ResolvedModel {
                    name: m.name.clone(),
                    path: d.path.clone(),
                    sha256: d.info.sha256.clone(),
                    origin: format!(
                        "derived {} from {} ({}, {})",
                        d.info.target, m.name, d.info.source_precision, m.origin
                    ),
                },
                tag: q.name.to_string(),
                derived: Some(serde_json::to_value(&d.info)?),
            });
        }
    }
    Ok(out)
}

fn slug(model: &str, tag: &str, task: &str, batch: usize, threads: Option<u32>) -> String {
    let t = threads.map_or_else(|| "all".to_string(), |t| t.to_string());
    let s = format!("{model}-{tag}__{task}__b{batch}__t{t}");
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn finished(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<RunSummary>(&t).ok())
        .is_some_and(|s| !s.partial)
}

/// Writes `sweep.json`, or checks that an existing one names the same axes and flags.
fn write_manifest(dir: &Path, manifest: &serde_json::Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("sweep.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let old: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a sweep manifest", path.display()))?;
        for field in ["name", "axes", "run_flags"] {
            if old.get(field) != manifest.get(field) {
                anyhow::bail!(
                    "{}: this sweep was started with different {field} ({} then, {} now); \
                     resume it with the same flags or choose another --name/--out",
                    path.display(),
                    old.get(field).unwrap_or(&serde_json::Value::Null),
                    manifest.get(field).unwrap_or(&serde_json::Value::Null)
                );
            }
        }
        return Ok(());
    }
    let tmp = dir.join(".sweep.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(manifest)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn run(args: &SweepArgs) -> anyhow::Result<ExitCode> {
    if args.name.is_empty() || args.name.contains(['/', '\\']) || args.name.starts_with('.') {
        anyhow::bail!("--name {:?}: must be a plain directory name", args.name);
    }
    let quant: Vec<QuantType> = args
        .quant
        .iter()
        .map(|q| QuantType::parse(q))
        .collect::<Result<_, _>>()?;
    if args.batch_sizes.contains(&0) {
        anyhow::bail!("--batch-size: 0 is not a batch size");
    }
    let catalog = Catalog::builtin();
    let cache = Cache::from_env();
    let meters = cmd_run::telemetry_config(&args.run)?;
    let tasks = cmd_run::load_tasks(&args.run, &cache, &catalog)?;
    let models: Vec<ResolvedModel> = args
        .run
        .models
        .iter()
        .map(|m| cache.resolve_model(&catalog, m, !args.run.offline))
        .collect::<Result<_, _>>()?;
    let out = args
        .run
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&args.name));
    let threads: Vec<Option<u32>> = if args.threads.is_empty() {
        vec![None]
    } else {
        args.threads.iter().map(|t| Some(*t)).collect()
    };
    let r = &args.run;
    let manifest = json!({
        "name": args.name,
        "axes": {
            "models": models.iter().map(|m| json!({"name": m.name, "sha256": m.sha256})).collect::<Vec<_>>(),
            "quant": quant.iter().map(|q| q.name).collect::<Vec<_>>(),
            "tasks": tasks.iter().map(|t| t.info.name.clone()).collect::<Vec<_>>(),
            "batch_sizes": args.batch_sizes,
            "threads": threads,
        },
        "run_flags": {
            "limit": r.limit, "n_ctx": r.n_ctx, "repeats": r.repeats, "warmup": r.warmup,
            "seed": r.seed, "num_fewshot": r.num_fewshot,
        },
        "created_at": chrono::Utc::now().to_rfc3339(),
        "command": std::env::args().collect::<Vec<_>>(),
    });
    write_manifest(&out, &manifest)?;
    let vars = variants(&models, &quant, &cache, args.threads.first().copied())?;

    let stop = cmd_run::stop_on_ctrl_c()?;
    let idle = cmd_run::idle_baseline(r, &meters);
    let host = HostInfo::detect();
    let total = vars.len() * tasks.len() * args.batch_sizes.len() * threads.len();
    let mut done = 0usize;
    let mut summaries: Vec<(RunSummary, PathBuf)> = Vec::new();
    let mut interrupted = false;
    'all: for v in &vars {
        for &b in &args.batch_sizes {
            for &t in &threads {
                let dirs: Vec<PathBuf> = tasks
                    .iter()
                    .map(|task| out.join(slug(&v.model.name, &v.tag, &task.info.name, b, t)))
                    .collect();
                if dirs.iter().all(|d| finished(d)) {
                    done += dirs.len();
                    eprintln!(
                        "[{done}/{total}] {} {} b{b}: finished earlier, skipped",
                        v.model.name, v.tag
                    );
                    continue;
                }
                let settings = cmd_run::run_settings(r, b);
                let ctx = RunContext {
                    settings: &settings,
                    meters: &meters,
                    idle: idle.as_ref(),
                    host: &host,
                    stop: &stop,
                    remote: false,
                };
                let mut engine = cmd_run::open_embedded(&v.model, t, r.n_ctx, b)?;
                for (task, dir) in tasks.iter().zip(&dirs) {
                    done += 1;
                    if finished(dir) {
                        continue;
                    }
                    eprintln!("[{done}/{total}] {}", dir.display());
                    let (summary, stopped) = cmd_run::run_one(
                        &mut engine,
                        &v.model,
                        task,
                        dir,
                        &ctx,
                        v.derived.as_ref(),
                    )?;
                    summaries.push((summary, dir.clone()));
                    if stopped {
                        interrupted = true;
                        break 'all;
                    }
                }
            }
        }
    }
    if r.json {
        let list: Vec<&RunSummary> = summaries.iter().map(|(s, _)| s).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        output::print_run_table(&summaries);
        eprintln!("sweep {}: {}", args.name, out.display());
        eprintln!(
            "compare and chart it: trilemma report {} -o {}",
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct W {
        #[command(flatten)]
        s: SweepArgs,
    }

    #[test]
    fn lists_parse_and_run_flags_pass_through() {
        let w = W::try_parse_from([
            "x",
            "--name",
            "s1",
            "-m",
            "a,b",
            "--quant",
            "f16,q4_0",
            "-t",
            "arc-easy",
            "--batch-size",
            "1,4,8",
            "--threads",
            "1,2",
            "--limit",
            "4",
        ])
        .unwrap();
        assert_eq!(w.s.name, "s1");
        assert_eq!(w.s.run.models, ["a", "b"]);
        assert_eq!(w.s.quant, ["f16", "q4_0"]);
        assert_eq!(w.s.batch_sizes, [1, 4, 8]);
        assert_eq!(w.s.threads, [1, 2]);
        assert_eq!(w.s.run.limit, Some(4));
        assert!(
            W::try_parse_from(["x", "-m", "a"]).is_err(),
            "--name is required"
        );
        assert_eq!(
            slug("smollm2-135m", "q4_0", "arc-easy", 8, None),
            "smollm2-135m-q4_0__arc-easy__b8__tall"
        );
    }
}
