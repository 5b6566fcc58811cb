//! `trilemma sweep --name NAME -m M --quant f16,q8_0 -t T --batch-size 1,4 --threads 1,2
//! [run flags]`: the product of the axes as runs, each its own resumable run directory
//! under `runs/NAME/` (or `--out`), named in a `sweep.json` manifest.
//!
//! Every `trilemma run` flag is accepted; `--model`, `--task`, `--batch-size` and
//! `--threads` take comma-separated lists here. `--plan` lists the grid without running
//! it; `--shard K/N` runs only shard K's runs of it (a cluster job array's task).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use trilemma_assets::Cache;
use trilemma_engine_gguf::quantize::QuantType;
use trilemma_runner::sweep::{assign_shards, planned_runs, run_sweep, Shard, SweepPlan};

use crate::output;
use crate::run_args::{self, RunArgs};

#[derive(Debug, Clone)]
pub struct SweepArgs {
    pub name: String,
    /// Quantization types to derive from each model (empty: the model file as it is).
    pub quant: Vec<String>,
    pub batch_sizes: Vec<usize>,
    /// Thread counts (empty: all cores).
    pub threads: Vec<u32>,
    /// List the runs (with each one's shard under --shard K/N) instead of running them.
    pub plan: bool,
    /// Run only this shard's runs.
    pub shard: Option<Shard>,
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
            plan: m.get_flag("sweep_plan"),
            shard: m.get_one::<Shard>("sweep_shard").copied(),
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
            .arg(
                Arg::new("sweep_plan")
                    .long("plan")
                    .action(ArgAction::SetTrue)
                    .help("List the sweep's runs (model, quantization, task, batch size, threads, items, cost estimate; each one's shard with --shard K/N) without running any"),
            )
            .arg(
                Arg::new("sweep_shard")
                    .long("shard")
                    .value_name("K/N")
                    .value_parser(|s: &str| s.parse::<Shard>())
                    .help("Run only shard K of N (0 <= K < N): the same plan and N always give the same runs to a shard, balanced by each run's cost estimate; shards write into one results tree and never the same run"),
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
    let r = &args.run;
    let meters = run_args::telemetry_config(r)?;
    let out = r
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&args.name));
    if r.engine.is_some() {
        anyhow::bail!("--engine: a sweep runs the embedded engine (its axes are quantizations, batch sizes and threads of a local model)");
    }
    run_args::preflight(r, &out)?;
    let tasks = run_args::tasks(r)?;
    let models = r
        .models
        .iter()
        .map(|m| trilemma_runner::open::resolve(m, r.offline))
        .collect::<Result<_, _>>()?;
    let plan = SweepPlan {
        name: args.name.clone(),
        models,
        quant,
        tasks,
        batch_sizes: args.batch_sizes.clone(),
        threads: if args.threads.is_empty() {
            vec![None]
        } else {
            args.threads.iter().map(|t| Some(*t)).collect()
        },
        n_ctx: r.n_ctx,
        gpu_layers: r.gpu_layers,
        num_fewshot: r.num_fewshot,
        derived_dir: Cache::from_env().root().join("models").join("derived"),
    };
    if args.plan {
        // Nothing is measured or loaded for a plan.
        let settings = run_args::run_settings(r, r.batch_size);
        return print_plan(&plan, &settings, args.shard, r.json);
    }
    let ctx = run_args::eval_context(r, r.batch_size, meters, false);
    let stop = run_args::stop_on_ctrl_c()?;
    let done = run_sweep(&plan, &out, &ctx, args.shard, &stop, &mut output::Observer)?;
    if r.json {
        let list: Vec<_> = done.runs.iter().map(|r| &r.summary).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        output::print_run_table(&done.runs);
        eprintln!("sweep {}: {}", args.name, out.display());
        eprintln!(
            "compare and chart it: trilemma report {} -o {}",
            out.display(),
            out.join("report.html").display()
        );
    }
    Ok(if done.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--plan`: the grid, each run's shard where one is asked for, and each shard's load.
fn print_plan(
    plan: &SweepPlan,
    settings: &trilemma_runner::RunSettings,
    shard: Option<Shard>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut runs = planned_runs(plan, settings);
    if let Some(s) = shard {
        assign_shards(&mut runs, s.count);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<48} {:>5} {:>7} {:>10} {:>5}",
        "run", "batch", "items", "cost (est)", "shard"
    );
    for r in &runs {
        println!(
            "{:<48} {:>5} {:>7} {:>10.2} {:>5}",
            r.dir,
            r.batch_size,
            r.items,
            r.cost,
            r.shard.map_or("-".into(), |k| k.to_string())
        );
    }
    println!(
        "{} runs; cost is an estimate (items x model GB, a derived variant's size from its bits per weight), used only to balance shards",
        runs.len()
    );
    if let Some(s) = shard {
        for k in 0..s.count {
            let (n, cost) = runs
                .iter()
                .filter(|r| r.shard == Some(k))
                .fold((0, 0.0), |(n, c), r| (n + 1, c + r.cost));
            println!("shard {k}/{}: {n} runs, cost {cost:.2}", s.count);
        }
    }
    Ok(ExitCode::SUCCESS)
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
        assert!(!w.s.plan && w.s.shard.is_none());
        let w =
            W::try_parse_from(["x", "--name", "s", "-m", "a", "--plan", "--shard", "1/4"]).unwrap();
        assert!(w.s.plan);
        assert_eq!(w.s.shard, Some(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "1", "a/2", "0/0"] {
            assert!(
                W::try_parse_from(["x", "--name", "s", "-m", "a", "--shard", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(
            W::try_parse_from(["x", "-m", "a"]).is_err(),
            "--name is required"
        );
    }
}
