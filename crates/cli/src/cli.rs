//! Command-line definition and dispatch.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd_sweep;
use crate::{
    cmd_analyze, cmd_assets, cmd_bench, cmd_compare, cmd_judge, cmd_load, cmd_report, cmd_run,
    cmd_score, cmd_serve,
};

/// Measure small language models on correctness, speed and energy together.
#[derive(Debug, Parser)]
#[command(name = "trilemma", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v: info, -vv: debug, including llama.cpp's own log).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate models on tasks: accuracy, latency, throughput, memory and energy in one run.
    Run(crate::run_args::RunArgs),
    /// Sweep models x quantizations x tasks x batch sizes x threads into named, resumable runs.
    Sweep(cmd_sweep::SweepArgs),
    /// Fetch, verify and list pinned models and data sets.
    #[command(subcommand)]
    Assets(cmd_assets::AssetsCommand),
    /// Score predictions against references with a metric (parity with its reference package).
    Score(cmd_score::ScoreArgs),
    /// PER, OM and Pareto membership of a table of configurations (CSV).
    #[command(subcommand)]
    Analyze(cmd_analyze::AnalyzeCommand),
    /// A report (HTML, JSON, CSV or Markdown) over run directories or sweeps.
    Report(cmd_report::ReportArgs),
    /// Serve a model over an OpenAI-compatible HTTP API (continuous batching).
    Serve(cmd_serve::ServeArgs),
    /// Load-test an OpenAI-compatible endpoint (closed loop, constant or Poisson rates).
    Load(cmd_load::LoadArgs),
    /// Compare two runs item by item (paired bootstrap), or a run against lm-eval's samples.
    Compare(cmd_compare::CompareArgs),
    /// Score a run's responses with a judge model on a rubric (LLM as a judge).
    Judge(cmd_judge::JudgeArgs),
    /// Benchmarks of Trilemma itself against peers.
    #[command(subcommand)]
    Bench(cmd_bench::BenchCommand),
    /// SLM-first cascades: calibrate thresholds from recorded runs, compare calibrations.
    #[command(subcommand)]
    Cascade(crate::cmd_cascade::CascadeCommand),
}

pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn,llama_cpp_2=off",
        1 => "info,llama_cpp_2=warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => cmd_run::run(&args),
        Command::Sweep(args) => cmd_sweep::run(&args),
        Command::Assets(cmd) => cmd_assets::run(&cmd).map(|()| ExitCode::SUCCESS),
        Command::Bench(cmd) => cmd_bench::run(&cmd).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => cmd_serve::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Load(args) => cmd_load::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Score(args) => cmd_score::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Analyze(cmd) => cmd_analyze::run(&cmd).map(|()| ExitCode::SUCCESS),
        Command::Compare(args) => cmd_compare::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Cascade(cmd) => crate::cmd_cascade::run(&cmd).map(|()| ExitCode::SUCCESS),
        Command::Judge(args) => cmd_judge::run(&args, |s| {
            Ok(trilemma_runner::open::open_spec(
                s,
                &trilemma_runner::EngineOpts::default(),
            )?)
        })
        .map(|()| ExitCode::SUCCESS),
        Command::Report(args) => cmd_report::run(&args).map(|()| ExitCode::SUCCESS),
    }
}
